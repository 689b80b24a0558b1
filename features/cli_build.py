"""CLI commands of the model engine: build, ls, dag, compile, test, lineage.

Thin: each parses its arguments and calls a library function (features.build, features.models.*).
Imports are lazy so a no-op `fstore build` stays fast; none of these imports torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _project(args: argparse.Namespace) -> Any:
    from features.config import load_project

    return load_project(args.project)


def _db(args: argparse.Namespace, project: Any) -> Path:
    return Path(args.db).resolve() if getattr(args, "db", None) else project.warehouse_path


def _dag(project: Any, db: Path | None) -> Any:
    """Discover and validate the project's models (against the warehouse's relations when it exists)."""
    from features.models.dag import build_dag
    from features.models.discovery import discover
    from features.models.validate import validate

    found = discover(project)
    if db is None or not db.exists():
        if found.problems:
            from features.errors import ValidationErrors

            raise found.problems[0] if len(found.problems) == 1 else ValidationErrors(found.problems)
        return build_dag(found.models)
    from features.errors import WarehouseLockedError
    from features.models.state import relations
    from features.warehouse import connect

    try:
        con = connect(db, read_only=True)
    except WarehouseLockedError:  # a build is writing: check everything but the source names
        return validate(found, {r.name for m in found.models.values() for r in m.refs})
    try:
        return validate(found, relations(con))
    finally:
        con.close()


def _cmd_build(args: argparse.Namespace) -> int:
    from features.build import run_build

    project = _project(args)
    run_build(
        project,
        db=_db(args, project),
        select=tuple(args.select or ()),
        full_refresh=args.full_refresh,
        quiet=args.quiet,
        run_tests=not args.no_tests,
        engine=getattr(args, "engine", "duckdb"),
        spark_master=getattr(args, "spark_master", None),
    )
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    project = _project(args)
    dag = _dag(project, _db(args, project))
    rows = []
    for name in dag.order:
        m = dag.models[name]
        ups = ", ".join([*dag.upstream[name], *dag.sources[name]])
        window = ""
        if m.materialized == "incremental":
            back = "all" if m.lookback is None else str(m.lookback)
            ahead = m.ahead_from or ("all" if m.ahead is None else str(m.ahead))
            window = f"back {back}, ahead {ahead}"
        rows.append((name, m.kind, m.materialized, ",".join(m.header.tags), window, ups))
    widths = [
        max(len(r[i]) for r in [("model", "kind", "materialized", "tags", "window", ""), *rows])
        for i in range(5)
    ]
    header = ("model", "kind", "materialized", "tags", "window", "upstream")
    for row in [header, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row[:5], widths, strict=True)) + "  " + row[5])
    return 0


def _cmd_dag(args: argparse.Namespace) -> int:
    from features.models.dag import to_dot, to_text

    project = _project(args)
    dag = _dag(project, _db(args, project))
    sys.stdout.write(to_dot(dag) if args.format == "dot" else to_text(dag))
    return 0


def _cmd_compile(args: argparse.Namespace) -> int:
    from features.errors import ConfigError
    from features.models.compile import compile_sql
    from features.models.dag import did_you_mean

    project = _project(args)
    dag = _dag(project, None)
    model = dag.models.get(args.name)
    if model is None:
        raise ConfigError(f"no model named `{args.name}`{did_you_mean(args.name, dag.models)}")
    if args.dialect == "spark" and model.kind == "sql":
        from features.engines.transpile import compile_for_spark

        sys.stdout.write(compile_for_spark(model, _warehouse_columns(project.warehouse_path)))
        return 0
    sys.stdout.write(compile_sql(model, args.dialect))
    return 0


def _warehouse_columns(db: Path) -> Callable[[str], list[str] | None] | None:
    """Relation -> its columns in the warehouse (to expand ``* EXCLUDE`` for Spark); None without one."""
    if not db.exists():
        return None
    from features.errors import WarehouseError
    from features.warehouse import connect

    try:
        con = connect(db, read_only=True)
    except WarehouseError:
        return None
    try:
        rows = con.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = current_schema() "
            "order by table_name, column_index"
        ).fetchall()
    finally:
        con.close()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found.get


def _cmd_test(args: argparse.Namespace) -> int:
    from features.models.progress import reporter
    from features.models.runner import run_tests
    from features.warehouse import connect

    project = _project(args)
    db = _db(args, project)
    dag = _dag(project, db)
    con = connect(db)
    try:
        from rich.console import Console

        console = Console(highlight=False)
        result = run_tests(con, project, dag, select=tuple(args.select or ()), report=reporter(console))
    finally:
        con.close()
    print(f"{len(result.tests)} test(s) passed")
    return 0


def _cmd_lineage(args: argparse.Namespace) -> int:
    from features.models.lineage import column_lineage, format_lineage
    from features.warehouse import connect

    project = _project(args)
    db = _db(args, project)
    dag = _dag(project, db)
    con = connect(db, read_only=True) if db.exists() else None
    try:
        tree = column_lineage(dag, args.target, con)
    finally:
        if con is not None:
            con.close()
    sys.stdout.write(format_lineage(tree))
    return 0


def register(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    """Add this module's subcommands to the ``fstore`` parser."""
    p = sub.add_parser("build", help="build models (only what changed) and run their data tests")
    p.add_argument(
        "--select",
        "-s",
        action="append",
        metavar="SPEC",
        help="name, +name (with ancestors), name+ (with descendants), tag:x; repeatable",
    )
    p.add_argument("--full-refresh", action="store_true", help="rebuild selected models from scratch")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output (errors still printed)")
    p.add_argument("--no-tests", action="store_true", help="skip data tests")
    p.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb",
        help="where models run: DuckDB (default) or Spark (SQL transpiled by sqlglot; needs .[spark])",
    )
    p.add_argument(
        "--spark-master",
        metavar="URL",
        help="Spark master for --engine spark, e.g. spark://host:7077 (default local[2])",
    )
    add_common(p)
    p.set_defaults(handler=_cmd_build)

    p = sub.add_parser("ls", help="list models with kind, materialization and upstreams")
    add_common(p)
    p.set_defaults(handler=_cmd_ls)

    p = sub.add_parser("dag", help="print the model graph")
    p.add_argument("--format", choices=["text", "dot"], default="text")
    add_common(p)
    p.set_defaults(handler=_cmd_dag)

    from features.models.compile import DIALECTS

    p = sub.add_parser("compile", help="print a model's SQL as it runs, or transpiled for another engine")
    p.add_argument("name", help="model name")
    p.add_argument("--dialect", default="duckdb", choices=DIALECTS)
    add_common(p, db=False)
    p.set_defaults(handler=_cmd_compile)

    p = sub.add_parser("test", help="run data tests of built models")
    p.add_argument("--select", "-s", action="append", metavar="SPEC", help="as for build; repeatable")
    add_common(p)
    p.set_defaults(handler=_cmd_test)

    p = sub.add_parser("lineage", help="column lineage: MODEL.COLUMN back to source columns")
    p.add_argument("target", metavar="MODEL.COLUMN")
    add_common(p)
    p.set_defaults(handler=_cmd_lineage)

    # ---- ingest (owned by ingestion, features/ingest.py) -------------------------------------------
    p = sub.add_parser("ingest", help="check price files (CSV/Parquet) and copy them into data/raw")
    p.add_argument("paths", nargs="+", metavar="PATH", help="price files or folders of them")
    p.add_argument("--force", action="store_true", help="replace a different file of the same name")
    p.add_argument("--build", action="store_true", help="run `fstore build` afterwards")
    add_common(p)
    p.set_defaults(handler=_cmd_ingest)


def _cmd_ingest(args: argparse.Namespace) -> int:
    """Validate and copy price files into data/raw (the build ingests them); optionally build."""
    from features.ingest import import_files

    project = _project(args)
    copied, preview = import_files(project, args.paths, force=args.force)
    raw_dir = project.path(project.paths.raw)
    print(
        f"copied {len(copied)} file(s) to {raw_dir}: {preview.rows:,} valid rows, {preview.symbols} symbol(s)"
    )
    if preview.rejected:
        detail = ", ".join(f"{n:,} {reason}" for reason, n in preview.rejected.items())
        print(f"  {preview.rejected_total:,} row(s) will go to raw_prices_rejected: {detail}")
    if args.build:
        args.select, args.full_refresh, args.quiet, args.no_tests = None, False, False, False
        return _cmd_build(args)
    print("run `fstore build` to refresh raw_prices and every model")
    return 0
