"""The MACD family made scale-free: a percentage-price oscillator (PPO), per asset over its own rows.

``ppo`` = EMA₁₂(close) / EMA₂₆(close) − 1 and ``ppo_signal`` = EMA₉(``ppo``). MACD itself
(EMA₁₂ − EMA₂₆) is in price units: its spread differs by orders of magnitude between a $0.03 coin and
a $90,000 one, so after global z-scoring it is nearly constant for most assets and tells them apart
by price level (and a back-adjusted split rescales every earlier value). Dividing by the slow EMA
makes it a fraction of the price: the same for any price level, split or currency.

**Warm-up.** An EMA is a recursion, EMAₜ = α·xₜ + (1 − α)·EMAₜ₋₁, α = 2/(span + 1), seeded with the
first value; after n updates the seed still weighs (1 − α)ⁿ, so the value depends on where the
history starts. A value is NULL until that weight is below ``SEED_WEIGHT`` (0.1%): EMA₁₂ after 42
updates, EMA₂₆ after 90, so ``ppo`` is NULL in an asset's first 90 rows. The signal line starts at the
first ``ppo`` value (its input before that depends on the start) and needs 31 updates of its own, so
``ppo_signal`` is NULL in the first 90 + 31 = 121 rows. (At 1% the first values still moved by up to
0.12 of the feature's standard deviation with the start of the file on the default market; at 0.1%
by at most 0.012, median 0.)

**Incremental and exact.** A refresh continues the EMAs from the last row already built (``this``)
instead of re-reading history. The table keeps the recursion's state for that: ``ema_12``, ``ema_26``,
``ema_signal`` (the signal EMA before its warm-up mask) and ``n_rows`` (rows seen, which places the
new rows on the warm-up schedule). Each continued series starts with the stored EMA as its first value,
which Polars' ``adjust=False`` recursion takes as its seed: every step then does the same floating-point
operations on the same values as a full build, so the result is bit-identical.
"""

from __future__ import annotations

import math

import polars as pl

from features import model

FAST, SLOW, SIGNAL = 12, 26, 9  # the classic MACD spans
SEED_WEIGHT = 0.001  # a value counts once the first row weighs less than this in it (0.1%)


def warmup_updates(span: int, seed_weight: float = SEED_WEIGHT) -> int:
    """Updates n after which an EMA's seed weighs (1 − α)ⁿ < ``seed_weight``, α = 2/(span + 1)."""
    decay = 1.0 - 2.0 / (span + 1)
    n = max(math.ceil(math.log(seed_weight) / math.log(decay)), 0)
    while decay**n >= seed_weight:  # ceil of an exact integer quotient lands on the boundary itself
        n += 1
    return n


PPO_WARMUP = max(warmup_updates(FAST), warmup_updates(SLOW))  # 90: ppo is NULL in an asset's first 90 rows
SIGNAL_WARMUP = PPO_WARMUP + warmup_updates(SIGNAL)  # 121: the signal starts at the first ppo


def _ema(column: pl.Expr, span: int) -> pl.Expr:
    """EMA_t = α·x_t + (1−α)·EMA_{t−1}, α = 2/(span+1), seeded with the first non-null value."""
    return column.ewm_mean(span=span, adjust=False, min_samples=1, ignore_nulls=True).over("asset_id")


def _rows(stg_prices: pl.DataFrame, this: pl.DataFrame | None) -> pl.DataFrame:
    """The new rows, each asset led by its seed row (its last built row) when continuing."""
    rows = stg_prices.select(
        pl.col("asset_id").cast(pl.Int32),
        "ts",
        pl.lit(False).alias("seed"),
        pl.lit(0, dtype=pl.Int64).alias("seen"),
        pl.col("close").cast(pl.Float64).alias("x_fast"),
        pl.col("close").cast(pl.Float64).alias("x_slow"),
        pl.lit(None, dtype=pl.Float64).alias("x_signal"),
    )
    if this is not None:  # one seed row per asset: the recursion's state before the new rows
        seeds = this.select(
            pl.col("asset_id").cast(pl.Int32),
            "ts",
            pl.lit(True).alias("seed"),
            pl.col("n_rows").cast(pl.Int64).alias("seen"),
            pl.col("ema_12").cast(pl.Float64).alias("x_fast"),
            pl.col("ema_26").cast(pl.Float64).alias("x_slow"),
            pl.col("ema_signal").cast(pl.Float64).alias("x_signal"),
        )
        rows = pl.concat([seeds, rows])
    return rows.sort("asset_id", "ts")


@model(
    materialized="incremental",
    unique_key=("asset_id", "ts"),
    time_column="ts",
    group_by="asset_id",
    tags=("features", "recursive"),
    tests=("not_null(asset_id, ts, ema_12, ema_26, n_rows)", "unique(asset_id, ts)"),
)
def macd_features(stg_prices: pl.DataFrame, this: pl.DataFrame | None = None) -> pl.DataFrame:
    """ppo = EMA12(close)/EMA26(close) − 1; ppo_signal = EMA9(ppo); per asset, ordered by ts.

    ``this``: each asset's last built row (incremental refresh) — its state seeds the new rows.
    """
    rows = _rows(stg_prices, this)
    # row index within the asset: a seed row is the asset's row n_rows − 1, the new rows follow it
    index = (
        pl.int_range(pl.len()).over("asset_id")
        + pl.col("seen").max().over("asset_id")
        - pl.col("seed").any().over("asset_id").cast(pl.Int64)
    )
    ratio = pl.col("ema_12") / pl.col("ema_26") - 1.0
    # the signal's input is ppo once ppo counts, except on a seed row: there it is the stored state
    signal_in = (
        pl.when(pl.col("seed"))
        .then(pl.col("x_signal"))
        .when(pl.col("index") >= PPO_WARMUP)
        .then(pl.col("ratio"))
    )
    out = (
        rows.with_columns(index.alias("index"))
        .with_columns(
            _ema(pl.col("x_fast"), FAST).alias("ema_12"), _ema(pl.col("x_slow"), SLOW).alias("ema_26")
        )
        .with_columns(ratio.alias("ratio"))
        .with_columns(_ema(signal_in, SIGNAL).alias("ema_signal"))
        .filter(~pl.col("seed"))
    )
    return out.select(
        "asset_id",
        "ts",
        pl.when(pl.col("index") >= PPO_WARMUP).then(pl.col("ratio")).cast(pl.Float64).alias("ppo"),
        pl.when(pl.col("index") >= SIGNAL_WARMUP)
        .then(pl.col("ema_signal"))
        .cast(pl.Float64)
        .alias("ppo_signal"),
        pl.col("ema_12").cast(pl.Float64),
        pl.col("ema_26").cast(pl.Float64),
        pl.col("ema_signal").cast(pl.Float64),
        (pl.col("index") + 1).cast(pl.Int32).alias("n_rows"),
    )
