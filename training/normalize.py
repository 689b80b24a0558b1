"""Z-score normalisation fitted on training rows only, and stored with the dataset.

*Training rows* are the rows of ``training_set`` whose date is on or before the training boundary
(``ts <= train_end``), all assets, NULL/NaN values ignored; the statistics are the population mean
and standard deviation per feature (``global``), or per feature and asset (``per_asset``; an asset with
no training rows, e.g. one listed after the boundary, falls back to the global statistics). A zero or
undefined standard deviation becomes 1. Validation, test and inference reuse the same
:class:`NormStats` (pass ``stats=train_ds.stats``, or let the loader refit them from the same rows).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from features.config import NORMALIZE_MODES
from features.errors import ConfigError
from features.warehouse import first_row, quote_ident

_FILL_ROWS = 1 << 16  # rows per step of normalize_block's NaN fill: its mask is never a full (N, F) array


@dataclass(frozen=True, eq=False)
class NormStats:
    mode: str  # global | per_asset | none
    feature_names: tuple[str, ...]
    mean: np.ndarray  # (F,) for global/none, (num_embeddings, F) for per_asset; float64
    std: np.ndarray  # same shape as mean; never 0
    fitted_until: dt.date | None  # the training boundary the rows were cut at

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form, for checkpoints and run logs."""
        return {
            "mode": self.mode,
            "feature_names": list(self.feature_names),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "fitted_until": None if self.fitted_until is None else self.fitted_until.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormStats:
        until = data.get("fitted_until")
        return cls(
            mode=data["mode"],
            feature_names=tuple(data["feature_names"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            std=np.asarray(data["std"], dtype=np.float64),
            fitted_until=None if until is None else dt.date.fromisoformat(until),
        )

    def apply_(self, block: np.ndarray, seg_start: np.ndarray, seg_asset: np.ndarray) -> None:
        """Normalise ``block`` (N, F) float32 in place; rows are grouped in asset segments."""
        if self.mode == "none":
            return
        if self.mode == "global":
            block -= self.mean.astype(np.float32)  # in place: no second (N, F) block
            block /= self.std.astype(np.float32)
            return
        bounds = [*seg_start.tolist(), len(block)]
        mean, std = self.mean.astype(np.float32), self.std.astype(np.float32)
        for i, asset in enumerate(seg_asset.tolist()):  # one slice per asset, not per row
            part = block[bounds[i] : bounds[i + 1]]
            part -= mean[asset]
            part /= std[asset]

    def check_features(self, feature_names: tuple[str, ...]) -> None:
        if self.feature_names != tuple(feature_names):
            raise ConfigError(
                "the normalisation statistics were fitted on other features: "
                f"{list(self.feature_names)} vs {list(feature_names)}",
                hint="fit them again on this data (leave stats= out)",
            )


def _clean(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    return mean, std


def fit_stats(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    feature_names: tuple[str, ...],
    train_end: dt.date,
    mode: str,
    num_embeddings: int,
) -> NormStats:
    """Fit z-score statistics in DuckDB over the training rows (``ts <= train_end``) alone."""
    if mode not in NORMALIZE_MODES:
        raise ConfigError(f"[loader] normalize = {mode!r}: choose one of {', '.join(NORMALIZE_MODES)}")
    f = len(feature_names)
    if mode == "none":
        return NormStats(mode, tuple(feature_names), np.zeros(f), np.ones(f), None)
    # NaN counts as missing, like NULL: nullif(x, 'nan') drops it from the aggregates.
    vals = [f"nullif({quote_ident(c)}::double, 'nan'::double)" for c in feature_names]
    aggs = ", ".join(f"avg({v}), stddev_pop({v})" for v in vals)
    row = first_row(con, f"select {aggs} from {relation} where ts <= ?", [train_end])
    both = np.array([np.nan if v is None else float(v) for v in row], dtype=np.float64)
    g_mean, g_std = _clean(both[0::2], both[1::2])
    if mode == "global":
        return NormStats(mode, tuple(feature_names), g_mean, g_std, train_end)
    rows = con.execute(
        f"select asset_id, {aggs} from {relation} where ts <= ? group by asset_id order by asset_id",
        [train_end],
    ).fetchall()
    mean = np.tile(g_mean, (num_embeddings, 1))
    std = np.tile(g_std, (num_embeddings, 1))
    for asset, *values in rows:  # one row per asset (~hundreds), not per sample
        arr = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        m, s = arr[0::2], arr[1::2]
        # A feature with no training values for this asset falls back to the global statistics.
        mean[asset] = np.where(np.isfinite(m), m, g_mean)
        std[asset] = np.where(np.isfinite(s), np.where(s > 0, s, 1.0), g_std)
    return NormStats(mode, tuple(feature_names), mean, std, train_end)


def normalize_block(
    block: np.ndarray, f: int, stats: NormStats, seg_start: np.ndarray, seg_asset: np.ndarray, *, fill: bool
) -> None:
    """z-score the first ``f`` channels of ``block`` in place (rows in asset segments ``seg_start`` /
    ``seg_asset``); with ``fill``, NaN → 0 (the training mean), and any channels past ``f`` become the
    0/1 missing indicators. Row range by row range, so the NaN mask is never a full (N, F) array."""
    stats.apply_(block[:, :f], seg_start, seg_asset)
    if not fill:
        return
    indicator = block.shape[1] > f
    for a in range(0, len(block), _FILL_ROWS):
        part = block[a : a + _FILL_ROWS, :f]
        holes = np.isnan(part)
        if indicator:
            block[a : a + _FILL_ROWS, f:] = holes
        np.copyto(part, 0.0, where=holes)  # 0 after z-scoring = the training mean


__all__ = ["NormStats", "fit_stats", "normalize_block"]
