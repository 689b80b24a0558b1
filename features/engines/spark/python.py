"""Python models on Spark: per group through ``applyInArrow``, or on the driver.

A model with ``group_by`` runs per group through ``groupBy(col).applyInArrow``: each group arrives as
an Arrow table, becomes a Polars frame, goes through the model's own function and returns as Arrow
(no pandas). Inputs without the group column (``feature_params``) are collected once and passed whole
to every group. Models without ``group_by``, or with several inputs holding the group column, cannot
be split safely: their inputs are collected to the driver and the function runs there, like on
DuckDB — fine for daily bars of a few thousand assets.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from features.errors import FstoreError, SparkError

if TYPE_CHECKING:
    import pyspark.sql

    from features.engines.spark.tables import SparkBuild
    from features.models.discovery import Model


def _arrow_to_polars(table: Any) -> Any:
    import polars as pl

    return pl.from_arrow(table)


def _call(func: Callable[..., Any], name: str, frames: dict[str, Any]) -> Any:
    """Call a Python model and return its result as an Arrow table."""
    import polars as pl

    result = func(**frames)
    if isinstance(result, pl.LazyFrame):
        result = result.collect()
    if not isinstance(result, pl.DataFrame):
        raise SparkError(f"python model `{name}` returned {type(result).__name__}, not a polars DataFrame")
    return result.to_arrow()


def spark_schema(arrow_schema: Any) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


def _group_function(
    func: Callable[..., Any], name: str, grouped: str, broadcast: dict[str, Any], arrow_schema: Any
) -> Callable[[Any], Any]:
    """The function Spark runs once per group: Arrow → Polars → the model → Arrow in Spark's schema."""

    def run_group(table: Any) -> Any:
        frames = {grouped: _arrow_to_polars(table)}
        frames.update({k: _arrow_to_polars(v) for k, v in broadcast.items()})
        return _call(func, name, frames).select(arrow_schema.names).cast(arrow_schema)

    return run_group


def python_frame(
    b: SparkBuild, model: Model, func: Callable[..., Any] | None = None
) -> pyspark.sql.DataFrame:
    """Run a Python model: per group through applyInArrow when it has ``group_by``, else on the driver.

    ``func`` is the model's function (imported from its file when not given).
    """
    from pyspark import cloudpickle
    from pyspark.sql.pandas.types import to_arrow_schema

    if func is None:
        from features.models.discovery import load_python_function

        func = load_python_function(model)
    # the model file is imported by path, under a module name workers cannot import: ship it by value
    cloudpickle.register_pickle_by_value(sys.modules[func.__module__])
    params = [r.name for r in model.refs]
    inputs = {p: b.spark.table(p) for p in params}
    key = model.header.partition_by
    grouped = [p for p in params if key and key in inputs[p].columns]
    if key and len(grouped) == 1:
        big = grouped[0]
        broadcast = {p: inputs[p].toArrow() for p in params if p != big}
        probe = _probe(func, model.name, big, inputs[big], key, broadcast)
        schema = spark_schema(probe.schema)
        run_group = _group_function(func, model.name, big, broadcast, to_arrow_schema(schema))
        return inputs[big].groupBy(key).applyInArrow(run_group, schema)
    # no group_by (or several grouped inputs): the whole inputs on the driver, like on DuckDB
    frames = {p: _arrow_to_polars(inputs[p].toArrow()) for p in params}
    table = _call(func, model.name, frames)
    schema = spark_schema(table.schema)
    return b.spark.createDataFrame(table.cast(to_arrow_schema(schema)))


def _probe(
    func: Callable[..., Any],
    name: str,
    grouped: str,
    big: pyspark.sql.DataFrame,
    key: str,
    broadcast: dict[str, Any],
) -> Any:
    """The model's output on no rows of input ``grouped`` (its schema), or on the first group for
    functions that need rows."""
    sample = {grouped: big.limit(0).toArrow(), **broadcast}
    try:
        return _call(func, name, {k: _arrow_to_polars(v) for k, v in sample.items()})
    except FstoreError:
        raise
    except Exception:  # some functions need rows: probe with the first group instead
        first = big.select(key).limit(1).collect()[0][0]
        sample[grouped] = big.where(big[key] == first).toArrow()
        return _call(func, name, {k: _arrow_to_polars(v) for k, v in sample.items()})


__all__ = ["python_frame", "spark_schema"]
