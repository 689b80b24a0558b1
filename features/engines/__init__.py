"""Engines other than the embedded DuckDB default: the same models run on Apache Spark.

``transpile`` turns a model's DuckDB SQL into Spark SQL with sqlglot (no pyspark needed);
``spark`` runs a validated DAG in a SparkSession (``fstore build --engine spark``).
"""

from __future__ import annotations

from features.engines.spark import build, export_sources, output_dir, session
from features.engines.transpile import UntranspilableError, check_models, to_spark

__all__ = [
    "UntranspilableError",
    "build",
    "check_models",
    "export_sources",
    "output_dir",
    "session",
    "to_spark",
]
