"""The Spark engine: the same models, transpiled by sqlglot, run in a SparkSession.

    check_transpile → start_session → export_sources → run_models (DAG order) → run_data_tests

- **Sources** (``raw_prices``, ``dim_symbol``, ``feature_params`` …) are first refreshed in the DuckDB
  warehouse by the usual build steps (asset-ID dimension, ingest), then exported to Parquet under
  ``<spark_output>/_sources/<name>/`` and registered as temp views.
- **SQL models** run as ``spark.sql(transpiled)``. Tables are written as Parquet to
  ``<spark_output>/<model>/`` and re-registered from the files (downstream models read what was
  written); views become Spark temp views.
- **Layout.** A table with an ``asset_id`` column (or the model's ``partition_by`` column) is
  distributed by it and sorted by it and time before writing: every file holds whole assets in time
  order, and row-group statistics let a reader of a few assets skip the rest. Not Hive folders per
  asset: at 154–2,000 assets those are thousands of small files (see :func:`write_table`).
- **Python models** with ``group_by`` run per group through ``groupBy(col).applyInArrow``: each group
  arrives as an Arrow table, becomes a Polars frame, goes through the model's own function and returns
  as Arrow (no pandas). Inputs without the group column (``feature_params``) are collected once and
  passed whole to every group. Models without ``group_by``, or with several inputs holding the group
  column, cannot be split safely: their inputs are collected to the driver and the function runs
  there, like on DuckDB — fine for daily bars of a few thousand assets.
- **Data tests** run their transpiled queries in the session.

Every build on Spark is a full build (no fingerprints or incremental refresh); the DuckDB warehouse's
build log is not written. Needs ``pip install -e '.[spark]'`` and Java 17.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import FstoreError, SparkError

if TYPE_CHECKING:
    import duckdb
    import pyspark.sql

    from features.config import Project
    from features.models.checks import CheckResult, DataTest
    from features.models.dag import Dag
    from features.models.discovery import Model
    from features.models.runner import BuildResult, ModelRun, Reporter

DEFAULT_MASTER = "local[2]"
SOURCES_FOLDER = "_sources"
SCHEMA_FILE = "_fstore_schema.json"  # beside each table's Parquet files
TIME_COLUMNS = ("ts",)
_DUCKDB_TYPES = {
    "boolean": "BOOLEAN",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
    "binary": "BLOB",
}


def require_pyspark() -> None:
    """Fail with what to install when pyspark or Java is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkError(
            "the Spark engine needs pyspark", hint="pip install -e '.[spark]' (or `make spark-setup`)"
        ) from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkError("the Spark engine needs Java 17 (no `java` on PATH and no JAVA_HOME)")


def session(
    master: str | None = None, *, shuffle_partitions: int = 4
) -> tuple[pyspark.sql.SparkSession, bool]:
    """The active SparkSession, or a new one on ``master`` (default ``local[2]``); True when created here."""
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    # workers run this interpreter (the venv with polars and fstore), not whatever `python` is on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if (master or DEFAULT_MASTER).startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no hostname lookup warning in local mode
    builder = (
        SparkSession.builder.master(master or DEFAULT_MASTER)
        .appName("fstore")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.sources.partitionOverwriteMode", "static")
    )
    if (master or DEFAULT_MASTER).startswith("local"):
        # local mode: the driver JVM is also the executor; it must hold the driver-side Python inputs
        builder = builder.config("spark.driver.memory", os.environ.get("FSTORE_SPARK_DRIVER_MEMORY", "2g"))
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # JVM start-up failures come as several exception types
        raise SparkError(f"cannot start Spark on {master or DEFAULT_MASTER}: {exc}") from None
    # FATAL, not ERROR: a failing query reaches us as an exception (reported per model); at ERROR
    # Spark also logs it with the whole JVM stack trace as JSON
    spark.sparkContext.setLogLevel("FATAL")
    return spark, True


@dataclass
class SparkBuild:
    """What the Spark steps share."""

    spark: pyspark.sql.SparkSession
    project: Project
    dag: Dag
    out: Path
    compiled: dict[str, str]
    columns: dict[str, list[str]] = field(default_factory=dict)  # registered relation -> columns


def output_dir(project: Project) -> Path:
    return project.path(project.paths.spark_output)


# --------------------------------------------------------------------------- steps


