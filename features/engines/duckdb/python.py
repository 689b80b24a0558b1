"""Python models on DuckDB: each input relation as a Polars frame (through Arrow, no pandas), the
model's function called on them, its result checked to be a Polars frame."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from features.errors import ModelError

if TYPE_CHECKING:
    import duckdb
    import polars as pl

    from features.models.discovery import Model

Query = str | tuple[str, dict[str, object]]  # a SELECT, or a SELECT and its named parameters


def python_frame(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    func: Callable[..., Any] | None,
    inputs: Mapping[str, Query],
    this: tuple[str, dict[str, object]] | None = None,
) -> pl.DataFrame:
    """Call a Python model: each parameter gets its relation (``inputs[param]`` is a SELECT) as Polars.

    ``this`` (a SELECT of the model's own previous rows, and its named parameters) is passed to a
    stateful model's ``this`` parameter in an incremental refresh; a full build leaves it at the
    function's default (None).
    """
    import polars as pl

    assert func is not None, model.name
    con.complete()  # finish any half-read result of execute(): DuckDB refuses con.sql() until then
    frames = {}
    for param in (r.name for r in model.refs):
        query = inputs[param]
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


__all__ = ["Query", "python_frame"]
