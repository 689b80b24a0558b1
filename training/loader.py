"""Leak-free training windows from DuckDB at memory-bandwidth speed: :class:`WindowDataset`.

A sample is the window of the last ``lookback`` feature rows of one asset, that asset's ID and the
label at the window's last date (its *label date*)::

    X          (n, lookback, n_features)  float32
    asset_ids  (n,)                       int64   (rows of nn.Embedding(num_embeddings, ·))
    y          (n,)                       float32 (label_up as 0/1, or fwd_ret_{h}d)

Loading, in order (peak memory: the blocks, the per-sample arrays at 14 bytes a sample, and DuckDB),
for every split asked for from one open of the warehouse and one pass over its rows:

1. read the row metadata (asset, date, label, "all features present") — DuckDB → Arrow → Polars →
   numpy, one Arrow record batch at a time into preallocated int32/float32/bool arrays, one sorted
   query per range of assets so DuckDB never holds (or sorts) more than a few MiB at once
   (:mod:`training.reading`);
2. resolve split boundaries and pick each split's samples (:mod:`training.planning`, with
   :mod:`training.splits`: purge, embargo), skipping warm-up rows, incomplete windows
   (``missing="drop"``) and assets too short for one window; keep per sample only compact arrays
   (int32 window start and label day, int16/int32 asset ID, float32 label) and drop the per-row
   metadata before any block is allocated;
3. read only the feature rows a split's windows touch into one preallocated contiguous float32 block
   (N, C), sorted by (asset, date), asset range by asset range, each Arrow batch of float32 columns
   copied in as it arrives: no full-size Arrow, Polars or float64 copy of the table ever exists. A
   connection the loader opened itself has a 32 MiB buffer pool and is closed right after the last
   block is read;
4. z-score it in place with statistics fitted on the training rows alone (``training.normalize``);
5. keep the block row where each sample's window starts. In a strided view of the block every window
   is a contiguous run of lookback·C floats, so a batch is one gather (numpy fancy indexing on the
   CPU, ``index_select`` on a GPU), never a Python loop over samples. Asset IDs are widened to int64
   per batch.

Missing values: ``drop`` skips every window with a NULL/NaN in a feature its asset has; ``fill`` sets
them to 0 after normalisation (the training mean). A feature an asset *never* has (``hl_range`` and
``volume_z_20`` of a close-only series: no row has a value although the asset is past the feature's
warm-up, :func:`training.reading.absent_features`) is filled with 0 in both modes, never a reason to
drop the asset; the assets and features are listed in :attr:`WindowDataset.absent_features`. With
``missing_indicator`` one 0/1 channel per feature (``<feature>__missing``) flags every filled value.
Either way the warm-up rows at the start of a series (before the first row with every feature the
asset has) never form windows, and assets with fewer than ``lookback + h`` rows after warm-up are
skipped and listed in :attr:`WindowDataset.skipped_assets`; a lookback longer than every asset's
history is an error naming the longest.

The ``latest`` split serves prediction: each asset's newest complete window (on or before ``as_of``
when given), whether or not its label is known yet (``y`` is NaN then); see :mod:`training.planning`.

This module holds the serving side (:class:`WindowDataset`: batches, gathers, devices) and the few
lines that run the steps above in order (:func:`load_splits`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import torch
from torch.utils.data import Dataset

from features.choices import LATEST_SPLIT, LOADER_SPLITS
from features.config import MISSING_MODES, NORMALIZE_MODES, SPLITS, Project
from features.errors import ConfigError, TrainingError
from training.devices import resolve_device
from training.normalize import NormStats, fit_stats, normalize_block
from training.planning import (
    Plan,
    check_some_windows,
    date_range,
    id_dtype,
    index_dtype,
    label_column,
    label_horizon,
    plan_splits,
)
from training.reading import (
    asset_symbols,
    open_source,
    read_block,
    read_rows,
    release_freed,
    skipped_assets,
)
from training.snapshots import get_snapshot
from training.source import Source, check_asset_ids, warehouse_source
from training.splits import SplitBoundaries, resolve_boundaries

_CPU_SEGMENT = 1 << 16  # samples permuted at a time by batches() on the CPU (no full-epoch copies)
_GPU_CHUNK_BYTES = 64 << 20  # windows gathered per kernel launch on a GPU (sliced into batches)

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class LoadOptions:
    """How to cut windows: ``[loader]`` of the project, with any argument given overriding it."""

    lookback: int
    stride: int
    normalize: str
    missing: str
    indicator: bool
    label: str

    @classmethod
    def resolve(cls, project: Project, **given: Any) -> LoadOptions:
        """The project's ``[loader]`` values, replaced by the ``given`` ones that are not None."""
        cfg = project.loader
        defaults = cls(cfg.lookback, cfg.stride, cfg.normalize, cfg.missing, cfg.missing_indicator, cfg.label)
        picked = {k: v for k, v in given.items() if v is not None and v != ""}
        options = dataclasses.replace(defaults, **picked)
        options.check()
        return options

    def check(self) -> None:
        if self.lookback < 1 or self.stride < 1:
            raise ConfigError(
                f"lookback and stride must be at least 1, got {self.lookback} and {self.stride}"
            )
        if self.normalize not in NORMALIZE_MODES:
            raise ConfigError(
                f"[loader] normalize = {self.normalize!r}: choose one of {', '.join(NORMALIZE_MODES)}"
            )
        if self.missing not in MISSING_MODES:
            raise ConfigError(f"[loader] missing = {self.missing!r}: choose {' or '.join(MISSING_MODES)}")