def export_sources(con: duckdb.DuckDBPyConnection, sources: Sequence[str], out: Path) -> dict[str, Path]:
    """Each source relation of the warehouse as Parquet under ``<out>/_sources/<name>/``."""
    from features.models.materialize import quote

    folder = out / SOURCES_FOLDER
    paths = {}
    for name in sources:
        target = folder / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        file = target / "part-0.parquet"
        con.execute(f"copy (select * from {quote(name)}) to '{file}' (format parquet)")
        paths[name] = target
    return paths


def _register(b: SparkBuild, name: str, frame: pyspark.sql.DataFrame) -> None:
    frame.createOrReplaceTempView(name)
    b.columns[name] = list(frame.columns)


def register_sources(b: SparkBuild, paths: dict[str, Path]) -> None:
    for name, path in paths.items():
        _register(b, name, b.spark.read.parquet(str(path)))


def _cluster_column(model: Model, columns: list[str]) -> str | None:
    declared = model.header.partition_by
    if declared and declared in columns:
        return declared
    return "asset_id" if "asset_id" in columns else None


def write_table(b: SparkBuild, model: Model, frame: pyspark.sql.DataFrame) -> int:
    """Write ``frame`` as the model's Parquet folder (staged, then swapped in); register the files.

    Distributed by asset (or the declared partition column) and sorted by it and time: each file holds
    whole assets in time order, so a reader of a few assets skips row groups by their min/max
    statistics. Adaptive execution sizes the files. No per-asset folders: thousands of small files,
    measured 2-3x slower to write and to read one asset back (docs/benchmarks.md).
    """
    columns = list(frame.columns)
    key = _cluster_column(model, columns)
    time_col = model.header.time_column or next((c for c in TIME_COLUMNS if c in columns), None)
    final = b.out / model.name
    staging = b.out / f".{model.name}.{uuid.uuid4().hex[:8]}"
    if key is not None:
        order = [key, *([time_col] if time_col and time_col != key else [])]
        frame = frame.repartition(key).sortWithinPartitions(*order)  # hash: no sampling pass
    writer = frame.write
    try:
        writer.mode("overwrite").parquet(str(staging))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Spark and DuckDB readers skip files starting with `_`: the schema, for a later `--select`
    (staging / SCHEMA_FILE).write_text(frame.schema.json(), encoding="utf-8")
    old = None
    if final.exists():
        old = b.out / f".{model.name}.old.{uuid.uuid4().hex[:8]}"
        final.rename(old)
    staging.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    # downstream models read what was written
    _register(b, model.name, _read_table(b.spark, final))
    return _parquet_rows(final)


def _read_table(spark: pyspark.sql.SparkSession, folder: Path) -> pyspark.sql.DataFrame:
    """A table written by :func:`write_table`, with its columns in their order and types."""
    from pyspark.sql.types import StructType

    schema = StructType.fromJson(json.loads((folder / SCHEMA_FILE).read_text(encoding="utf-8")))
    return spark.read.schema(schema).parquet(str(folder)).select(*schema.fieldNames())


def _parquet_rows(folder: Path) -> int:
    """Rows written, from the Parquet footers (no Spark job)."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(f).num_rows for f in folder.rglob("*.parquet"))


def _duckdb_type(spark_type: Any) -> str:
    name = spark_type.simpleString()
    if name.startswith("decimal"):
        return name.upper()
    if name.startswith("array<"):
        return _DUCKDB_TYPES.get(name[6:-1], name[6:-1].upper()) + "[]"
    return _DUCKDB_TYPES.get(name, name.upper())


def register_catalog(b: SparkBuild) -> None:
    """``__fstore_duckdb_columns``: DuckDB's ``duckdb_columns()`` shape over the relations registered so far."""
    from pyspark.sql import types as T

    from features.engines.transpile import CATALOG_RELATIONS

    current = b.spark.sql("select current_database() as d, current_schema() as s").collect()[0]
    rows = []
    for name in b.columns:
        for index, f in enumerate(b.spark.table(name).schema.fields, start=1):
            rows.append((current["d"], current["s"], name, f.name, index, _duckdb_type(f.dataType)))
    schema = T.StructType(
        [
            T.StructField("database_name", T.StringType()),
            T.StructField("schema_name", T.StringType()),
            T.StructField("table_name", T.StringType()),
            T.StructField("column_name", T.StringType()),
            T.StructField("column_index", T.IntegerType()),
            T.StructField("data_type", T.StringType()),
        ]
    )
    b.spark.createDataFrame(rows, schema).createOrReplaceTempView(CATALOG_RELATIONS["duckdb_columns"])


