"""The model engine: discovery, DAG, materialization, incremental refresh, data tests.

The public names below load on first use (so ``import features`` stays fast):

    discover(project)                       -> Discovery (models + problems)
    validate(discovery, relations)          -> Dag, or ValidationErrors listing every problem
    build_models(con, project, dag, ...)    -> BuildResult (plan, materialize, test, log)
    run_tests(con, project, dag, ...)       -> BuildResult of data tests only
    select(dag, specs)                      -> model names for --select specs
    compile_sql(model, dialect)             -> SQL for duckdb / spark / trino / snowflake / bigquery / postgres
    column_lineage(dag, "model.column")     -> lineage tree

The whole pipeline (warehouse, asset IDs, raw prices, models, tests) is ``features.build.run_build``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from features.models.python import PythonModelSpec as PythonModelSpec
from features.models.python import model as model

_LAZY = {
    "BuildResult": "features.models.result",
    "Dag": "features.models.dag",
    "Discovery": "features.models.discovery",
    "Model": "features.models.discovery",
    "ModelRun": "features.models.result",
    "build_models": "features.models.runner",
    "column_lineage": "features.models.lineage",
    "compile_sql": "features.models.compile",
    "discover": "features.models.discovery",
    "run_tests": "features.models.runner",
    "select": "features.models.dag",
    "validate": "features.models.validate",
}

__all__ = sorted(["PythonModelSpec", "model", *_LAZY])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'features.models' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
