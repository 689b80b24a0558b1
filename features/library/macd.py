"""MACD: exponential moving averages of close, per asset over its own rows (SQL has no EMA).

Incremental and exact: the EMA is a recursion, EMAₜ = α·xₜ + (1 − α)·EMAₜ₋₁, so a refresh continues
it from the last row already built (``this``) instead of re-reading history. The table keeps the two
EMAs behind ``macd`` (``ema_12``, ``ema_26``) for that. Each continued series starts with the stored
EMA as its first value, which Polars' ``adjust=False`` recursion takes as its seed: every step then does
the same floating-point operations on the same values as a full build, so the result is bit-identical.
"""

from __future__ import annotations

import polars as pl

from features import model

FAST, SLOW, SIGNAL = 12, 26, 9  # the classic MACD spans


def _ema(column: pl.Expr, span: int) -> pl.Expr:
    """EMA_t = α·x_t + (1−α)·EMA_{t−1}, α = 2/(span+1), seeded with the first value."""
    return column.ewm_mean(span=span, adjust=False, min_samples=1).over("asset_id")


@model(
    materialized="incremental",
    unique_key=("asset_id", "ts"),
    time_column="ts",
    group_by="asset_id",
    tags=("features",),
    tests=("not_null(asset_id, ts, macd, macd_signal)", "unique(asset_id, ts)"),
)
def macd_features(stg_prices: pl.DataFrame, this: pl.DataFrame | None = None) -> pl.DataFrame:
    """macd = EMA12(close) − EMA26(close); macd_signal = EMA9(macd); per asset, ordered by ts.

    ``this``: each asset's last built row (incremental refresh) — its EMAs seed the new rows.
    """
    rows = stg_prices.select(
        pl.col("asset_id").cast(pl.Int32),
        "ts",
        pl.lit(False).alias("seed"),
        pl.col("close").alias("x_fast"),
        pl.col("close").alias("x_slow"),
        pl.lit(None, dtype=pl.Float64).alias("x_signal"),
    )
    if this is not None:  # one seed row per asset: the EMAs as they stood before the new rows
        seeds = this.select(
            pl.col("asset_id").cast(pl.Int32),
            "ts",
            pl.lit(True).alias("seed"),
            pl.col("ema_12").alias("x_fast"),
            pl.col("ema_26").alias("x_slow"),
            pl.col("macd_signal").alias("x_signal"),
        )
        rows = pl.concat([seeds, rows])
    out = (
        rows.sort("asset_id", "ts")
        .with_columns(
            _ema(pl.col("x_fast"), FAST).alias("ema_12"), _ema(pl.col("x_slow"), SLOW).alias("ema_26")
        )
        .with_columns((pl.col("ema_12") - pl.col("ema_26")).alias("macd"))
        # the signal's input is macd, except on a seed row, where it is the stored signal itself
        .with_columns(
            _ema(pl.when(pl.col("seed")).then(pl.col("x_signal")).otherwise(pl.col("macd")), SIGNAL).alias(
                "macd_signal"
            )
        )
        .filter(~pl.col("seed"))
    )
    return out.select(
        "asset_id",
        "ts",
        pl.col("macd").cast(pl.Float64),
        pl.col("macd_signal").cast(pl.Float64),
        pl.col("ema_12").cast(pl.Float64),
        pl.col("ema_26").cast(pl.Float64),
    )