def sql_frame(b: SparkBuild, model: Model) -> pyspark.sql.DataFrame:
    from features.engines.transpile import to_spark, uses_catalog

    if uses_catalog(model.sql):
        register_catalog(b)
    sql = to_spark(model.sql, b.columns.get)
    b.compiled[model.name] = sql
    return b.spark.sql(sql)


# --------------------------------------------------------------------------- Python models


def _arrow_to_polars(table: Any) -> Any:
    import polars as pl

    return pl.from_arrow(table)


def _call(func: Callable[..., Any], name: str, frames: dict[str, Any]) -> Any:
    """Call a Python model and return its result as an Arrow table."""
    import polars as pl

    result = func(**frames)
    if isinstance(result, pl.LazyFrame):
        result = result.collect()
    if not isinstance(result, pl.DataFrame):
        raise SparkError(f"python model `{name}` returned {type(result).__name__}, not a polars DataFrame")
    return result.to_arrow()


def _spark_schema(arrow_schema: Any) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


def _group_function(
    func: Callable[..., Any], name: str, grouped: str, broadcast: dict[str, Any], arrow_schema: Any
) -> Callable[[Any], Any]:
    """The function Spark runs once per group: Arrow → Polars → the model → Arrow in Spark's schema."""

    def run_group(table: Any) -> Any:
        frames = {grouped: _arrow_to_polars(table)}
        frames.update({k: _arrow_to_polars(v) for k, v in broadcast.items()})
        return _call(func, name, frames).select(arrow_schema.names).cast(arrow_schema)

    return run_group


def python_frame(b: SparkBuild, model: Model) -> pyspark.sql.DataFrame:
    """Run a Python model: per group through applyInArrow when it has ``group_by``, else on the driver."""
    from pyspark import cloudpickle
    from pyspark.sql.pandas.types import to_arrow_schema

    from features.models.discovery import load_python_function

    func = load_python_function(model)
    # the model file is imported by path, under a module name workers cannot import: ship it by value
    cloudpickle.register_pickle_by_value(sys.modules[func.__module__])
    params = [r.name for r in model.refs]
    inputs = {p: b.spark.table(p) for p in params}
    key = model.header.partition_by
    grouped = [p for p in params if key and key in inputs[p].columns]
    if key and len(grouped) == 1:
        big = grouped[0]
        broadcast = {p: inputs[p].toArrow() for p in params if p != big}
        sample = {big: inputs[big].limit(0).toArrow(), **broadcast}
        try:
            probe = _call(func, model.name, {k: _arrow_to_polars(v) for k, v in sample.items()})
        except FstoreError:
            raise
        except Exception:  # some functions need rows: probe with the first group instead
            first = inputs[big].select(key).limit(1).collect()[0][0]
            sample[big] = inputs[big].where(inputs[big][key] == first).toArrow()
            probe = _call(func, model.name, {k: _arrow_to_polars(v) for k, v in sample.items()})
        schema = _spark_schema(probe.schema)
        arrow_schema = to_arrow_schema(schema)
        run_group = _group_function(func, model.name, big, broadcast, arrow_schema)
        return inputs[big].groupBy(key).applyInArrow(run_group, schema)
    # no group_by (or several grouped inputs): the whole inputs on the driver, like on DuckDB
    frames = {p: _arrow_to_polars(inputs[p].toArrow()) for p in params}
    table = _call(func, model.name, frames)
    schema = _spark_schema(table.schema)
    return b.spark.createDataFrame(table.cast(to_arrow_schema(schema)))


# --------------------------------------------------------------------------- build


def run_check(b: SparkBuild, test: DataTest) -> CheckResult:
    """One data test, its DuckDB query transpiled and run in the session."""
    from features.engines.transpile import to_spark
    from features.models.checks import SAMPLE_ROWS, CheckResult, check_sql

    try:
        sql = to_spark(check_sql(test, b.project.root), b.columns.get)
        failures = b.spark.sql(sql)
        count = failures.count()
        sample: tuple[tuple[str, ...], tuple[tuple[object, ...], ...]] = ((), ())
        if count:
            rows = failures.limit(SAMPLE_ROWS).collect()
            sample = (tuple(failures.columns), tuple(tuple(r) for r in rows))
        return CheckResult(test, int(count), sample)
    except Exception as exc:  # AnalysisException and friends: reported like a DuckDB error
        return CheckResult(test, 0, ((), ()), error=str(exc).strip().splitlines()[0])


