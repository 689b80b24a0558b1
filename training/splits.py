"""Date splits with purge and embargo: which rows of ``training_set`` may be a split's samples.

A sample is the window that ends at row ``t`` of one asset; its *label date* is ``ts[t]`` and its label
looks ``h`` rows ahead (to row ``t + h`` of the same asset). Rules, all counted in rows of that asset:

* the sample belongs to the split of its label date: train ``<= train_end``, valid
  ``(train_end, valid_end]``, test ``> valid_end``;
* purge: a sample whose label reaches past its split's end boundary (``ts[t + h] > end``) is dropped,
  so no training label is ever realised on a validation date (same for valid → test);
* embargo: the first ``E`` rows after each boundary form no samples (``E`` defaults to ``h``);
* windows read features from earlier rows, also across a boundary: features are the past, labels never.

Boundaries are ISO dates or fractions of the data's date range (``min(ts) + frac · (max - min)``),
so they depend only on the dates, never on label values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import numpy as np

from features.config import SPLITS, SplitsConfig
from features.errors import ConfigError


@dataclass(frozen=True)
class SplitBoundaries:
    train_end: dt.date  # last label date of the training split
    valid_end: dt.date  # last label date of the validation split
    horizon: int  # label horizon h in rows
    embargo: int  # rows after each boundary that form no samples

    def describe(self) -> dict[str, str | int]:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(self).items()}


def _boundary(text: str, key: str, first: dt.date, last: dt.date) -> dt.date:
    text = str(text).strip()
    try:
        frac = float(text)
    except ValueError:
        frac = None
    if frac is not None:
        if not 0.0 < frac < 1.0:
            raise ConfigError(f"[splits] {key} = {text!r}: a fraction must lie strictly between 0 and 1")
        return first + dt.timedelta(days=round(frac * (last - first).days))
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"[splits] {key} = {text!r} is neither an ISO date (2024-01-31) nor a fraction (0.7)"
        ) from None


def resolve_boundaries(splits: SplitsConfig, first: dt.date, last: dt.date, horizon: int) -> SplitBoundaries:
    """Turn the config's dates or fractions into dates over the data's range ``[first, last]``."""
    if horizon < 1:
        raise ConfigError(f"[features] horizon must be at least 1, got {horizon}")
    train_end = _boundary(splits.train_end, "train_end", first, last)
    valid_end = _boundary(splits.valid_end, "valid_end", first, last)
    if not train_end < valid_end:
        raise ConfigError(
            f"[splits] train_end ({train_end}) must come before valid_end ({valid_end})",
            hint="use increasing fractions (0.7, 0.85) or increasing dates",
        )
    embargo = horizon if splits.embargo == -1 else splits.embargo
    if embargo < 0:
        raise ConfigError(
            f"[splits] embargo must be -1 (= horizon) or a row count >= 0, got {splits.embargo}"
        )
    return SplitBoundaries(train_end=train_end, valid_end=valid_end, horizon=horizon, embargo=embargo)


def _per_asset_count(flag: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
    """Per asset: how many of its rows have ``flag`` set (``flag`` is a prefix within each asset)."""
    if not len(flag):
        return np.zeros(0, np.int32)
    return np.add.reduceat(flag, seg_start, dtype=np.int32)


def split_mask(
    split: str,
    days: np.ndarray,
    pos: np.ndarray,
    seg_start: np.ndarray,
    seg_of_row: np.ndarray,
    bounds: SplitBoundaries,
) -> np.ndarray:
    """Rows (sorted by asset, date) whose label date makes them samples of ``split``, purge and embargo applied.

    ``days``: row dates as int days since 1970-01-01; ``pos``: row index within its asset;
    ``seg_start``: first row of each asset; ``seg_of_row``: each row's asset segment.
    """
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} (choose {', '.join(SPLITS[:-1])} or {SPLITS[-1]})")
    epoch = dt.date(1970, 1, 1)
    train_end = (bounds.train_end - epoch).days
    valid_end = (bounds.valid_end - epoch).days
    h, e = bounds.horizon, bounds.embargo
    # Dates are sorted within an asset, so "rows up to a boundary" is a prefix of each asset: k rows.
    # The rules are applied per asset (t + h < k is t < k - h), so each costs one int32 gather per row.
    k_train = _per_asset_count(days <= train_end, seg_start)
    if split == "train":
        return pos < (k_train - h)[seg_of_row]  # purge: row t + h, where the label is realised, <= train_end
    k_valid = _per_asset_count(days <= valid_end, seg_start)
    if split == "valid":
        mask = pos >= (k_train + e)[seg_of_row]
        mask &= pos < (k_valid - h)[seg_of_row]
        return mask
    return pos >= (k_valid + e)[seg_of_row]


__all__ = ["SplitBoundaries", "resolve_boundaries", "split_mask"]
