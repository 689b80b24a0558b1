"""The Spark engine: the same models, transpiled by sqlglot, run in a SparkSession.

    engine.py   SparkEngine: start (transpile every model → session → export sources) … close
    session.py  the SparkSession (active, or new on a master URL), pyspark / Java checks
    tables.py   sources as Parquet, tables as Parquet folders (whole assets per file, time order),
                temp views, the DuckDB-shaped catalog relation, build order
    python.py   Python models per group through ``applyInArrow`` (Arrow ↔ Polars), or on the driver
    checks.py   data tests, transpiled; every count in one Spark job

Sources are refreshed in the DuckDB warehouse by the usual build steps, then exported; every build
on Spark is a full build and writes Parquet under ``[paths] spark_output``. Needs
``pip install -e '.[spark]'`` and Java 17. Nothing here imports pyspark until a build starts.
"""

from __future__ import annotations

from features.engines.spark.checks import run_check, run_checks
from features.engines.spark.engine import SparkEngine
from features.engines.spark.python import python_frame
from features.engines.spark.session import DEFAULT_MASTER, require_pyspark, session
from features.engines.spark.tables import SparkBuild, export_sources, output_dir

__all__ = [
    "DEFAULT_MASTER",
    "SparkBuild",
    "SparkEngine",
    "export_sources",
    "output_dir",
    "python_frame",
    "require_pyspark",
    "run_check",
    "run_checks",
    "session",
]
