"""Which windows each split serves, planned from the row metadata alone (no feature value is read).

    label_horizon / label_column   the horizon the data's labels were built with, the label to serve
    date_range                     the first and last date of the data (split fractions resolve on it)
    plan_splits                    per split: each sample's compact arrays and each asset's block range
    check_some_windows             a lookback longer than every asset's history is an error naming it

Rules (vectorised over rows, no per-sample Python): a row ends a window when it is past its asset's
warm-up (the rows before the first one with every feature *the asset has* present; a feature it never
has, e.g. ``hl_range`` of a close-only series, is filled instead, see
:func:`training.reading.absent_features`) by ``lookback - 1`` rows, on the stride, has a label,
belongs to the split (``training.splits``: purge and embargo) and, with ``missing="drop"``, none of
the window's rows misses a feature the asset has. Assets with fewer than ``lookback + horizon`` rows
after warm-up form no windows and are reported as skipped.

The ``latest`` split (for prediction) is each asset's newest row that ends a complete window, on or
before ``as_of`` when given: past warm-up by ``lookback - 1`` rows and, with ``missing="drop"``, no
missing feature in the window; no label, stride or split boundary is required.

The split-independent rules are applied once for every split asked for, and each per-row array is
dropped as soon as the last split is done with it, so the row metadata is gone before any block is
allocated.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from features.choices import LATEST_SPLIT
from features.config import Project
from features.errors import ConfigError
from training.reading import Rows
from training.source import Source
from training.splits import SplitBoundaries, split_mask


def index_dtype(n: int) -> type[np.signedinteger]:
    """The narrowest of int32/int64 that indexes ``n`` items."""
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


def id_dtype(num_embeddings: int) -> type[np.signedinteger]:
    """Compact storage for asset IDs (widened to int64 per batch)."""
    if num_embeddings <= np.iinfo(np.int16).max + 1:
        return np.int16
    return index_dtype(num_embeddings)


# --------------------------------------------------------------------------------------- what to serve


def label_horizon(source: Source, project: Project) -> int:
    """The label horizon h the data was built with: from its ``fwd_ret_{h}d`` column, else the config.

    Purge and embargo must use the horizon of the labels actually in the data; a project config that
    says otherwise means the warehouse is stale, which is an error rather than a silent leak.
    """
    found = sorted(
        {int(m.group(1)) for c in source.label_columns if (m := re.fullmatch(r"fwd_ret_(\d+)d", c))}
    )
    if len(found) != 1:
        return project.features.horizon
    h = found[0]
    if project.config_file is not None and project.features.horizon != h:
        raise ConfigError(
            f"training_set's labels look {h} rows ahead (fwd_ret_{h}d) but [features] horizon = "
            f"{project.features.horizon}",
            file=project.config_file,
            hint="run `fstore build` so the labels follow the config (or set the horizon back)",
        )
    return h


def label_column(name: str, available: tuple[str, ...], horizon: int) -> str:
    """``name`` with ``{h}`` filled in; it must be one of the data's label columns."""
    name = name.replace("{h}", str(horizon))
    if name not in available:
        raise ConfigError(
            f"label column {name!r} is not in training_set (label columns: {', '.join(available) or 'none'})",
            hint="set [loader] label in config/project.toml, or pass label=",
        )
    return name


def date_range(rows: Rows) -> tuple[dt.date, dt.date]:
    """The first and last date of the rows."""
    first, last = np.array([rows.day.min(), rows.day.max()]).astype("datetime64[D]").astype(dt.date)
    return first, last


# --------------------------------------------------------------------------------------- row segments


@dataclass
class _Segments:
    """Each asset's run of rows (``seg_*``: one entry per asset) and each row's place in it."""

    seg_start: np.ndarray  # first row of each asset
    seg_len: np.ndarray
    seg_asset: np.ndarray  # asset ID of each segment
    seg_of_row: np.ndarray | None  # int32 segment of each row
    pos: np.ndarray | None  # row index within its asset (int32 when the rows allow)
    warmup: np.ndarray  # rows before the first one with every feature the asset has, per asset


