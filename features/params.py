"""``feature_params``: the ``[features]`` settings as a one-row source table that models read.

SQL has no config templating; models that depend on settings (the label horizon) take this table as
an input instead, so a changed setting rebuilds them like changed data would. Written by the build
step of the same name (:data:`features.build.STEPS`), before raw prices are refreshed.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from features.errors import ConfigError
from features.warehouse import record_source_version, source_version, table_exists, transaction

if TYPE_CHECKING:
    import duckdb

    from features.config import Project

PARAMS_NAME = "feature_params"  # one-row table of [features] settings, read by models


def refresh_feature_params(con: duckdb.DuckDBPyConnection, project: Project) -> None:
    """(Re)write ``feature_params`` from ``[features]`` unless it already holds these settings."""
    params = asdict(project.features)
    if not isinstance(params.get("horizon"), int) or params["horizon"] < 1:
        raise ConfigError(
            f"[features] horizon must be a whole number of rows >= 1, got {params.get('horizon')!r}",
            file=project.config_file,
        )
    version = json.dumps(params, sort_keys=True)
    if source_version(con, PARAMS_NAME) == version and table_exists(con, PARAMS_NAME, views=False):
        return
    # values are bound parameters (config never becomes SQL text); names are dataclass fields
    columns = ", ".join(f"?::{_sql_type(v)} as {k}" for k, v in params.items())
    with transaction(con):
        con.execute(f"create or replace table {PARAMS_NAME} as select {columns}", list(params.values()))
        record_source_version(con, PARAMS_NAME, version)


def _sql_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    return "varchar"


__all__ = ["PARAMS_NAME", "refresh_feature_params"]
