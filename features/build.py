"""`fstore build` / `make build`: the whole pipeline as a tuple of small named steps.

    open_warehouse → ensure_dimension → refresh_feature_params → refresh_raw_prices → discover_models
    → validate_models → build_models (on the chosen engine: plan, materialize in topological order,
    data tests, build log) → write_artifacts

Each step takes the :class:`BuildContext` and fills in what later steps need; a reader finds each
stage of the build by its name in :data:`STEPS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from features.config import Project
    from features.engines.base import Engine
    from features.models.dag import Dag
    from features.models.discovery import Discovery
    from features.models.runner import BuildResult


@dataclass
class BuildContext:
    """What the steps share: the request, the open warehouse and what each step produced."""

    project: Project
    db: Path
    select: Sequence[str] = ()
    exclude: Sequence[str] = ()
    full_refresh: bool = False
    quiet: bool = False
    run_tests: bool = True
    engine: str = "duckdb"  # a name in features.engines.ENGINES
    spark_master: str | None = None  # where the engine runs (a Spark master URL); None: its default
    console: Any = None
    con: duckdb.DuckDBPyConnection | None = None
    discovery: Discovery | None = None
    dag: Dag | None = None
    result: BuildResult | None = None
    engine_instance: Engine | None = None  # the engine the models were built on
    notes: list[str] = field(default_factory=list)


def open_warehouse(ctx: BuildContext) -> None:
    from features.warehouse import connect

    ctx.con = connect(ctx.db)
    if ctx.project.build.memory_limit:
        set_memory_limit(ctx.con, ctx.project.build.memory_limit)


def set_memory_limit(con: duckdb.DuckDBPyConnection, value: str) -> None:
    """``SET memory_limit``: DuckDB spills to disk beyond it. The value is checked against a strict
    size format first (a clear error for a typo), then bound as a parameter."""
    import re

    from features.config import MEMORY_LIMIT_FORMAT
    from features.errors import ConfigError

    if not re.fullmatch(MEMORY_LIMIT_FORMAT, value):
        raise ConfigError(f'[build] memory_limit must be a size like "4GB", got {value!r}')
    con.execute("set memory_limit = ?", [value])


def ensure_dimension(ctx: BuildContext) -> None:
    from features.dimension import ensure_dimension as ensure

    ensure(ctx.con, ctx.project, console=ctx.console)


def refresh_feature_params(ctx: BuildContext) -> None:
    from features.params import refresh_feature_params as refresh

    refresh(ctx.con, ctx.project)


def refresh_raw_prices(ctx: BuildContext) -> None:
    from features.ingest import refresh_raw_prices as refresh

    refresh(ctx.con, ctx.project, ctx.console)


def discover_models(ctx: BuildContext) -> None:
    from features.models.discovery import discover

    ctx.discovery = discover(ctx.project)


def validate_models(ctx: BuildContext) -> None:
    from features.models.state import relations
    from features.models.validate import validate

    assert ctx.discovery is not None and ctx.con is not None
    ctx.dag = validate(ctx.discovery, relations(ctx.con))


def build_models(ctx: BuildContext) -> None:
    from features.engines import engine_class
    from features.models.progress import reporter
    from features.models.runner import build_models as build

    assert ctx.con is not None and ctx.dag is not None
    ctx.engine_instance = engine_class(ctx.engine)(ctx.con, ctx.project, master=ctx.spark_master)
    ctx.result = build(
        ctx.con,
        ctx.project,
        ctx.dag,
        select=ctx.select,
        exclude=ctx.exclude,
        full_refresh=ctx.full_refresh,
        run_tests=ctx.run_tests,
        report=None if ctx.quiet else reporter(ctx.console),
        raise_on_failure=False,
        engine=ctx.engine_instance,
    )


def write_artifacts(ctx: BuildContext) -> None:
    """``target/manifest.json`` and ``target/run_results.json`` after every build, failed ones too
    (see docs/artifacts.md); column lineage as JSON when something was built into the warehouse."""
    assert ctx.result is not None and ctx.dag is not None and ctx.con is not None
    from features.artifacts import write_manifest, write_run_results

    in_warehouse = ctx.engine_instance is not None and ctx.engine_instance.in_warehouse
    write_manifest(ctx.project, ctx.dag, ctx.con if in_warehouse else None)
    write_run_results(ctx.project, ctx.result, command="build")
    if not ctx.result.built or not in_warehouse:
        return
    from features.models.lineage import write_lineage_artifact

    write_lineage_artifact(ctx.con, ctx.project, ctx.dag)


STEPS: tuple[Callable[[BuildContext], None], ...] = (
    open_warehouse,
    ensure_dimension,
    refresh_feature_params,
    refresh_raw_prices,
    discover_models,
    validate_models,
    build_models,
    write_artifacts,
)


def _console(quiet: bool) -> Any:
    if quiet:
        return None
    from rich.console import Console

    return Console(highlight=False)


def run_build(
    project: Project,
    *,
    db: str | Path | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    full_refresh: bool = False,
    quiet: bool = False,
    run_tests: bool = True,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> BuildResult:
    """Run every step; raise BuildError / DataTestError (with ``.result``) when models or tests fail.

    ``select`` / ``exclude``: dbt-style selectors (:func:`features.models.dag.select`); none = every model.

    ``engine`` names an entry of :data:`features.engines.ENGINES` (ConfigError otherwise, before the
    warehouse is opened). The sources are refreshed in the warehouse as usual whatever the engine;
    ``engine="spark"`` then runs the models on Spark (``spark_master``, default ``local[2]``),
    writing Parquet under ``[paths] spark_output``.
    """
    from features.engines import engine_class
    from features.models.progress import summary
    from features.models.runner import raise_for_result

    engine_class(engine)  # an unknown engine fails here, naming the known ones
    ctx = BuildContext(
        project=project,
        db=Path(db) if db is not None else project.warehouse_path,
        select=tuple(select),
        exclude=tuple(exclude),
        full_refresh=full_refresh,
        quiet=quiet,
        run_tests=run_tests,
        engine=engine,
        spark_master=spark_master,
        console=_console(quiet),
    )
    try:
        for step in STEPS:
            step(ctx)
    finally:
        if ctx.con is not None:
            ctx.con.close()
    assert ctx.result is not None
    if ctx.console is not None:
        ctx.console.print(summary(ctx.result), highlight=False)
    raise_for_result(ctx.result)
    return ctx.result


__all__ = ["STEPS", "BuildContext", "run_build", "set_memory_limit"]