def run_checks(b: SparkBuild, tests: Sequence[DataTest]) -> list[CheckResult]:
    """Every test's failure count in one Spark job; samples (and errors) then per failing test."""
    from features.engines.transpile import to_spark
    from features.models.checks import CheckResult, check_sql

    if not tests:
        return []
    try:
        counts = " union all ".join(
            f"select {i} as i, count(*) as n from ({to_spark(check_sql(t, b.project.root), b.columns.get)})"
            for i, t in enumerate(tests)
        )
        failures = {row["i"]: int(row["n"]) for row in b.spark.sql(counts).collect()}
    except Exception:  # one test cannot run: run each alone so the error lands on the right test
        return [run_check(b, t) for t in tests]
    return [CheckResult(t, 0, ((), ())) if not failures[i] else run_check(b, t) for i, t in enumerate(tests)]


def _build_one(b: SparkBuild, model: Model, run: ModelRun) -> None:
    frame = sql_frame(b, model) if model.kind == "sql" else python_frame(b, model)
    if model.materialized == "view":
        _register(b, model.name, frame)
        run.action = "view"
    else:
        run.rows = write_table(b, model, frame)
        run.action = "full"


def build(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    dag: Dag,
    *,
    master: str | None = None,
    select: Sequence[str] = (),
    run_tests: bool = True,
    report: Reporter | None = None,
) -> BuildResult:
    """Build the selected models (with their upstream models, read from earlier Spark output) on Spark.

    Every SQL model is transpiled first: any that cannot be is reported (all at once) before Spark starts.
    """
    from features.engines.transpile import check_models
    from features.models.dag import select as select_models
    from features.models.runner import BuildResult, ModelRun, skip_after_failed_upstream

    chosen = catalog_last(dag, select_models(dag, select))
    compiled = check_models(dag.models[n] for n in chosen)
    require_pyspark()
    result = BuildResult(uuid.uuid4().hex[:12], datetime.now())
    emit = report or (lambda _e, _p: None)
    spark, created = session(master)
    out = output_dir(project)
    out.mkdir(parents=True, exist_ok=True)
    b = SparkBuild(spark, project, dag, out, compiled)
    try:
        sources = sorted({s for n in chosen for s in dag.sources[n]})
        register_sources(b, export_sources(con, sources, out))
        _register_unselected(b, dag, chosen)
        bad: set[str] = set()
        for name in chosen:
            model = dag.models[name]
            run = ModelRun(name, model.kind, model.materialized, "full")
            result.runs.append(run)
            if skip_after_failed_upstream(run, dag.upstream[name], bad, emit):
                continue
            emit("start", run)
            t0 = time.perf_counter()
            try:
                _build_one(b, model, run)
                run.status = "success"
            except Exception as exc:
                run.status, run.error = "failed", _error_text(exc)
                bad.add(name)
            run.seconds = time.perf_counter() - t0
            emit("done", run)
        if run_tests:
            tests = [t for n in chosen if n not in bad for t in dag.models[n].tests]
            for outcome in run_checks(b, tests):
                result.tests.append(outcome)
                emit("test", outcome)
    finally:
        if created:
            spark.stop()
    result.ended_at = datetime.now()
    return result


def catalog_last(dag: Dag, order: Sequence[str]) -> list[str]:
    """Models reading the catalog (and their descendants) after every other model.

    DuckDB evaluates ``duckdb_columns()`` when a view is queried; on Spark the catalog relation is a
    snapshot taken when the model runs, so it must run once the tables it describes exist.
    """
    from features.engines.transpile import uses_catalog

    late: set[str] = set()
    for name in order:
        model = dag.models[name]
        if (model.kind == "sql" and uses_catalog(model.sql)) or any(u in late for u in dag.upstream[name]):
            late.add(name)
    return [n for n in order if n not in late] + [n for n in order if n in late]


def _register_unselected(b: SparkBuild, dag: Dag, chosen: Sequence[str]) -> None:
    """Upstream models left out of the selection are read from their earlier Spark output."""
    for name in chosen:
        for up in dag.upstream[name]:
            if up in chosen or up in b.columns:
                continue
            folder = b.out / up
            if dag.models[up].materialized != "view" and (folder / SCHEMA_FILE).is_file():
                _register(b, up, _read_table(b.spark, folder))


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, FstoreError):
        return str(exc)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"


__all__ = [
    "DEFAULT_MASTER",
    "SparkBuild",
    "build",
    "export_sources",
    "output_dir",
    "python_frame",
    "require_pyspark",
    "run_check",
    "run_checks",
    "session",
]
