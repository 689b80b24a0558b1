"""Engines: where the models of a validated DAG run. DuckDB (embedded, the default) and Apache Spark.

``ENGINES`` is the one registry: engine name → ``"module:Class"``, imported only when that engine is
used (Spark's module pulls in pyspark). The CLI's ``--engine`` choices and :func:`features.build.run_build`
read it; adding an engine is one new package and one line here.

``transpile`` turns a model's DuckDB SQL into Spark SQL with sqlglot (no pyspark needed);
``spark`` runs a validated DAG in a SparkSession (``fstore build --engine spark``).
"""

from __future__ import annotations

import importlib
from typing import Any

ENGINES: dict[str, str] = {
    "duckdb": "features.engines.duckdb:DuckDBEngine",
    "spark": "features.engines.spark:SparkEngine",
}


def engine_class(name: str) -> Any:
    """The engine class registered as ``name`` (ConfigError naming the known ones otherwise)."""
    if name not in ENGINES:
        from features.errors import ConfigError

        raise ConfigError(f"unknown engine `{name}` (known: {', '.join(sorted(ENGINES))})")
    module, _, attr = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def __getattr__(name: str) -> Any:  # the Spark helpers, imported on first use (they are not light)
    spark_names = {"build", "export_sources", "output_dir", "session"}
    transpile_names = {"UntranspilableError", "check_models", "to_spark"}
    if name in spark_names:
        return getattr(importlib.import_module("features.engines.spark"), name)
    if name in transpile_names:
        return getattr(importlib.import_module("features.engines.transpile"), name)
    raise AttributeError(name)


__all__ = ["ENGINES", "engine_class"]