def _segments(rows: Rows) -> _Segments:
    n = len(rows)
    change = np.flatnonzero(rows.asset[1:] != rows.asset[:-1]) + 1
    seg_start = np.r_[0, change] if n else np.zeros(0, np.int64)
    seg_len = np.diff(np.r_[seg_start, n])
    seg_of_row = np.repeat(np.arange(len(seg_start), dtype=np.int32), seg_len)
    # int32 per-row metadata: it is the largest thing next to the block
    itype = index_dtype(n)
    pos = np.arange(n, dtype=itype)
    pos -= seg_start.astype(itype)[seg_of_row]
    # Warm-up: rows before the first row with every feature the asset has never enter a window.
    first = np.where(rows.complete, pos, np.iinfo(itype).max)
    warmup = np.minimum.reduceat(first, seg_start) if n else np.zeros(0, np.int64)
    del first
    return _Segments(seg_start, seg_len, rows.asset[seg_start], seg_of_row, pos, np.minimum(warmup, seg_len))


def _complete_windows(complete: np.ndarray, lookback: int) -> np.ndarray:
    """Per row: True when none of the ``lookback`` rows ending there (fewer at the start) misses a feature."""
    n = len(complete)
    itype = index_dtype(n + 1)
    gaps = np.zeros(n + 1, dtype=itype)  # gaps[e + 1] = incomplete rows among rows 0..e
    np.cumsum(~complete, dtype=itype, out=gaps[1:])
    out = np.empty(n, dtype=bool)
    k = min(lookback - 1, n)  # windows ending before row L - 1 start at row 0
    np.equal(gaps[1 : k + 1], 0, out=out[:k])
    if n >= lookback:
        np.equal(gaps[lookback:], gaps[: n - lookback + 1], out=out[lookback - 1 :])
    return out


def _window_ends(
    rows: Rows, seg: _Segments, lookback: int, stride: int, horizon: int, missing: str
) -> tuple[np.ndarray, np.ndarray]:
    """Rows that may end a window in any split, and which segments are too short for one window."""
    first_end = seg.warmup + lookback - 1  # first row (within its asset) that can end a window
    short = seg.seg_len - seg.warmup < lookback + horizon  # too few rows: skipped
    if first_end.max(initial=0) < np.iinfo(seg.pos.dtype).max:
        first_end = first_end.astype(seg.pos.dtype)  # same values, half the per-row temporaries
    ok = seg.pos >= first_end[seg.seg_of_row]
    ok &= ~short[seg.seg_of_row]
    ok &= ~np.isnan(rows.y)
    if stride > 1:
        ok &= (seg.pos - first_end[seg.seg_of_row]) % stride == 0
    if missing == "drop":  # a window is complete iff none of its L rows misses a feature
        ok &= _complete_windows(rows.complete, lookback)
    return ok, short


def _latest_ends(
    rows: Rows, seg: _Segments, lookback: int, missing: str, as_of: dt.date | None
) -> np.ndarray:
    """Per asset, the newest row (on or before ``as_of``) that ends a complete window; sorted."""
    ok = seg.pos >= (seg.warmup + lookback - 1)[seg.seg_of_row]
    if missing == "drop":
        ok &= _complete_windows(rows.complete, lookback)
    if as_of is not None:
        ok &= rows.day <= (as_of - dt.date(1970, 1, 1)).days
    idx = np.flatnonzero(ok)
    if not len(idx):
        return idx
    seg_of = seg.seg_of_row[idx]
    return idx[np.r_[seg_of[1:] != seg_of[:-1], True]]  # the last ok row of each asset


# --------------------------------------------------------------------------------------- plans


@dataclass
class Plan:
    """What one split needs: per sample, compact arrays; per asset with samples, its block range."""

    asset_ids: np.ndarray  # (n,) int16/int32
    y: np.ndarray  # (n,) float32
    days: np.ndarray  # (n,) int32 label day (days since 1970-01-01)
    starts: np.ndarray  # (n,) block row where each window begins
    assets: np.ndarray  # (A,) int64 asset IDs with samples, ascending
    lengths: np.ndarray  # (A,) block rows of each asset
    offsets: np.ndarray  # (A,) first block row of each asset
    lo_day: np.ndarray  # (A,) first day each asset's windows read
    hi_day: np.ndarray  # (A,) last day
    block_rows: int


@dataclass
class Plans:
    """Every split's plan, and the assets too short for one window (with their rows after warm-up)."""

    by_split: dict[str, Plan]
    skipped: np.ndarray
    skipped_usable: np.ndarray
    num_assets: int = 0  # assets with any row


