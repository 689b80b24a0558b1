"""MACD: exponential moving averages of close, per asset over its own rows (SQL has no EMA)."""

from __future__ import annotations

import polars as pl

from features import model

FAST, SLOW, SIGNAL = 12, 26, 9  # the classic MACD spans


def _ema(column: pl.Expr, span: int) -> pl.Expr:
    """EMA_t = α·x_t + (1−α)·EMA_{t−1}, α = 2/(span+1), seeded with the first value."""
    return column.ewm_mean(span=span, adjust=False, min_samples=1)


@model(
    materialized="table",
    unique_key=("asset_id", "ts"),
    time_column="ts",
    group_by="asset_id",
    tags=("features",),
    tests=("not_null(asset_id, ts, macd, macd_signal)", "unique(asset_id, ts)"),
)
def macd_features(stg_prices: pl.DataFrame) -> pl.DataFrame:
    """macd = EMA12(close) − EMA26(close); macd_signal = EMA9(macd); per asset, ordered by ts."""
    macd = _ema(pl.col("close"), FAST) - _ema(pl.col("close"), SLOW)
    return (
        stg_prices.select("asset_id", "ts", "close")
        .sort("asset_id", "ts")
        .with_columns(macd.over("asset_id").alias("macd"))
        .with_columns(_ema(pl.col("macd"), SIGNAL).over("asset_id").alias("macd_signal"))
        .select(
            pl.col("asset_id").cast(pl.Int32),
            "ts",
            pl.col("macd").cast(pl.Float64),
            pl.col("macd_signal").cast(pl.Float64),
        )
    )
