"""`fstore compile`: a model's SQL as it runs on DuckDB, or transpiled by sqlglot to another engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from features.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from features.models.discovery import Model

DIALECTS = ("duckdb", "spark", "trino", "snowflake", "bigquery", "postgres")


def compile_sql(model: Model, dialect: str = "duckdb") -> str:
    """The SELECT of ``model`` for ``dialect`` (DuckDB: exactly as it runs)."""
    if dialect not in DIALECTS:
        from features.models.dag import did_you_mean

        raise ConfigError(
            f"unknown dialect `{dialect}` (known: {', '.join(DIALECTS)}){did_you_mean(dialect, DIALECTS)}"
        )
    if model.kind != "sql":
        raise ModelError(
            f"`{model.name}` is a python model (no SQL to compile)", file=model.file, line=model.python_line
        )
    if dialect == "duckdb":
        return model.sql + "\n"
    import sqlglot

    try:
        return (
            sqlglot.transpile(model.sql, read="duckdb", write=dialect, pretty=True, comments=False)[0] + "\n"
        )
    except sqlglot.errors.SqlglotError as exc:
        raise ModelError(f"cannot transpile to {dialect}: {exc}", file=model.file, model=model.name) from None


__all__ = ["DIALECTS", "compile_sql"]
