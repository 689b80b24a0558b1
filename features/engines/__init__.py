"""Engines: where the models of a validated DAG run. DuckDB (embedded, the default) and Apache Spark.

``ENGINES`` is the one registry: engine name → ``"module:Class"``, imported only when that engine is
used (Spark's module pulls in pyspark when a build starts). The CLI's ``--engine`` choices and
:func:`features.build.run_build` read it; adding an engine is one new package (a class implementing
:class:`features.engines.base.Engine`) and one line here.

    base.py        the Engine protocol the build loop talks to
    duckdb/        DuckDBEngine: models run in the warehouse, incremental refresh
    spark/         SparkEngine: models transpiled by sqlglot, run in a SparkSession
    transpile.py   a model's DuckDB SQL as Spark SQL (no pyspark needed)
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


def __getattr__(name: str) -> Any:  # the transpiler, imported on first use (sqlglot is not light)
    if name in {"UntranspilableError", "check_models", "to_spark"}:
        return getattr(importlib.import_module("features.engines.transpile"), name)
    raise AttributeError(name)


__all__ = ["ENGINES", "engine_class"]
