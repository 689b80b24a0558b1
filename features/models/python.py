"""Python models: a decorated function whose parameters name its upstream relations.

    from features import model

    @model(materialized="table", unique_key=("asset_id", "ts"), time_column="ts", group_by="asset_id")
    def macd_features(stg_prices: pl.DataFrame) -> pl.DataFrame:
        ...

The function's name is the model's name (the relation it builds); each parameter receives the
upstream relation of that name as a Polars DataFrame (DuckDB → Arrow → Polars, no pandas); it returns
a Polars DataFrame. ``group_by`` declares that the function may be run on each group of that column
separately (used by incremental refresh and by Spark's grouped map). Names starting with ``_`` are
never picked up.

Incremental Python models (``materialized="incremental"``) say how far they look, like a SQL header:

- ``lookback=n``: rows of history per group the function needs before the first row it recomputes
  (default: the whole history of every changed group).
- ``lookahead=n`` or ``lookahead="relation.column"`` (label models): rows per group the function looks
  forward, or read from a one-row input at build time (``"feature_params.horizon"``); default unbounded.
- a parameter named ``this`` (default ``None``): the function continues its own previous output.
  It is ``None`` in a full build; in an incremental refresh it holds, for each recomputed group, the
  model's last row before the first row recomputed, and the inputs hold only the rows from there on.
  That makes recursive features (EMAs) exact without re-reading history.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MATERIALIZATIONS = ("table", "incremental")  # a Python model's frame is stored: never a view
ATTRIBUTE = "__fstore_model__"


@dataclass(frozen=True)
class PythonModelSpec:
    """What the decorator records; discovery turns it into a model of the DAG."""

    name: str
    func: Callable[..., Any]
    params: tuple[str, ...]
    materialized: str = "table"
    unique_key: tuple[str, ...] = ()
    time_column: str | None = None
    lookback: int | None = None  # rows of history an incremental refresh must re-read
    group_by: str | None = None
    lookahead: int | str | None = None  # rows a label model looks forward, or "relation.column"
    tags: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()  # same syntax as a SQL header's `-- test:` lines
    label: bool = False  # may look forward (label models only)
    file: str = ""
    line: int = 0


def model(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    materialized: str = "table",
    unique_key: Sequence[str] = (),
    time_column: str | None = None,
    lookback: int | None = None,
    group_by: str | None = None,
    lookahead: int | str | None = None,
    tags: Sequence[str] = (),
    tests: Sequence[str] = (),
    label: bool = False,
) -> Any:
    """Register a function as a Python model (usable bare, ``@model``, or with settings)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        try:
            file = inspect.getsourcefile(fn) or ""
            # the first line of the definition, its decorators included (what getsourcelines reports,
            # without tokenizing the whole file: ~10 ms a model in every build that runs it)
            line = inspect.unwrap(fn).__code__.co_firstlineno
        except (AttributeError, OSError, TypeError):
            file, line = "", 0
        spec = PythonModelSpec(
            name=name or fn.__name__,
            func=fn,
            params=tuple(inspect.signature(fn).parameters),
            materialized=materialized,
            unique_key=tuple(unique_key),
            time_column=time_column,
            lookback=lookback,
            group_by=group_by,
            lookahead=lookahead,
            tags=tuple(tags),
            tests=tuple(tests),
            label=label,
            file=file,
            line=line,
        )
        setattr(fn, ATTRIBUTE, spec)
        return fn

    if func is not None:
        return register(func)
    return register


__all__ = ["ATTRIBUTE", "MATERIALIZATIONS", "PythonModelSpec", "model"]