def check_some_windows(plans: Plans, skipped: dict[str, int], lookback: int, horizon: int) -> None:
    """Refuse a lookback that no asset's history is long enough for, naming the longest history."""
    if not skipped or len(plans.skipped) < plans.num_assets:
        return
    symbol, longest = max(skipped.items(), key=lambda kv: (kv[1], kv[0]))
    raise ConfigError(
        f"lookback = {lookback:,} is longer than any asset's history: the longest, {symbol}, has "
        f"{longest:,} rows after its features' warm-up, and one window needs lookback + horizon = "
        f"{lookback + horizon:,} rows",
        hint=f"set [loader] lookback (or --lookback) to at most {max(longest - horizon, 1):,}",
    )


def plan_splits(
    rows: Rows,
    splits: Sequence[str],
    bounds: SplitBoundaries,
    *,
    lookback: int,
    stride: int,
    missing: str,
    num_embeddings: int,
    as_of: dt.date | None = None,
) -> Plans:
    """Plan ``splits`` from one pass over ``rows``; empties ``rows`` (its arrays are dropped as used).
    ``as_of``: the last date the ``latest`` split may end on (default: any)."""
    seg = _segments(rows)
    itype = index_dtype(len(rows))
    ends = {}  # row index of each sample's last row, sorted (asset, date)
    if LATEST_SPLIT in splits:
        ends[LATEST_SPLIT] = _latest_ends(rows, seg, lookback, missing, as_of).astype(itype, copy=False)
    ok, short = _window_ends(rows, seg, lookback, stride, bounds.horizon, missing)
    plans = Plans({}, seg.seg_asset[short], (seg.seg_len - seg.warmup)[short], len(seg.seg_start))
    rows.complete = None  # consumed
    for split in splits:
        if split != LATEST_SPLIT:
            mask = ok & split_mask(split, rows.day, seg.pos, seg.seg_start, seg.seg_of_row, bounds)
            ends[split] = np.flatnonzero(mask).astype(itype, copy=False)
    del ok
    seg.pos = None
    for split in splits:
        plans.by_split[split] = _plan(rows, seg, ends.pop(split), lookback, num_embeddings)
    rows.asset = rows.y = rows.day = None  # consumed
    seg.seg_of_row = None
    return plans


def _plan(rows: Rows, seg: _Segments, ends: np.ndarray, lookback: int, num_embeddings: int) -> Plan:
    """One split's plan from its window ends (row indices, sorted by asset and date)."""
    seg_of_end = seg.seg_of_row[ends]
    if len(ends):
        first_idx = np.r_[0, np.flatnonzero(seg_of_end[1:] != seg_of_end[:-1]) + 1]
    else:
        first_idx = np.zeros(0, np.int64)
    used = seg_of_end[first_idx]
    del seg_of_end
    # an empty split has no assets (np.r_[[], 0] - 1 would index row -1)
    last_idx = np.r_[first_idx[1:], len(ends)] - 1 if len(ends) else np.zeros(0, np.int64)
    lo = ends[first_idx].astype(np.int64) - lookback + 1
    hi = ends[last_idx].astype(np.int64)
    lengths = hi - lo + 1
    offsets = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    block_rows = int(lengths.sum())
    # block row where each window begins: offset of its asset + (end - lo) - lookback + 1
    itype = index_dtype(block_rows)
    k = np.repeat(np.arange(len(used), dtype=np.int32), np.diff(np.r_[first_idx, len(ends)]))
    starts = (offsets - lo - lookback + 1).astype(itype)[k]
    del k
    starts += ends.astype(itype, copy=False)
    return Plan(
        asset_ids=rows.asset[ends].astype(id_dtype(num_embeddings)),
        y=rows.y[ends],  # float32
        days=rows.day[ends],  # int32 days since 1970-01-01
        starts=starts,
        assets=seg.seg_asset[used].astype(np.int64),
        lengths=lengths,
        offsets=offsets,
        lo_day=rows.day[lo] if len(lo) else np.zeros(0, np.int32),
        hi_day=rows.day[hi] if len(hi) else np.zeros(0, np.int32),
        block_rows=block_rows,
    )


__all__ = [
    "Plan",
    "Plans",
    "check_some_windows",
    "date_range",
    "id_dtype",
    "index_dtype",
    "label_column",
    "label_horizon",
    "plan_splits",
]
