"""Turn a model into a relation: view, table (SQL or Python) — inside the caller's transaction.

The runner opens a transaction around each model, calls one of these, records the model's state and
commits; any error rolls back, so a failing model leaves the relation it would have replaced (and the
bookkeeping) exactly as before. DuckDB's DDL is transactional, which makes the transaction the
staging area: ``create or replace`` inside it is only visible after the commit.
Relations are created with plain, unqualified names so the file still works attached under any alias.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from features.errors import ModelError

if TYPE_CHECKING:
    import duckdb
    import polars as pl

    from features.models.discovery import Model


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _drop_other_kind(con: duckdb.DuckDBPyConnection, name: str, existing: str | None, kind: str) -> None:
    if existing is not None and existing != kind:
        con.execute(f"drop {existing} {quote(name)}")


def create_view(con: duckdb.DuckDBPyConnection, model: Model, existing: str | None) -> None:
    _drop_other_kind(con, model.name, existing, "view")
    con.execute(f"create or replace view {quote(model.name)} as {model.sql}")


def create_table(con: duckdb.DuckDBPyConnection, name: str, select_sql: str, existing: str | None) -> int:
    """``create or replace table name as select_sql``; returns the row count."""
    _drop_other_kind(con, name, existing, "table")
    return int(con.execute(f"create or replace table {quote(name)} as {select_sql}").fetchall()[0][0])


def python_frame(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    func: Any,
    inputs: Mapping[str, str | tuple[str, dict[str, object]]],
    this: tuple[str, dict[str, object]] | None = None,
) -> pl.DataFrame:
    """Call a Python model: each parameter gets its relation (``inputs[param]`` is a SELECT) as Polars.

    ``this`` (a SELECT of the model's own previous rows, and its named parameters) is passed to a stateful model's ``this``
    parameter in an incremental refresh; a full build leaves it at the function's default (None).
    """
    import polars as pl

    con.complete()  # finish any half-read result of execute(): DuckDB refuses con.sql() until then
    frames = {}
    for param in (r.name for r in model.refs):
        query = inputs[param]  # a SELECT, or a SELECT and its named parameters
        frames[param] = (
            con.sql(query) if isinstance(query, str) else con.sql(query[0], params=query[1])
        ).pl()
    if this is not None and model.stateful:
        frames["this"] = con.sql(this[0], params=this[1]).pl()
    result = func(**frames)
    if isinstance(result, pl.LazyFrame):
        result = result.collect()
    if not isinstance(result, pl.DataFrame):
        raise ModelError(
            f"python model `{model.name}` returned {type(result).__name__}, not a polars DataFrame",
            file=model.file,
            line=model.python_line,
            model=model.name,
        )
    return result


def create_table_from_frame(
    con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame, existing: str | None
) -> int:
    """Write a Polars frame as table ``name`` through Arrow (no pandas)."""
    view = "__fstore_frame"
    con.register(view, frame.to_arrow())
    try:
        return create_table(con, name, f"select * from {view}", existing)
    finally:
        con.unregister(view)


__all__ = ["create_table", "create_table_from_frame", "create_view", "python_frame", "quote"]
