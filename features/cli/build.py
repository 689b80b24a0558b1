"""The model commands: ``fstore build``, ``ls``, ``dag``, ``compile``, ``test``, ``lineage``.

Each calls a library function (``features.build``, ``features.models.*``); imports are lazy so a no-op
``fstore build`` stays fast, and none of these imports torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from features.cli.common import Command, arg, console, load, warehouse_path
from features.engines import ENGINES
from features.models.compile import DIALECTS

if TYPE_CHECKING:
    from features.config import Project
    from features.models.dag import Dag

DAG_FORMATS = ("text", "dot")


def project_dag(project: Project, db: Path | None) -> Dag:
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
    with con:
        return validate(found, relations(con))


def cmd_build(args: argparse.Namespace) -> int:
    from features.build import run_build

    project = load(args)
    run_build(
        project,
        db=warehouse_path(args, project),
        select=tuple(args.select or ()),
        exclude=tuple(getattr(args, "exclude", None) or ()),
        full_refresh=args.full_refresh,
        quiet=args.quiet,
        run_tests=not args.no_tests,
        engine=getattr(args, "engine", "duckdb"),
        spark_master=getattr(args, "spark_master", None),
    )
    return 0


def _model_row(dag: Dag, name: str) -> tuple[str, ...]:
    """One line of ``fstore ls``: model, kind, materialized, tags, window, upstream."""
    m = dag.models[name]
    window = ""
    if m.materialized == "incremental":
        back = "all" if m.lookback is None else str(m.lookback)
        ahead = m.ahead_from or ("all" if m.ahead is None else str(m.ahead))
        window = f"back {back}, ahead {ahead}"
    upstream = ", ".join([*dag.upstream[name], *dag.sources[name]])
    return (name, m.kind, m.materialized, ",".join(m.header.tags), window, upstream)


def cmd_ls(args: argparse.Namespace) -> int:
    from features.models.dag import select

    project = load(args)
    dag = project_dag(project, warehouse_path(args, project))
    header = ("model", "kind", "materialized", "tags", "window", "upstream")
    names = select(dag, args.select or (), args.exclude or ())
    rows = [_model_row(dag, name) for name in names]
    widths = [max(len(r[i]) for r in [(*header[:5], ""), *rows]) for i in range(5)]
    for row in [header, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row[:5], widths, strict=True)) + "  " + row[5])
    return 0


def cmd_dag(args: argparse.Namespace) -> int:
    from features.models.dag import to_dot, to_text

    project = load(args)
    dag = project_dag(project, warehouse_path(args, project))
    sys.stdout.write(to_dot(dag) if args.format == "dot" else to_text(dag))
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from features.errors import ConfigError
    from features.models.compile import compile_sql
    from features.models.dag import did_you_mean

    project = load(args)
    dag = project_dag(project, None)
    model = dag.models.get(args.name)
    if model is None:
        raise ConfigError(f"no model named `{args.name}`{did_you_mean(args.name, dag.models)}")
    if args.dialect == "spark" and model.kind == "sql":  # a dialect, not an engine: sqlglot plus `* EXCLUDE`
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
    with con:
        rows = con.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = current_schema() "
            "order by table_name, column_index"
        ).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found.get


def cmd_test(args: argparse.Namespace) -> int:
    from features.artifacts import write_manifest, write_run_results
    from features.errors import DataTestError
    from features.models.dag import select
    from features.models.progress import reporter
    from features.models.runner import refuse_unbuilt, run_tests
    from features.warehouse import connect

    project = load(args)
    db = warehouse_path(args, project)
    dag = project_dag(project, db)
    specs, exclude = tuple(args.select or ()), tuple(args.exclude or ())
    if not db.exists():  # refused here, before connecting would create an empty warehouse
        refuse_unbuilt(dag, select(dag, specs, exclude), (), where=f" (no warehouse at {db})")
        print("0 test(s) passed (no selected model has data tests)")
        return 0
    with connect(db) as con:
        try:
            result = run_tests(con, project, dag, select=specs, exclude=exclude, report=reporter(console()))
        except DataTestError as err:  # the results are worth keeping for CI, failures included
            write_run_results(project, err.result, command="test")  # type: ignore[attr-defined]
            raise
        write_manifest(project, dag, con)
    write_run_results(project, result, command="test")
    print(f"{len(result.tests)} test(s) passed")
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    from features.models.lineage import column_lineage, format_lineage
    from features.warehouse import connect

    project = load(args)
    db = warehouse_path(args, project)
    dag = project_dag(project, db)
    con = connect(db, read_only=True) if db.exists() else None
    try:
        tree = column_lineage(dag, args.target, con)
    finally:
        if con is not None:
            con.close()
    sys.stdout.write(format_lineage(tree))
    return 0


SELECTION_ARGS = (
    arg(
        "--select",
        "-s",
        nargs="+",
        action="extend",
        metavar="SPEC",
        help="models to take: name, tag:x, path:sql/marts; +x (with ancestors), x+ (descendants), "
        "2+x / x+1 (that many levels), @x; a,b = both; several values or flags = any (docs/models.md)",
    ),
    arg(
        "--exclude",
        nargs="+",
        action="extend",
        metavar="SPEC",
        help="models to leave out of the selection (same syntax as --select)",
    ),
)

BUILD = Command(
    "build",
    "build models (only what changed) and run their data tests",
    cmd_build,
    args=(
        *SELECTION_ARGS,
        arg("--full-refresh", action="store_true", help="rebuild selected models from scratch"),
        arg("--quiet", "-q", action="store_true", help="no progress output (errors still printed)"),
        arg("--no-tests", action="store_true", help="skip data tests"),
        arg(
            "--engine",
            choices=sorted(ENGINES),
            default="duckdb",
            help="where models run: DuckDB (default) or Spark (SQL transpiled by sqlglot; needs .[spark])",
        ),
        arg(
            "--spark-master",
            metavar="URL",
            help="Spark master for --engine spark, e.g. spark://host:7077 (default local[2])",
        ),
    ),
)
LS = Command("ls", "list models with kind, materialization and upstreams", cmd_ls, args=SELECTION_ARGS)
DAG = Command(
    "dag", "print the model graph", cmd_dag, args=(arg("--format", choices=DAG_FORMATS, default="text"),)
)
COMPILE = Command(
    "compile",
    "print a model's SQL as it runs, or transpiled for another engine",
    cmd_compile,
    args=(arg("name", help="model name"), arg("--dialect", default="duckdb", choices=DIALECTS)),
    db=False,
)
TEST = Command(
    "test",
    "run data tests of built models",
    cmd_test,
    args=SELECTION_ARGS,
)
LINEAGE = Command(
    "lineage",
    "column lineage: MODEL.COLUMN back to source columns",
    cmd_lineage,
    args=(arg("target", metavar="MODEL.COLUMN"),),
)

__all__ = [
    "BUILD",
    "COMPILE",
    "DAG",
    "DAG_FORMATS",
    "LINEAGE",
    "LS",
    "SELECTION_ARGS",
    "TEST",
    "cmd_build",
    "cmd_compile",
    "cmd_dag",
    "cmd_lineage",
    "cmd_ls",
    "cmd_test",
    "project_dag",
]
