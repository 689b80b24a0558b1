"""Leak-free training windows from DuckDB at memory-bandwidth speed: :class:`WindowDataset`.

A sample is the window of the last ``lookback`` feature rows of one asset, that asset's ID and the
label at the window's last date (its *label date*)::

    X          (n, lookback, n_features)  float32
    asset_ids  (n,)                       int64   (rows of nn.Embedding(num_embeddings, ·))
    y          (n,)                       float32 (label_up as 0/1, or fwd_ret_{h}d)

Loading, in order (peak memory: the block, the per-sample arrays at 14 bytes a sample, and DuckDB):

1. read the row metadata (asset, date, label, "all features present") — DuckDB → Arrow → Polars →
   numpy, one Arrow record batch at a time into preallocated int32/float32/bool arrays, one sorted
   query per range of assets so DuckDB never holds (or sorts) more than a few MiB at once;
2. resolve split boundaries and pick the split's samples (``training.splits``: purge, embargo),
   skipping warm-up rows, incomplete windows (``missing="drop"``) and assets too short for one window;
   keep per sample only compact arrays (int32 window start and label day, int16/int32 asset ID,
   float32 label) and drop the per-row metadata before the block is allocated;
3. read only the feature rows those windows touch into one preallocated contiguous float32 block
   (N, C), sorted by (asset, date), asset range by asset range, each Arrow batch of float32 columns
   copied in as it arrives: no full-size Arrow, Polars or float64 copy of the table ever exists. A
   connection the loader opened itself has a 32 MiB buffer pool and is closed right after this step;
4. z-score it in place with statistics fitted on the training rows alone (``training.normalize``);
5. keep the block row where each sample's window starts. In a strided view of the block every window
   is a contiguous run of lookback·C floats, so a batch is one gather (numpy fancy indexing on the
   CPU, ``index_select`` on a GPU), never a Python loop over samples. Asset IDs are widened to int64
   per batch.

Missing values: ``drop`` skips every window with a NULL/NaN feature; ``fill`` sets them to 0 after
normalisation (the training mean) and, with ``missing_indicator``, adds one 0/1 channel per feature
(``<feature>__missing``). Either way the warm-up rows at the start of a series (before the first row
with every feature present) never form windows, and assets with fewer than ``lookback + h`` rows after
warm-up are skipped and listed in :attr:`WindowDataset.skipped_assets`.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import torch
from torch.utils.data import Dataset

from features.config import Project, find_project_root, load_project
from features.errors import ConfigError, FstoreError, TrainingError
from features.warehouse import connect
from training.normalize import MODES, NormStats, fit_stats
from training.snapshots import get_snapshot
from training.source import Source, check_asset_ids, warehouse_source
from training.splits import SPLITS, SplitBoundaries, resolve_boundaries, split_mask

MISSING = ("drop", "fill")
_READ_ROWS = 1 << 16  # Arrow batch size: bounds the transient copy that sits next to the block
# Bytes per DuckDB query: every read sorts (asset, date) inside DuckDB, which holds a query's whole
# result before the first row comes out, so reads go asset range by asset range to bound that copy.
_QUERY_BYTES = 8 << 20
# A connection the loader opened itself gets a small buffer pool: DuckDB otherwise keeps every column
# block it scanned cached (up to 80% of RAM), several times the float32 block on a large training_set.
# A query that needs more (an asset with millions of rows) is retried with 4x the limit.
_DUCKDB_MEMORY_MB = 32
_CPU_SEGMENT = 1 << 16  # samples permuted at a time by batches() on the CPU (no full-epoch copies)
_GPU_CHUNK_BYTES = 64 << 20  # windows gathered per kernel launch on a GPU (sliced into batches)

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]

try:
    import polars as pl
except ImportError:  # polars is a declared dependency; pyarrow alone also works (bare GPU images)
    pl = None


def _arrow_columns(table: pa.Table) -> dict[str, np.ndarray]:
    """Arrow → Polars → numpy, column by column (NULL → NaN in float columns); no per-row Python."""
    if pl is not None:
        df = pl.from_arrow(table)
        return {name: df.get_column(name).to_numpy() for name in df.columns}
    return {name: table.column(name).to_numpy() for name in table.column_names}


def _arrow_matrix(batch: pa.RecordBatch) -> np.ndarray:
    """An Arrow batch of float32 columns as one (rows, F) float32 array (NULL → NaN)."""
    if pl is not None:
        return pl.from_arrow(batch).to_numpy()
    cols = [c.to_numpy(zero_copy_only=False) for c in batch.columns]
    return np.stack(cols, axis=1).astype(np.float32, copy=False)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _resolve_device(device: str | torch.device) -> torch.device:
    text = str(device)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(text)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(
            f"device {text!r} asked for, but this machine has no CUDA device",
            hint='use device="auto" (CUDA when present, else CPU) or device="cpu"',
        )
    return dev


def _open(db_or_project: Any, project: Project | None) -> tuple[Project, duckdb.DuckDBPyConnection, bool]:
    """(project, connection, whether we opened it) from a Project, a folder, a .duckdb file or a connection."""
    if isinstance(db_or_project, duckdb.DuckDBPyConnection):
        return project or Project(root=Path.cwd()), db_or_project, False
    if db_or_project is None or isinstance(db_or_project, Project):
        project = db_or_project or project or load_project()
        return project, connect(project.warehouse_path, read_only=True), True
    path = Path(db_or_project)
    if path.is_dir():
        project = project or load_project(path)
        return project, connect(project.warehouse_path, read_only=True), True
    if project is None:
        try:
            project = load_project(find_project_root(path.resolve().parent))
        except ConfigError:
            project = Project(root=path.resolve().parent)  # a bare warehouse file: config defaults
    return project, connect(path, read_only=True), True


def _lean(con: duckdb.DuckDBPyConnection) -> None:
    """A connection the loader opened itself: a small buffer pool (see ``_DUCKDB_MEMORY_MB``)."""
    con.execute(f"set memory_limit = '{_DUCKDB_MEMORY_MB}MiB'")


def _read_sorted(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    write: Callable[[pa.RecordBatch, int], int],
    at: int,
    grow: bool,
) -> int:
    """Stream one (asset, date)-sorted query, batch by batch, into preallocated arrays through
    ``write(batch, at)`` (returns the rows written); returns the next position.

    ``grow``: the connection is the loader's own, with a small buffer pool; a query that needs more
    memory runs again from ``at`` with four times the limit (a caller's connection keeps its settings).
    """
    limit = _DUCKDB_MEMORY_MB
    while True:
        pos = at
        try:
            for batch in con.sql(sql).to_arrow_reader(_READ_ROWS):
                pos += write(batch, pos)
            return pos
        except duckdb.OutOfMemoryException:
            limit *= 4
            if not grow or limit > 64 << 10:
                raise
            con.execute(f"set memory_limit = '{limit}MiB'")


def _release_freed() -> None:
    """Give freed heap pages back to the OS (glibc keeps them otherwise); a no-op elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _horizon(source: Source, project: Project) -> int:
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


def _label_column(name: str, available: tuple[str, ...], horizon: int) -> str:
    name = name.replace("{h}", str(horizon))
    if name not in available:
        raise ConfigError(
            f"label column {name!r} is not in training_set (label columns: {', '.join(available) or 'none'})",
            hint="set [loader] label in config/project.toml, or pass label=",
        )
    return name


def _index_dtype(n: int) -> type[np.signedinteger]:
    """The narrowest of int32/int64 that indexes ``n`` items."""
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


def _id_dtype(num_embeddings: int) -> type[np.signedinteger]:
    """Compact storage for asset IDs (widened to int64 per batch)."""
    if num_embeddings <= np.iinfo(np.int16).max + 1:
        return np.int16
    return _index_dtype(num_embeddings)


def _asset_chunks(assets: np.ndarray, counts: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Split consecutive assets (sorted) into runs of at most ``limit`` rows (an asset is never split).

    Returns ``[(first, stop), ...]`` index ranges into ``assets``.
    """
    chunks: list[tuple[int, int]] = []
    first, rows = 0, 0
    for i, c in enumerate(counts.tolist()):  # one step per asset (~thousands), not per row
        if rows and rows + c > limit:
            chunks.append((first, i))
            first, rows = i, 0
        rows += c
    if len(counts):
        chunks.append((first, len(counts)))
    return chunks


class _Rows:
    """Metadata of every row of the source, sorted by (asset, date), and its per-asset segments.

    Read asset range by asset range straight into preallocated arrays (asset, day: int32; y: float32;
    complete: bool = 13 bytes a row); DuckDB never sorts or holds more than one range at a time.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, source: Source, label: str, grow: bool) -> None:
        per_asset = con.sql(
            f"select asset_id::integer, count(*) from {source.relation} where asset_id is not null"
            " group by 1 order by 1"
        ).fetchall()
        assets = np.array([a for a, _ in per_asset], dtype=np.int64)
        counts = np.array([c for _, c in per_asset], dtype=np.int64)
        n = int(counts.sum())
        self.asset = np.empty(n, dtype=np.int32)
        self.day = np.empty(n, dtype=np.int32)
        self.y = np.empty(n, dtype=np.float32)  # NULL → NaN; y is float32 in every batch anyway
        self.complete = np.empty(n, dtype=bool)
        missing = " or ".join(f"coalesce(isnan({_quote(f)}::double), true)" for f in source.feature_names)
        select = (
            f"select asset_id::integer as asset_id, (ts::date - date '1970-01-01')::integer as day,"
            f" {_quote(label)}::double as y, not ({missing}) as complete from {source.relation}"
        )

        def write(batch: pa.RecordBatch, at: int) -> int:
            cols = _arrow_columns(batch)  # DuckDB → Arrow → Polars → numpy, one batch at a time
            m = len(cols["asset_id"])
            if at + m > n:
                raise TrainingError("training_set changed while it was read (more rows than counted)")
            self.asset[at : at + m] = cols["asset_id"]
            self.day[at : at + m] = cols["day"]
            self.y[at : at + m] = cols["y"].astype(np.float32)
            self.complete[at : at + m] = cols["complete"]
            return m

        at = 0
        for i, j in _asset_chunks(assets, counts, _QUERY_BYTES // 48):  # ~48 bytes a row sorted in DuckDB
            where = f"asset_id between {int(assets[i])} and {int(assets[j - 1])}"
            at = _read_sorted(con, f"{select} where {where} order by asset_id, ts", write, at, grow)
        if at != n:
            raise TrainingError(f"training_set changed while it was read ({at} rows, expected {n})")
        dup = (self.asset[1:] == self.asset[:-1]) & (self.day[1:] == self.day[:-1])
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise TrainingError(
                f"training_set has more than one row for asset_id {self.asset[i]} on "
                f"{np.datetime64(int(self.day[i]), 'D')}; the loader needs one row per asset and date"
            )
        del dup
        change = np.flatnonzero(self.asset[1:] != self.asset[:-1]) + 1
        self.seg_start = np.r_[0, change] if n else np.zeros(0, np.int64)
        self.seg_len = np.diff(np.r_[self.seg_start, n])
        self.seg_asset = self.asset[self.seg_start]
        self.seg_of_row = np.repeat(np.arange(len(self.seg_start), dtype=np.int32), self.seg_len)
        # int32 per-row metadata: it is the largest thing next to the block
        itype = _index_dtype(n)
        self.pos = np.arange(n, dtype=itype)  # row index within its asset
        self.pos -= self.seg_start.astype(itype)[self.seg_of_row]
        # Warm-up: rows before the first row with every feature present never enter a window.
        big = np.iinfo(itype).max
        first = np.where(self.complete, self.pos, big)
        self.warmup = np.minimum.reduceat(first, self.seg_start) if n else np.zeros(0, np.int64)
        self.warmup = np.minimum(self.warmup, self.seg_len)

    def __len__(self) -> int:
        return len(self.asset)


def _complete_windows(complete: np.ndarray, lookback: int) -> np.ndarray:
    """Per row: True when none of the ``lookback`` rows ending there (fewer at the start) misses a feature."""
    n = len(complete)
    itype = _index_dtype(n + 1)
    gaps = np.zeros(n + 1, dtype=itype)  # gaps[e + 1] = incomplete rows among rows 0..e
    np.cumsum(~complete, dtype=itype, out=gaps[1:])
    out = np.empty(n, dtype=bool)
    k = min(lookback - 1, n)  # windows ending before row L - 1 start at row 0
    np.equal(gaps[1 : k + 1], 0, out=out[:k])
    if n >= lookback:
        np.equal(gaps[lookback:], gaps[: n - lookback + 1], out=out[lookback - 1 :])
    return out


class _Plan:
    """What one split needs from the rows: each sample (compact arrays) and each asset's block range.

    Vectorised over rows, no per-sample Python. Holds nothing per row, and drops each of ``rows``'
    per-row arrays as soon as it is used, so the row metadata is gone before the block is allocated.
    """

    def __init__(
        self,
        rows: _Rows,
        split: str,
        bounds: SplitBoundaries,
        lookback: int,
        stride: int,
        missing: str,
        num_embeddings: int,
    ) -> None:
        # --- which rows end a sample window
        seg = rows.seg_of_row
        first_end = rows.warmup + lookback - 1  # first row (within its asset) that can end a window
        short = rows.seg_len - rows.warmup < lookback + bounds.horizon  # too few rows: skipped
        if first_end.max(initial=0) < np.iinfo(rows.pos.dtype).max:
            first_end = first_end.astype(rows.pos.dtype)  # same values, half the per-row temporaries
        ok = rows.pos >= first_end[seg]
        ok &= ~short[seg]
        ok &= ~np.isnan(rows.y)
        if stride > 1:
            ok &= (rows.pos - first_end[seg]) % stride == 0
        ok &= split_mask(split, rows.day, rows.pos, rows.seg_start, seg, bounds)
        if missing == "drop":  # a window is complete iff none of its L rows misses a feature
            ok &= _complete_windows(rows.complete, lookback)
        self.skipped = rows.seg_asset[short]
        self.skipped_usable = (rows.seg_len - rows.warmup)[short]
        del first_end, short
        rows.pos = rows.complete = None  # consumed
        n_rows = len(rows.day)
        ends = np.flatnonzero(ok)  # row index of each sample's last row, sorted (asset, date)
        del ok
        ends = ends.astype(_index_dtype(n_rows), copy=False)

        # --- per sample: compact arrays (widened per batch)
        self.asset_ids = rows.asset[ends].astype(_id_dtype(num_embeddings))
        rows.asset = None
        self.y = rows.y[ends]  # float32
        rows.y = None
        self.days = rows.day[ends]  # int32 days since 1970-01-01

        # --- per asset with samples: the row range its windows read, and where it sits in the block
        seg_of_end = seg[ends]
        if len(ends):
            first_idx = np.r_[0, np.flatnonzero(seg_of_end[1:] != seg_of_end[:-1]) + 1]
        else:
            first_idx = np.zeros(0, np.int64)
        used = seg_of_end[first_idx]
        del seg_of_end
        rows.seg_of_row = seg = None
        last_idx = np.r_[first_idx[1:], len(ends)] - 1
        lo = ends[first_idx].astype(np.int64) - lookback + 1
        hi = ends[last_idx].astype(np.int64)
        self.lengths = hi - lo + 1
        self.offsets = np.r_[0, np.cumsum(self.lengths)[:-1]].astype(np.int64)
        self.block_rows = int(self.lengths.sum())
        self.assets = rows.seg_asset[used].astype(np.int64)
        self.lo_day = rows.day[lo] if len(lo) else np.zeros(0, np.int32)
        self.hi_day = rows.day[hi] if len(hi) else np.zeros(0, np.int32)
        rows.day = None
        # block row where each window begins: offset of its asset + (end - lo) - lookback + 1
        itype = _index_dtype(self.block_rows)
        k = np.repeat(np.arange(len(used), dtype=np.int32), np.diff(np.r_[first_idx, len(ends)]))
        self.starts = (self.offsets - lo - lookback + 1).astype(itype)[k]
        del k
        self.starts += ends.astype(itype, copy=False)
        del ends


class WindowDataset(Dataset):
    """One split of ``training_set`` as (X, asset_ids, y) windows; build it with :meth:`from_warehouse`."""

    def __init__(
        self,
        *,
        block: np.ndarray,
        starts: np.ndarray,
        asset_ids: np.ndarray,
        y: np.ndarray,
        label_dates: np.ndarray,
        lookback: int,
        feature_names: tuple[str, ...],
        num_embeddings: int,
        mapping_version: str | None,
        fingerprint: str,
        stats: NormStats,
        split: str = "train",
        stride: int = 1,
        boundaries: SplitBoundaries | None = None,
        skipped_assets: dict[str, int] | None = None,
        config: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
        block_on_device: bool = True,
    ) -> None:
        if block.ndim != 2 or block.dtype != np.float32:
            raise TrainingError("the window block must be a 2-D float32 array (rows, channels)")
        self.lookback = int(lookback)
        self.split = split
        self.stride = int(stride)
        self.feature_names = tuple(feature_names)
        self.num_embeddings = int(num_embeddings)
        self.mapping_version = mapping_version
        self.fingerprint = fingerprint
        self.stats = stats
        self.boundaries = boundaries
        self.skipped_assets = dict(skipped_assets or {})
        self.config = dict(config or {})
        dates = np.asarray(label_dates)
        if dates.dtype.kind == "M":
            dates = dates.astype("datetime64[D]").astype(np.int64)
        self._days = dates.astype(_index_dtype(int(np.abs(dates).max(initial=0)) + 1), copy=False)
        self.device = _resolve_device(device)
        # Where the block lives: on the GPU (gathers run there) unless asked to stay in host memory.
        host = torch.device("cpu")
        self.block_device = self.device if block_on_device else host
        self._stage = self.device.type == "cuda" and self.block_device.type == "cpu"
        block = np.ascontiguousarray(block)
        self._block = torch.from_numpy(block).to(self.block_device)  # zero-copy on the CPU
        # Per sample, compact: int32 window starts (when the block has < 2**31 rows), int16/int32 asset
        # IDs (widened to int64 per batch), float32 labels, int32 label days.
        starts = np.asarray(starts)
        starts = starts.astype(_index_dtype(len(block)), copy=False)
        ids = np.asarray(asset_ids)
        ids = ids.astype(_id_dtype(max(self.num_embeddings, int(ids.max(initial=0)) + 1)), copy=False)
        self._starts = torch.from_numpy(starts).to(self.block_device)
        self._asset_ids = torch.from_numpy(ids).to(self.block_device)
        self._y = torch.from_numpy(np.asarray(y, dtype=np.float32)).to(self.block_device)
        self._make_views()

    def _make_views(self) -> None:
        """The strided window views over the block (never pickled: they would materialise every window)."""
        n_rows, c = self._block.shape
        n_views = max(n_rows - self.lookback + 1, 0)
        # Window k = rows k..k+L-1 = one contiguous run of L·C floats starting at k·C: a strided view,
        # no copy, so a batch is a single gather (memcpy-like per window) on CPU or GPU.
        self._windows = torch.as_strided(self._block, (n_views, self.lookback * c), (c, 1))
        # On the CPU the gather is numpy fancy indexing over the same view: single-threaded (no OpenMP
        # barrier stalls on a busy machine) and its large outputs get huge pages (fewer page faults).
        self._np_windows = None
        if self.block_device.type == "cpu":
            self._np_windows = np.lib.stride_tricks.as_strided(
                self._block.numpy(), (n_views, self.lookback, c), (c * 4, c * 4, 4), writeable=False
            )  # (n_views, L, C) view of the block
        self._pinned: list[torch.Tensor] = []
        self._events: list[Any] = []
        self._turn = 0

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers (spawn) pickle the dataset: send the block once, rebuild the views there.
        views = ("_windows", "_np_windows", "_pinned", "_events")
        return {k: v for k, v in self.__dict__.items() if k not in views}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._make_views()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_warehouse(
        cls,
        db_or_project: Project | str | Path | duckdb.DuckDBPyConnection | None = None,
        split: str = "train",
        *,
        lookback: int | None = None,
        stride: int | None = None,
        normalize: str | None = None,
        missing: str | None = None,
        missing_indicator: bool | None = None,
        label: str | None = None,
        stats: NormStats | None = None,
        snapshot: str | None = None,
        device: str | torch.device = "cpu",
        block_on_device: bool = True,
        project: Project | None = None,
    ) -> WindowDataset:
        """Load one split (``train``/``valid``/``test``). Unset options come from ``[loader]`` in the config.

        ``db_or_project``: a Project, a project folder, a warehouse file, an open DuckDB connection, or
        None (the project around the current directory). ``stats``: reuse normalisation statistics
        (e.g. ``train_ds.stats``) instead of fitting them again from the same training rows.
        ``snapshot``: read a frozen ``fstore snapshot`` instead of the live ``training_set``.
        """
        project, con, owned = _open(db_or_project, project)
        try:
            if owned:
                _lean(con)
            return cls._load(
                con,
                project,
                owned=owned,
                split=split,
                lookback=project.loader.lookback if lookback is None else lookback,
                stride=project.loader.stride if stride is None else stride,
                normalize=normalize or project.loader.normalize,
                missing=missing or project.loader.missing,
                indicator=project.loader.missing_indicator
                if missing_indicator is None
                else missing_indicator,
                label=label or project.loader.label,
                stats=stats,
                snapshot=snapshot,
                device=device,
                block_on_device=block_on_device,
            )
        finally:
            if owned:
                con.close()

    @classmethod
    def _load(
        cls,
        con: duckdb.DuckDBPyConnection,
        project: Project,
        *,
        split: str,
        lookback: int,
        stride: int,
        normalize: str,
        missing: str,
        indicator: bool,
        label: str,
        stats: NormStats | None,
        snapshot: str | None,
        device: str | torch.device,
        block_on_device: bool,
        owned: bool = False,
    ) -> WindowDataset:
        """Read one split; ``owned``: the connection is the loader's own, closed once the block is read."""
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r} (choose train, valid or test)")
        if lookback < 1 or stride < 1:
            raise ConfigError(f"lookback and stride must be at least 1, got {lookback} and {stride}")
        if normalize not in MODES:
            raise ConfigError(f"[loader] normalize = {normalize!r}: choose one of {', '.join(MODES)}")
        if missing not in MISSING:
            raise ConfigError(f"[loader] missing = {missing!r}: choose drop or fill")
        device = _resolve_device(device)
        if snapshot:
            source = get_snapshot(con, snapshot, project.path(project.paths.snapshots)).source(con)
        else:
            source = warehouse_source(con)
        check_asset_ids(con, source)
        h = _horizon(source, project)
        label_col = _label_column(label, source.label_columns, h)
        rows = _Rows(con, source, label_col, grow=owned)
        if not len(rows):
            raise TrainingError("training_set is empty", hint="run `fstore build` first")
        first, last = np.array([rows.day.min(), rows.day.max()]).astype("datetime64[D]").astype(dt.date)
        bounds = resolve_boundaries(project.splits, first, last, h)
        plan = _Plan(rows, split, bounds, lookback, stride, missing, source.num_embeddings)
        del rows  # the per-row metadata goes before the block is allocated
        _release_freed()

        skipped = _skipped_assets(con, source, plan.skipped, plan.skipped_usable)
        if stats is None:
            stats = fit_stats(
                con, source.relation, source.feature_names, bounds.train_end, normalize, source.num_embeddings
            )
        else:
            stats.check_features(source.feature_names)
            if stats.mode == "per_asset" and stats.mean.shape[0] < source.num_embeddings:
                raise ConfigError(
                    f"per-asset statistics cover {stats.mean.shape[0]} asset IDs, the mapping now has "
                    f"{source.num_embeddings}",
                    hint="fit them again on this data (leave stats= out)",
                )

        # --- one block holding exactly the rows these windows read, asset by asset
        f = len(source.feature_names)
        channels = 2 * f if (missing == "fill" and indicator) else f
        block = np.empty((plan.block_rows, channels), dtype=np.float32)
        _read_block(con, source, plan, block[:, :f], grow=owned)
        if owned:
            con.close()  # DuckDB's instance and buffers go as soon as the block is read
        _normalize_block(block, f, stats, plan, fill=missing == "fill")

        names = source.feature_names
        if channels > f:
            names = (*names, *(f"{n}__missing" for n in names))
        config = {
            "split": split,
            "lookback": lookback,
            "stride": stride,
            "label": label_col,
            "normalize": stats.mode,
            "missing": missing,
            "missing_indicator": bool(channels > f),
            "boundaries": bounds.describe(),
            "snapshot": source.snapshot,
        }
        fingerprint = dataset_fingerprint(source, names, config)
        return cls(
            block=block,
            starts=plan.starts,
            asset_ids=plan.asset_ids,
            y=plan.y,
            label_dates=plan.days,
            lookback=lookback,
            feature_names=names,
            num_embeddings=source.num_embeddings,
            mapping_version=source.mapping_version,
            fingerprint=fingerprint,
            stats=stats,
            split=split,
            stride=stride,
            boundaries=bounds,
            skipped_assets=skipped,
            config=config,
            device=device,
            block_on_device=block_on_device,
        )

    # ------------------------------------------------------------------ sizes and metadata

    def __len__(self) -> int:
        return int(self._starts.shape[0])

    @property
    def label_dates(self) -> np.ndarray:
        """Each sample's label date, ``(n,)`` datetime64[D] (kept as int32 days; a new array each time)."""
        return self._days.astype("datetime64[D]")

    @property
    def num_features(self) -> int:
        """Channels per time step: ``X.shape[-1]`` (features, plus indicators when enabled)."""
        return int(self._block.shape[1])

    @property
    def block_bytes(self) -> int:
        return self._block.numel() * self._block.element_size()

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary: sizes, config, boundaries, fingerprint, skipped assets."""
        return {
            **self.config,
            "samples": len(self),
            "num_features": self.num_features,
            "num_embeddings": self.num_embeddings,
            "mapping_version": self.mapping_version,
            "fingerprint": self.fingerprint,
            "block_rows": int(self._block.shape[0]),
            "skipped_assets": self.skipped_assets,
        }

    # ------------------------------------------------------------------ gathering

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        """Windows of samples ``idx`` (on the block's device) as X (B, L, C), one gather."""
        return self._gather_rows(self._starts.index_select(0, idx))

    def _gather_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Windows starting at block rows ``rows`` as X (B, L, C)."""
        if self._np_windows is not None:
            return torch.from_numpy(self._np_windows[rows.numpy()])  # (B, L, C), a new array
        x = torch.index_select(self._windows, 0, rows)  # (B, L·C)
        return x.view(-1, self.lookback, self.num_features)  # (B, L, C)

    def _batch(self, idx: torch.Tensor) -> Batch:
        starts = self._starts.index_select(0, idx)
        ids, y = self._asset_ids.index_select(0, idx).long(), self._y.index_select(0, idx)
        if self._stage:
            return self._staged_batch(starts, ids, y)
        return self._gather_rows(starts), ids, y

    def _staged_batch(self, starts: torch.Tensor, ids: torch.Tensor, y: torch.Tensor) -> Batch:
        """Host block, CUDA consumer: gather into pinned memory, then an asynchronous copy."""
        b = int(starts.shape[0])
        width = self.lookback * self.num_features
        if not self._pinned or self._pinned[0].shape[0] < b:
            # Two pinned buffers: the gather into one overlaps the copy out of the other.
            self._pinned = [torch.empty((b, width), pin_memory=True) for _ in range(2)]
            self._events = [None, None]
        slot = self._turn % 2
        self._turn += 1
        if self._events[slot] is not None:
            self._events[slot].synchronize()  # the previous copy out of this buffer is done
        buf = self._pinned[slot][:b]
        torch.index_select(self._windows, 0, starts, out=buf)  # (B, L·C)
        x = buf.to(self.device, non_blocking=True).view(b, self.lookback, self.num_features)  # (B, L, C)
        event = torch.cuda.Event()
        event.record()
        self._events[slot] = event
        return x, ids.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def _order(self, shuffle: bool, seed: int) -> torch.Tensor:
        """Sample order for one epoch, on the block's device; the same seed gives the same order there."""
        n, dev = len(self), self.block_device
        # int32 on the CPU (half the memory; torch draws the same permutation as with int64)
        dtype = torch.int32 if dev.type == "cpu" and n < np.iinfo(np.int32).max else torch.int64
        if not shuffle:
            return torch.arange(n, device=dev, dtype=dtype)
        # Drawn where the block lives: a CPU randperm plus copy would cost more than a GPU epoch's gathers.
        return torch.randperm(n, generator=torch.Generator(dev).manual_seed(seed), device=dev, dtype=dtype)

    def batches(
        self,
        batch_size: int = 1024,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        *,
        by_date: bool = False,
        order: torch.Tensor | None = None,
    ) -> Iterator[Batch]:
        """Yield ``(X (B, L, C) float32, asset_ids (B,) int64, y (B,) float32)`` on ``device``.

        The same ``seed`` gives the same batches on the same kind of device (the shuffle is drawn where the
        block lives, so CPU and GPU orders differ). ``by_date=True``: each batch holds every sample of
        one label date (all assets at that date, for cross-sectional models); dates are visited in
        order, or shuffled with ``seed``; ``batch_size`` and ``drop_last`` are then unused.
        On a GPU, consecutive batches are slices of one gathered chunk (≤ 64 MiB) to save launches.
        ``order``: visit exactly these sample indices, in this order (``shuffle`` and ``seed`` are then
        unused); :mod:`training.distributed` passes one rank's shard of the epoch's permutation.
        """
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if by_date:
            yield from self._date_batches(shuffle, seed)
            return
        order = self._order(shuffle, seed) if order is None else order.to(self.block_device)
        stop = len(order) - len(order) % batch_size if drop_last else len(order)
        # On a GPU a batch is launch-bound (~10 us per kernel), so gather up to _GPU_CHUNK_BYTES of
        # windows in one kernel and hand out slices of it; on the CPU gather batch by batch.
        per_batch = batch_size * self.lookback * self.num_features * 4
        group = max(1, _GPU_CHUNK_BYTES // per_batch) if self.block_device.type == "cuda" else 1
        # The epoch's order is applied to starts, IDs and labels a segment at a time (three gathers per
        # segment): no full-epoch copies of them, and IDs are widened to int64 only here.
        segment = batch_size * max(group, _CPU_SEGMENT // batch_size, 1)
        for s0 in range(0, stop, segment):
            sel = order[s0 : min(s0 + segment, stop)]
            starts = self._starts.index_select(0, sel)
            ids = self._asset_ids.index_select(0, sel).long()
            ys = self._y.index_select(0, sel)
            n = len(sel)
            if self._stage:
                for a in range(0, n, batch_size):
                    yield self._staged_batch(
                        starts[a : a + batch_size], ids[a : a + batch_size], ys[a : a + batch_size]
                    )
                continue
            for a in range(0, n, batch_size * group):
                b = min(a + batch_size * group, n)
                xs = self._gather_rows(starts[a:b])  # (≤ group·B, L, C)
                for k in range(a, b, batch_size):
                    yield xs[k - a : k - a + batch_size], ids[k : k + batch_size], ys[k : k + batch_size]

    def _date_batches(self, shuffle: bool, seed: int) -> Iterator[Batch]:
        days = self._days
        order = np.argsort(days, kind="stable")
        cuts = np.flatnonzero(np.diff(days[order])) + 1
        groups = np.split(order, cuts) if len(order) else []
        visit = range(len(groups))
        if shuffle:
            visit = torch.randperm(len(groups), generator=torch.Generator().manual_seed(seed)).tolist()
        for g in visit:  # one step per date, not per sample
            yield self._batch(torch.from_numpy(groups[g]).to(self.block_device))

    def __iter__(self) -> Iterator[Batch]:
        return self.batches()

    # ------------------------------------------------------------------ Dataset view and export

    def __getitem__(self, i: int) -> Batch:
        """One sample ``(X (L, C), asset_id (), y ())`` on the block's device, for a DataLoader."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sample {i} out of range for {n} samples")
        row = int(self._starts[i])
        x = self._windows[row].view(self.lookback, self.num_features).clone()  # (L, C)
        return x, self._asset_ids[i].long(), self._y[i]

    def to_arrays(self, chunk: int = 65536) -> dict[str, np.ndarray]:
        """Every sample materialised: X (n, L, C) float32, asset_ids (n,) int64, y (n,) float32, label_dates."""
        n = len(self)
        x = np.empty((n, self.lookback, self.num_features), dtype=np.float32)
        for a in range(0, n, chunk):  # chunked so a GPU block never needs a second full-size copy
            idx = torch.arange(a, min(a + chunk, n), device=self.block_device)
            x[a : a + len(idx)] = self.gather(idx).cpu().numpy()
        return {
            "X": x,
            "asset_ids": self._asset_ids.cpu().numpy().astype(np.int64),
            "y": self._y.cpu().numpy(),
            "label_dates": self.label_dates.copy(),
        }


def dataset_fingerprint(source: Source, channels: tuple[str, ...], config: dict[str, Any]) -> str:
    """Hash of mapping version + training_set fingerprint + split and window config."""
    payload = {
        "mapping_version": source.mapping_version,
        "training_set": source.content_fingerprint,
        "channels": list(channels),
        **config,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_block(
    con: duckdb.DuckDBPyConnection, source: Source, plan: _Plan, out: np.ndarray, *, grow: bool
) -> None:
    """Fill ``out`` (N, F) with each asset's feature rows lo..hi, in (asset, date) order.

    One query per range of assets of about ``_QUERY_BYTES`` (DuckDB sorts a query's result before
    handing out its first row, so this bounds DuckDB's copy), streamed as Arrow record batches of
    float32 columns into ``out``: no full-size Arrow, Polars or float64 copy ever exists.
    """
    cols = ", ".join(f"t.{_quote(f)}::float" for f in source.feature_names)  # float32 from DuckDB

    def write(batch: pa.RecordBatch, at: int) -> int:
        part = _arrow_matrix(batch)  # (rows, F) float32; NULL → NaN
        if at + len(part) > len(out):
            raise TrainingError("training_set changed while it was read (more rows than expected)")
        out[at : at + len(part)] = part
        return len(part)

    at = 0
    per_query = _QUERY_BYTES // (4 * out.shape[1] + 32)  # float32 features + sort keys, per row
    for i, j in _asset_chunks(plan.assets, plan.lengths, per_query):
        # The ranges go in as a VALUES list (one row per asset): registering an Arrow table would make
        # DuckDB import pandas, ~20 MB and ~0.5 s before the first batch.
        values = ", ".join(
            f"({a}, {d0}, {d1})"
            for a, d0, d1 in zip(
                plan.assets[i:j].tolist(), plan.lo_day[i:j].tolist(), plan.hi_day[i:j].tolist(), strict=True
            )
        )
        sql = (
            f"with r(asset_id, lo, hi) as (values {values})"
            f" select {cols} from {source.relation} t join r on t.asset_id = r.asset_id"
            f" and (t.ts::date - date '1970-01-01')::integer between r.lo and r.hi"
            f" where t.asset_id between {int(plan.assets[i])} and {int(plan.assets[j - 1])}"
            f" order by t.asset_id, t.ts"
        )
        at = _read_sorted(con, sql, write, at, grow)
    if at != len(out):
        raise TrainingError(f"training_set changed while it was read ({at} rows, expected {len(out)})")


def _normalize_block(block: np.ndarray, f: int, stats: NormStats, plan: _Plan, *, fill: bool) -> None:
    """z-score the feature channels in place; with ``fill``, NaN → 0 (and the indicator channels).

    Row range by row range, so the NaN mask is never a full (N, F) array.
    """
    stats.apply_(block[:, :f], plan.offsets, plan.assets)
    if not fill:
        return
    indicator = block.shape[1] > f
    for a in range(0, len(block), _READ_ROWS):
        part = block[a : a + _READ_ROWS, :f]
        holes = np.isnan(part)
        if indicator:
            block[a : a + _READ_ROWS, f:] = holes
        np.copyto(part, 0.0, where=holes)  # 0 after z-scoring = the training mean


def _skipped_assets(
    con: duckdb.DuckDBPyConnection, source: Source, assets: np.ndarray, usable: np.ndarray
) -> dict[str, int]:
    """Symbol → rows after warm-up, for assets too short to form one window."""
    if not len(assets):
        return {}
    names = {int(a): str(int(a)) for a in assets}
    try:
        ids = ", ".join(str(int(a)) for a in assets)
        for a, sym in con.execute(
            f"select asset_id, any_value(symbol) from {source.relation} where asset_id in ({ids}) group by 1"
        ).fetchall():
            names[int(a)] = str(sym)
    except (duckdb.Error, FstoreError):
        pass  # no symbol column: report asset IDs
    return {names[int(a)]: int(u) for a, u in zip(assets, usable, strict=True)}
