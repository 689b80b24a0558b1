"""Leak-free training windows from DuckDB at memory-bandwidth speed: :class:`WindowDataset`.

A sample is the window of the last ``lookback`` feature rows of one asset, that asset's ID and the
label at the window's last date (its *label date*)::

    X          (n, lookback, n_features)  float32
    asset_ids  (n,)                       int64   (rows of nn.Embedding(num_embeddings, ·))
    y          (n,)                       float32 (label_up as 0/1, or fwd_ret_{h}d)

Loading, in order:

1. read the row metadata (asset, date, label, "all features present") — DuckDB → Arrow → Polars;
2. resolve split boundaries and pick the split's samples (``training.splits``: purge, embargo),
   skipping warm-up rows, incomplete windows (``missing="drop"``) and assets too short for one window;
3. read only the feature rows those windows touch into one contiguous float32 block (N, C), sorted by
   (asset, date), in Arrow batches so no second full-size copy exists;
4. z-score it with statistics fitted on the training rows alone (``training.normalize``);
5. keep the block row where each sample's window starts. In a strided view of the block every window
   is a contiguous run of lookback·C floats, so a batch is one gather (numpy fancy indexing on the
   CPU, ``index_select`` on a GPU), never a Python loop over samples.

Missing values: ``drop`` skips every window with a NULL/NaN feature; ``fill`` sets them to 0 after
normalisation (the training mean) and, with ``missing_indicator``, adds one 0/1 channel per feature
(``<feature>__missing``). Either way the warm-up rows at the start of a series (before the first row
with every feature present) never form windows, and assets with fewer than ``lookback + h`` rows after
warm-up are skipped and listed in :attr:`WindowDataset.skipped_assets`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
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


class _Rows:
    """Metadata of every row of the source, sorted by (asset, date), and its per-asset segments."""

    def __init__(self, con: duckdb.DuckDBPyConnection, source: Source, label: str) -> None:
        missing = " or ".join(f"coalesce(isnan({_quote(f)}::double), true)" for f in source.feature_names)
        sql = (
            f"select asset_id::integer as asset_id, (ts::date - date '1970-01-01')::integer as day,"
            f" {_quote(label)}::double as y, not ({missing}) as complete"
            f" from {source.relation} order by asset_id, ts"
        )
        cols = _arrow_columns(con.sql(sql).to_arrow_table())  # DuckDB → Arrow → Polars, no per-row Python
        self.asset = cols["asset_id"]
        self.day = cols["day"]
        self.y = cols["y"].astype(np.float32)  # NULL → NaN; y is float32 in every batch anyway
        self.complete = cols["complete"].astype(bool, copy=False)
        n = len(self.asset)
        dup = (self.asset[1:] == self.asset[:-1]) & (self.day[1:] == self.day[:-1])
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise TrainingError(
                f"training_set has more than one row for asset_id {self.asset[i]} on "
                f"{np.datetime64(int(self.day[i]), 'D')}; the loader needs one row per asset and date"
            )
        change = np.flatnonzero(self.asset[1:] != self.asset[:-1]) + 1
        self.seg_start = np.r_[0, change] if n else np.zeros(0, np.int64)
        self.seg_len = np.diff(np.r_[self.seg_start, n])
        self.seg_asset = self.asset[self.seg_start]
        self.seg_of_row = np.repeat(np.arange(len(self.seg_start), dtype=np.int32), self.seg_len)
        # int32 per-row metadata: it is the largest thing next to the block
        self.pos = (np.arange(n) - self.seg_start[self.seg_of_row]).astype(
            np.int32
        )  # row index within its asset
        # Warm-up: rows before the first row with every feature present never enter a window.
        big = np.iinfo(np.int32).max
        first = np.where(self.complete, self.pos, big)
        self.warmup = np.minimum.reduceat(first, self.seg_start) if n else np.zeros(0, np.int64)
        self.warmup = np.minimum(self.warmup, self.seg_len)

    def __len__(self) -> int:
        return len(self.asset)


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
        self.label_dates = np.asarray(label_dates, dtype="datetime64[D]")
        self.device = _resolve_device(device)
        # Where the block lives: on the GPU (gathers run there) unless asked to stay in host memory.
        host = torch.device("cpu")
        self.block_device = self.device if block_on_device else host
        self._stage = self.device.type == "cuda" and self.block_device.type == "cpu"
        block = np.ascontiguousarray(block)
        self._block = torch.from_numpy(block).to(self.block_device)  # zero-copy on the CPU
        self._starts = torch.from_numpy(np.asarray(starts, dtype=np.int64)).to(self.block_device)
        self._asset_ids = torch.from_numpy(np.asarray(asset_ids, dtype=np.int64)).to(self.block_device)
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
            return cls._load(
                con,
                project,
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
    ) -> WindowDataset:
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
        rows = _Rows(con, source, label_col)
        if not len(rows):
            raise TrainingError("training_set is empty", hint="run `fstore build` first")
        first, last = np.array([rows.day.min(), rows.day.max()]).astype("datetime64[D]").astype(dt.date)
        bounds = resolve_boundaries(project.splits, first, last, h)

        # --- which rows end a sample window (all vectorised over rows; no per-sample Python)
        seg = rows.seg_of_row
        first_end = rows.warmup + lookback - 1  # first row (within its asset) that can end a window
        short = rows.seg_len - rows.warmup < lookback + h  # too few rows after warm-up: skipped
        ok = (rows.pos >= first_end[seg]) & ~short[seg] & ~np.isnan(rows.y)
        ok &= (rows.pos - first_end[seg]) % stride == 0
        ok &= split_mask(split, rows.day, rows.pos, rows.seg_start, seg, bounds)
        if missing == "drop":  # a window is complete iff none of its L rows misses a feature
            gaps = np.r_[0, np.cumsum(~rows.complete, dtype=np.int32)]
            ends = np.arange(len(rows), dtype=np.int32)
            ok &= gaps[ends + 1] - gaps[np.maximum(ends - lookback + 1, 0)] == 0
        ends = np.flatnonzero(ok)  # global row index of each sample's last row, sorted (asset, date)

        # --- one block holding exactly the rows these windows read, asset by asset
        seg_of_end = seg[ends]
        used, first_idx = np.unique(seg_of_end, return_index=True)
        last_idx = np.r_[first_idx[1:], len(ends)] - 1
        lo = ends[first_idx] - lookback + 1 if len(ends) else np.zeros(0, np.int64)
        hi = ends[last_idx] if len(ends) else np.zeros(0, np.int64)
        lengths = hi - lo + 1
        offsets = np.r_[0, np.cumsum(lengths)[:-1]] if len(lengths) else np.zeros(0, np.int64)
        k = np.repeat(np.arange(len(used)), np.diff(np.r_[first_idx, len(ends)]))
        starts = offsets[k] + (ends - lo[k]) - lookback + 1  # block row where each window begins

        f = len(source.feature_names)
        channels = 2 * f if (missing == "fill" and indicator) else f
        block = np.empty((int(lengths.sum()), channels), dtype=np.float32)
        _read_block(con, source, rows, lo, hi, block[:, :f])

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
        if missing == "fill":
            holes = np.isnan(block[:, :f])  # (N, F) bool: a quarter of the block, freed below
            if indicator:
                block[:, f:] = holes
        stats.apply_(block[:, :f], offsets, rows.seg_asset[used])
        if missing == "fill":
            np.copyto(block[:, :f], 0.0, where=holes)  # 0 after z-scoring = the training mean
            del holes

        names = source.feature_names
        if channels > f:
            names = (*names, *(f"{n}__missing" for n in names))
        skipped = _skipped_assets(con, source, rows.seg_asset[short], (rows.seg_len - rows.warmup)[short])
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
            starts=starts,
            asset_ids=rows.asset[ends].astype(np.int64),
            y=rows.y[ends].astype(np.float32),
            label_dates=rows.day[ends].astype("datetime64[D]"),
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
        ids, y = self._asset_ids.index_select(0, idx), self._y.index_select(0, idx)
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
        if not shuffle:
            return torch.arange(n, device=dev)
        # Drawn where the block lives: a CPU randperm plus copy would cost more than a GPU epoch's gathers.
        return torch.randperm(n, generator=torch.Generator(dev).manual_seed(seed), device=dev)

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
        # One permutation per epoch (three gathers), so a batch is slices plus one window gather.
        starts, ids, ys = (t.index_select(0, order) for t in (self._starts, self._asset_ids, self._y))
        if self._stage:
            for a in range(0, stop, batch_size):
                yield self._staged_batch(
                    starts[a : a + batch_size], ids[a : a + batch_size], ys[a : a + batch_size]
                )
            return
        # On a GPU a batch is launch-bound (~10 us per kernel), so gather up to _GPU_CHUNK_BYTES of
        # windows in one kernel and hand out slices of it; on the CPU gather batch by batch.
        per_batch = batch_size * self.lookback * self.num_features * 4
        group = max(1, _GPU_CHUNK_BYTES // per_batch) if self.block_device.type == "cuda" else 1
        for a in range(0, stop, batch_size * group):
            b = min(a + batch_size * group, stop)
            xs = self._gather_rows(starts[a:b])  # (≤ group·B, L, C)
            for k in range(a, b, batch_size):
                yield xs[k - a : k - a + batch_size], ids[k : k + batch_size], ys[k : k + batch_size]

    def _date_batches(self, shuffle: bool, seed: int) -> Iterator[Batch]:
        days = self.label_dates.astype(np.int64)
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
        return x, self._asset_ids[i], self._y[i]

    def to_arrays(self, chunk: int = 65536) -> dict[str, np.ndarray]:
        """Every sample materialised: X (n, L, C) float32, asset_ids (n,) int64, y (n,) float32, label_dates."""
        n = len(self)
        x = np.empty((n, self.lookback, self.num_features), dtype=np.float32)
        for a in range(0, n, chunk):  # chunked so a GPU block never needs a second full-size copy
            idx = torch.arange(a, min(a + chunk, n), device=self.block_device)
            x[a : a + len(idx)] = self.gather(idx).cpu().numpy()
        return {
            "X": x,
            "asset_ids": self._asset_ids.cpu().numpy(),
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
    con: duckdb.DuckDBPyConnection,
    source: Source,
    rows: _Rows,
    lo: np.ndarray,
    hi: np.ndarray,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (N, F) with the feature rows lo..hi of each asset, in (asset, date) order."""
    if not len(lo):
        return
    # The ranges go in as a VALUES list (one row per asset): registering an Arrow table would make
    # DuckDB import pandas, ~20 MB and ~0.5 s before the first batch.
    values = ", ".join(
        f"({int(a)}, {int(d0)}, {int(d1)})"
        for a, d0, d1 in zip(rows.asset[lo], rows.day[lo], rows.day[hi], strict=True)
    )
    cols = ", ".join(f"t.{_quote(f)}::float" for f in source.feature_names)  # float32 straight from DuckDB
    sql = (
        f"with r(asset_id, lo, hi) as (values {values})"
        f" select {cols} from {source.relation} t join r on t.asset_id = r.asset_id"
        f" and (t.ts::date - date '1970-01-01')::integer between r.lo and r.hi order by t.asset_id, t.ts"
    )
    at = 0
    for batch in con.sql(sql).to_arrow_reader(_READ_ROWS):
        part = _arrow_matrix(batch)  # (rows, F) float32; NULL → NaN
        out[at : at + len(part)] = part
        at += len(part)
    if at != len(out):
        raise TrainingError(f"training_set changed while it was read ({at} rows, expected {len(out)})")


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