class WindowDataset(Dataset):
    """One split of ``training_set`` as (X, asset_ids, y) windows; build it with :meth:`from_warehouse`
    (one split) or :meth:`splits` (several, from one read of the warehouse)."""

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
        absent_features: dict[str, tuple[str, ...]] | None = None,
        date_range: tuple[Any, Any] | None = None,
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
        self.absent_features = {k: tuple(v) for k, v in (absent_features or {}).items()}
        self.date_range = date_range  # the first and last date of the data the splits were cut from
        self.config = dict(config or {})
        dates = np.asarray(label_dates)
        if dates.dtype.kind == "M":
            dates = dates.astype("datetime64[D]").astype(np.int64)
        self._days = dates.astype(index_dtype(int(np.abs(dates).max(initial=0)) + 1), copy=False)
        self.device = resolve_device(device)
        # Where the block lives: on the GPU (gathers run there) unless asked to stay in host memory.
        host = torch.device("cpu")
        self.block_device = self.device if block_on_device else host
        self._stage = self.device.type == "cuda" and self.block_device.type == "cpu"
        block = np.ascontiguousarray(block)
        self._block = torch.from_numpy(block).to(self.block_device)  # zero-copy on the CPU
        # Per sample, compact: int32 window starts (when the block has < 2**31 rows), int16/int32 asset
        # IDs (widened to int64 per batch), float32 labels, int32 label days.
        starts = np.asarray(starts)
        starts = starts.astype(index_dtype(len(block)), copy=False)
        ids = np.asarray(asset_ids)
        ids = ids.astype(id_dtype(max(self.num_embeddings, int(ids.max(initial=0)) + 1)), copy=False)
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
        as_of: dt.date | None = None,
        progress: bool | None = False,
    ) -> WindowDataset:
        """Load one split (``train``/``valid``/``test``, or ``latest``: each asset's newest complete
        window on or before ``as_of``, label not required). Unset options come from ``[loader]``.

        ``db_or_project``: a Project, a project folder, a warehouse file, an open DuckDB connection, or
        None (the project around the current directory). ``stats``: reuse normalisation statistics
        (e.g. ``train_ds.stats``) instead of fitting them again from the same training rows.
        ``snapshot``: read a frozen ``fstore snapshot`` instead of the live ``training_set``.
        ``progress``: show the rows read on a bar (``None``: when stderr is a terminal).
        """
        loaded = cls.splits(
            db_or_project,
            (split,),
            lookback=lookback,
            stride=stride,
            normalize=normalize,
            missing=missing,
            missing_indicator=missing_indicator,
            label=label,
            stats=stats,
            snapshot=snapshot,
            device=device,
            block_on_device=block_on_device,
            project=project,
            as_of=as_of,
            progress=progress,
        )
        return loaded[split]

    @classmethod
    def splits(
        cls,
        db_or_project: Project | str | Path | duckdb.DuckDBPyConnection | None = None,
        names: Sequence[str] = SPLITS,
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
        as_of: dt.date | None = None,
        progress: bool | None = False,
    ) -> dict[str, WindowDataset]:
        """Load several splits (default: train, valid, test) from one open of the warehouse and one
        read of its row metadata; split name → dataset. Every split shares one :class:`NormStats`
        (fitted on the training rows, or ``stats``). Arguments as in :meth:`from_warehouse`."""
        from training.progress import progress_for

        project, con, owned = open_source(db_or_project, project)
        try:
            options = LoadOptions.resolve(
                project,
                lookback=lookback,
                stride=stride,
                normalize=normalize,
                missing=missing,
                indicator=missing_indicator,
                label=label,
            )
            with progress_for("loading windows", enabled=progress) as task:
                return load_splits(
                    con,
                    project,
                    names,
                    options,
                    stats=stats,
                    snapshot=snapshot,
                    device=device,
                    block_on_device=block_on_device,
                    owned=owned,
                    task=task,
                    as_of=as_of,
                )
        finally:
            if owned:
                con.close()

    # ------------------------------------------------------------------ sizes and metadata

    def __len__(self) -> int:
        return int(self._starts.shape[0])

    def asset_counts(self, minlength: int = 0) -> np.ndarray:
        """Samples per asset ID, ``(max(num_embeddings, minlength),)`` int64 (0 for IDs without a window)."""
        ids = self._asset_ids.cpu().numpy().astype(np.int64)
        return np.bincount(ids, minlength=max(self.num_embeddings, minlength))

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
        """A JSON-able summary: sizes, config, boundaries, fingerprint, skipped assets, absent features."""
        return {
            **self.config,
            "samples": len(self),
            "num_features": self.num_features,
            "num_embeddings": self.num_embeddings,
            "mapping_version": self.mapping_version,
            "fingerprint": self.fingerprint,
            "block_rows": int(self._block.shape[0]),
            "skipped_assets": self.skipped_assets,
            "absent_features": {k: list(v) for k, v in self.absent_features.items()},
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

    def to_arrays(self, chunk: int = 65536, *, task: Any = None) -> dict[str, np.ndarray]:
        """Every sample materialised: X (n, L, C) float32, asset_ids (n,) int64, y (n,) float32, label_dates.
        ``task``: a :class:`training.progress.Task` that counts the windows gathered."""
        n = len(self)
        x = np.empty((n, self.lookback, self.num_features), dtype=np.float32)
        if task is not None:
            task.reset("gathering windows", n)
        for a in range(0, n, chunk):  # chunked so a GPU block never needs a second full-size copy
            idx = torch.arange(a, min(a + chunk, n), device=self.block_device)
            x[a : a + len(idx)] = self.gather(idx).cpu().numpy()
            if task is not None:
                task.advance(len(idx))
        return {
            "X": x,
            "asset_ids": self._asset_ids.cpu().numpy().astype(np.int64),
            "y": self._y.cpu().numpy(),
            "label_dates": self.label_dates.copy(),
        }


def require_windows(data: dict[str, WindowDataset], splits: Any) -> None:
    """Refuse splits without a single window, naming the ``[splits]`` settings (``splits``: the project's
    :class:`~features.config.SplitsConfig`), the dates they resolve to and the data's date range."""
    empty = [name for name, ds in data.items() if len(ds) == 0]
    if not empty:
        return
    ds = data[empty[0]]
    b = ds.boundaries
    first, last = ds.date_range if ds.date_range else (None, None)
    held = {
        "train": f"label dates up to {b.train_end}",
        "valid": f"label dates after {b.train_end} up to {b.valid_end}",
        "test": f"label dates after {b.valid_end}",
    }
    causes = []
    for key, value, date in (
        ("train_end", splits.train_end, b.train_end),
        ("valid_end", splits.valid_end, b.valid_end),
    ):
        if last is not None and date >= last:
            causes.append(f"[splits] {key} = {value!r} is on or after the data's last date, {last}")
        elif first is not None and date < first:
            causes.append(f"[splits] {key} = {value!r} is before the data's first date, {first}")
    what = "; ".join(f"{name} ({held.get(name, name)})" for name in empty)
    raise ConfigError(
        f"no windows in the {' and '.join(empty)} split{'s' if len(empty) > 1 else ''}: {what}"
        + (f"; {'; '.join(causes)}" if causes else "")
        + (f". The data runs {first} .. {last}" if first is not None else ""),
        hint="set [splits] train_end and valid_end to dates inside the data (or fractions such as 0.7 and "
        "0.85), so that every split gets label dates after the purge and embargo",
    )


def dataset_fingerprint(source: Source, channels: tuple[str, ...], config: dict[str, Any]) -> str:
    """Hash of mapping version + training_set fingerprint + split and window config."""
    payload = {
        "mapping_version": source.mapping_version,
        "training_set": source.content_fingerprint,
        "channels": list(channels),
        **config,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------- loading


def load_splits(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    names: Sequence[str],
    options: LoadOptions,
    *,
    stats: NormStats | None,
    snapshot: str | None,
    device: str | torch.device,
    block_on_device: bool,
    owned: bool = False,
    as_of: dt.date | None = None,
    task: Any = None,
) -> dict[str, WindowDataset]:
    """The loading steps of the module docstring, in order, for every split in ``names``.

    ``owned``: the connection is the loader's own (lean; closed once the last block is read).
    ``as_of``: the last date a ``latest`` window may end on.
    ``task``: a :class:`training.progress.Task` that shows the rows read, step by step.
    """
    names = _check_splits(names)
    device = resolve_device(device)
    source = _source(con, project, snapshot)
    h = label_horizon(source, project)
    label = label_column(options.label, source.label_columns, h)
    # 1. row metadata, 2. plans (the per-row arrays are gone once this returns)
    rows = read_rows(con, source, label, grow=owned, task=task)
    if not len(rows):
        raise TrainingError("training_set is empty", hint="run `fstore build` first")
    first, last = date_range(rows)
    bounds = resolve_boundaries(project.splits, first, last, h)
    absent = rows.absent
    plans = plan_splits(
        rows,
        names,
        bounds,
        lookback=options.lookback,
        stride=options.stride,
        missing=options.missing,
        num_embeddings=source.num_embeddings,
        as_of=as_of,
    )
    del rows
    release_freed()
    skipped = skipped_assets(con, source, plans.skipped, plans.skipped_usable)
    check_some_windows(plans, skipped, options.lookback, h)
    symbols = asset_symbols(con, source, sorted(absent))
    absent_by_symbol = {symbols[a]: names_ for a, names_ in absent.items()}
    stats = _norm_stats(con, source, bounds, options.normalize, stats)
    # 3. the blocks; the loader's own connection goes as soon as they are read
    if task is not None:
        task.reset("reading windows", sum(plans.by_split[split].block_rows for split in names))
    blocks = {split: _read_block(con, source, plans.by_split[split], options, owned, task) for split in names}
    if owned:
        con.close()  # DuckDB's instance and buffers go as soon as the blocks are read
    # 4. normalise, 5. serve
    common = _Common(
        source,
        options,
        label,
        stats,
        bounds,
        skipped,
        absent_by_symbol,
        (first, last),
        device,
        block_on_device,
        as_of,
    )
    return {split: _serve(split, blocks.pop(split), plans.by_split.pop(split), common) for split in names}


def _check_splits(names: Sequence[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys([names] if isinstance(names, str) else names))
    for split in names:
        if split not in LOADER_SPLITS:
            raise ConfigError(
                f"unknown split {split!r} (choose {', '.join(LOADER_SPLITS[:-1])} or {LOADER_SPLITS[-1]})"
            )
    return names


def _source(con: duckdb.DuckDBPyConnection, project: Project, snapshot: str | None) -> Source:
    """The live ``training_set`` or a snapshot of it, its asset IDs checked against the mapping."""
    if snapshot:
        source = get_snapshot(con, snapshot, project.path(project.paths.snapshots)).source(con)
    else:
        source = warehouse_source(con)
    check_asset_ids(con, source)
    return source


def _norm_stats(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    bounds: SplitBoundaries,
    normalize: str,
    stats: NormStats | None,
) -> NormStats:
    """Fit the statistics on the training rows, or check that the given ones fit this data."""
    if stats is None:
        return fit_stats(
            con, source.relation, source.feature_names, bounds.train_end, normalize, source.num_embeddings
        )
    stats.check_features(source.feature_names)
    if stats.mode == "per_asset" and stats.mean.shape[0] < source.num_embeddings:
        raise ConfigError(
            f"per-asset statistics cover {stats.mean.shape[0]} asset IDs, the mapping now has "
            f"{source.num_embeddings}",
            hint="fit them again on this data (leave stats= out)",
        )
    return stats


def _read_block(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    plan: Plan,
    options: LoadOptions,
    owned: bool,
    task: Any = None,
) -> np.ndarray:
    """One block holding exactly the rows a split's windows read, asset by asset (indicator channels
    left for :func:`normalize_block`)."""
    f = len(source.feature_names)
    channels = 2 * f if options.indicator else f
    block = np.empty((plan.block_rows, channels), dtype=np.float32)
    read_block(
        con,
        source,
        block[:, :f],
        assets=plan.assets,
        lo_day=plan.lo_day,
        hi_day=plan.hi_day,
        lengths=plan.lengths,
        grow=owned,
        task=task,
    )
    return block


@dataclass(frozen=True)
class _Common:
    """What every split of one load shares."""

    source: Source
    options: LoadOptions
    label: str
    stats: NormStats
    bounds: SplitBoundaries
    skipped: dict[str, int]
    absent: dict[str, tuple[str, ...]]  # symbol -> features the asset never has
    dates: tuple[Any, Any]  # the data's first and last date
    device: torch.device
    block_on_device: bool
    as_of: dt.date | None = None


def _serve(split: str, block: np.ndarray, plan: Plan, c: _Common) -> WindowDataset:
    """Normalise one split's block in place and wrap it, with its config and fingerprint."""
    f = len(c.source.feature_names)
    # NaN -> 0 (the training mean) in every mode: with "drop" the windows served hold NaN only in
    # features their asset never has, which are filled (and flagged with missing_indicator)
    normalize_block(block, f, c.stats, plan.offsets, plan.assets, fill=True)
    names = c.source.feature_names
    if block.shape[1] > f:
        names = (*names, *(f"{n}__missing" for n in names))
    config = {
        "split": split,
        "lookback": c.options.lookback,
        "stride": c.options.stride,
        "label": c.label,
        "normalize": c.stats.mode,
        "missing": c.options.missing,
        "missing_indicator": bool(block.shape[1] > f),
        "boundaries": c.bounds.describe(),
        "snapshot": c.source.snapshot,
    }
    if split == LATEST_SPLIT:
        config["as_of"] = None if c.as_of is None else c.as_of.isoformat()
    return WindowDataset(
        block=block,
        starts=plan.starts,
        asset_ids=plan.asset_ids,
        y=plan.y,
        label_dates=plan.days,
        lookback=c.options.lookback,
        feature_names=names,
        num_embeddings=c.source.num_embeddings,
        mapping_version=c.source.mapping_version,
        fingerprint=dataset_fingerprint(c.source, names, config),
        stats=c.stats,
        split=split,
        stride=c.options.stride,
        boundaries=c.bounds,
        skipped_assets=c.skipped,
        absent_features=c.absent,
        date_range=c.dates,
        config=config,
        device=c.device,
        block_on_device=c.block_on_device,
    )


__all__ = ["LoadOptions", "WindowDataset", "dataset_fingerprint", "load_splits", "require_windows"]
