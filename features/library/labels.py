"""Labels: forward log return over the configured horizon and its sign (the only look-ahead).

The horizon h comes from ``[features] horizon`` in config/project.toml, which the build writes to
the one-row source table ``feature_params`` before the models run (see features.ingest); the
column is named ``fwd_ret_{h}d`` accordingly, so changing h renames the label everywhere.
"""

from __future__ import annotations

import polars as pl

from features import model


@model(
    # incremental: appending a day recomputes each asset's last h rows (their future arrived) and the
    # new ones; h is read from feature_params at build time. Restated prices rebuild it in full.
    materialized="incremental",
    unique_key=("asset_id", "ts"),
    time_column="ts",
    group_by="asset_id",
    lookback=0,
    lookahead="feature_params.horizon",
    label=True,
    tags=("labels",),
    tests=("not_null(asset_id, ts)", "unique(asset_id, ts)", "accepted_values(label_up, 0, 1)"),
)
def labels(stg_prices: pl.DataFrame, feature_params: pl.DataFrame) -> pl.DataFrame:
    """fwd_ret_{h}d = ln(close_{t+h} / close_t) over the asset's own rows; label_up = 1 if > 0 else 0."""
    horizon = int(feature_params["horizon"][0])
    name = f"fwd_ret_{horizon}d"
    future = pl.col("close").shift(-horizon).over("asset_id")
    return (
        stg_prices.select("asset_id", "ts", "close")
        .sort("asset_id", "ts")
        .with_columns((future / pl.col("close")).log().alias(name))
        .select(
            pl.col("asset_id").cast(pl.Int32),
            "ts",
            pl.col(name).cast(pl.Float64),
            pl.when(pl.col(name).is_null())
            .then(None)
            .otherwise((pl.col(name) > 0).cast(pl.Int32))
            .alias("label_up"),
        )
    )
