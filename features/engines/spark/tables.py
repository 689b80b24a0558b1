"""Relations on Spark: sources exported from the warehouse, tables as Parquet folders, temp views.

- **Sources** (``raw_prices``, ``dim_symbol``, ``feature_params`` …) are refreshed in the DuckDB
  warehouse by the usual build steps, then exported to Parquet under
  ``<spark_output>/_sources/<name>/`` and registered as temp views.
- **Tables** are written as Parquet to ``<spark_output>/<model>/`` and re-registered from the files
  (downstream models read what was written); views become Spark temp views.
- **Layout.** A table with an ``asset_id`` column (or the model's ``partition_by`` column) is
  distributed by it and sorted by it and time before writing: every file holds whole assets in time
  order, and row-group statistics let a reader of a few assets skip the rest. Not Hive folders per
  asset: at 154–2,000 assets those are thousands of small files (see :func:`write_table`).

Paths reach DuckDB as bound parameters and Spark as API arguments, never as SQL text.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.warehouse import atomic_path, atomic_write, quote_ident

if TYPE_CHECKING:
    import duckdb
    import pyspark.sql

    from features.config import Project
    from features.models.dag import Dag
    from features.models.discovery import Model

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


def export_sources(con: duckdb.DuckDBPyConnection, sources: Sequence[str], out: Path) -> dict[str, Path]:
    """Each source relation of the warehouse as Parquet under ``<out>/_sources/<name>/``."""
    folder = out / SOURCES_FOLDER
    paths = {}
    for name in sources:
        target = folder / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        with atomic_path(target / "part-0.parquet", suffix=".parquet") as tmp:
            con.execute(f"copy (select * from {quote_ident(name)}) to ? (format parquet)", [str(tmp)])
        paths[name] = target
    return paths


def register(b: SparkBuild, name: str, frame: pyspark.sql.DataFrame) -> None:
    """``frame`` as temp view ``name``, its columns remembered (for transpiling ``*`` and the catalog)."""
    frame.createOrReplaceTempView(name)
    b.columns[name] = list(frame.columns)


def register_sources(b: SparkBuild, paths: dict[str, Path]) -> None:
    for name, path in paths.items():
        register(b, name, b.spark.read.parquet(str(path)))


def register_unselected(b: SparkBuild, dag: Dag, chosen: Sequence[str]) -> None:
    """Upstream models left out of the selection are read from their earlier Spark output."""
    for name in chosen:
        for up in dag.upstream[name]:
            if up in chosen or up in b.columns:
                continue
            folder = b.out / up
            if dag.models[up].materialized != "view" and (folder / SCHEMA_FILE).is_file():
                register(b, up, read_table(b.spark, folder))


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
    try:
        frame.write.mode("overwrite").parquet(str(staging))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # Spark and DuckDB readers skip files starting with `_`: the schema, for a later `--select`
    atomic_write(staging / SCHEMA_FILE, frame.schema.json())
    _swap_in(staging, final)
    register(b, model.name, read_table(b.spark, final))  # downstream models read what was written
    return _parquet_rows(final)


def _swap_in(staging: Path, final: Path) -> None:
    """Replace folder ``final`` by ``staging`` (the old one is moved aside first, then removed)."""
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old.{uuid.uuid4().hex[:8]}"
        final.rename(old)
    staging.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_table(spark: pyspark.sql.SparkSession, folder: Path) -> pyspark.sql.DataFrame:
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
    """A SQL model's query, transpiled to Spark SQL (``*`` expanded from the registered columns)."""
    from features.engines.transpile import to_spark, uses_catalog

    if uses_catalog(model.sql):
        register_catalog(b)
    sql = to_spark(model.sql, b.columns.get)
    b.compiled[model.name] = sql
    return b.spark.sql(sql)


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


__all__ = [
    "SparkBuild",
    "catalog_last",
    "export_sources",
    "output_dir",
    "read_table",
    "register",
    "register_catalog",
    "register_sources",
    "register_unselected",
    "sql_frame",
    "write_table",
]
