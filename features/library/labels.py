"""Labels: forward log return over the configured horizon and its sign (the only look-ahead).

The settings come from ``[features]`` in config/project.toml, which the build writes to the one-row
source table ``feature_params`` before the models run (see features.ingest):

- ``horizon`` h (rows): the column is named ``fwd_ret_{h}d``, so changing h renames the label.
- ``label_max_gap`` k: a label spans h steps between consecutive rows of the asset; when one of them is
  longer than k times the asset's *usual spacing* (the median of its last ``SPACING_STEPS`` steps, in
  calendar days, up to t), the label is NULL rather than a return over a hole in the data. An equity's
  weekend (3 days over a usual 1) or a weekend next to a holiday (4) passes at k = 4; a 17-day hole,
  or the gap left by a run of quarantined rows, does not. The usual spacing is not known in an
  asset's first ``SPACING_STEPS`` rows, so their labels are NULL too (no training window ends there:
  the features' own warm-up is longer).

``label_up`` is 1 when the forward return is > 0, 0 when < 0, and NULL on a tie (exactly 0: a stale or
flat price says nothing about the direction, and counting it as "down" would bias the class balance).
"""

from __future__ import annotations

import polars as pl

from features import model
from features.errors import ConfigError

SPACING_STEPS = 20  # the usual spacing is the median of the asset's last 20 steps between rows


def _settings(feature_params: pl.DataFrame) -> tuple[int, float]:
    horizon = int(feature_params["horizon"][0])
    max_gap = float(feature_params["label_max_gap"][0])
    if not max_gap >= 1.0:  # also catches NaN
        raise ConfigError(
            f"[features] label_max_gap must be a number >= 1 (times the usual spacing), got {max_gap!r}"
        )
    return horizon, max_gap


@model(
    # incremental: appending a day recomputes each asset's last h rows (their future arrived) and the
    # new ones, re-reading the SPACING_STEPS rows before them for the usual spacing; h is read from
    # feature_params at build time. Restated prices rebuild it in full.
    materialized="incremental",
    unique_key=("asset_id", "ts"),
    time_column="ts",
    group_by="asset_id",
    lookback=SPACING_STEPS,
    lookahead="feature_params.horizon",
    label=True,
    tags=("labels",),
    tests=("not_null(asset_id, ts)", "unique(asset_id, ts)", "accepted_values(label_up, 0, 1)"),
)
def labels(stg_prices: pl.DataFrame, feature_params: pl.DataFrame) -> pl.DataFrame:
    """fwd_ret_{h}d = ln(close_{t+h} / close_t), NULL across a gap; label_up = its sign, NULL on a tie."""
    horizon, max_gap = _settings(feature_params)
    name = f"fwd_ret_{horizon}d"
    step = pl.col("ts").diff().dt.total_days().cast(pl.Float64)  # calendar days since the row before
    usual = step.rolling_median(window_size=SPACING_STEPS)  # NULL until SPACING_STEPS steps exist
    widest = step.rolling_max(window_size=horizon).shift(-horizon)  # the widest step in (t, t + h]
    future = (pl.col("close").shift(-horizon) / pl.col("close")).log()
    fwd = pl.when(widest <= max_gap * usual).then(future)  # NULL: a gap, no usual spacing, no future
    return (
        stg_prices.select("asset_id", "ts", "close")
        .sort("asset_id", "ts")
        .with_columns(fwd.over("asset_id").cast(pl.Float64).alias(name))
        .select(
            pl.col("asset_id").cast(pl.Int32),
            "ts",
            name,
            pl.when(pl.col(name) > 0)
            .then(1)
            .when(pl.col(name) < 0)
            .then(0)
            .otherwise(None)
            .cast(pl.Int32)
            .alias("label_up"),
        )
    )
