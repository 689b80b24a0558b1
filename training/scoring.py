"""A finished run opened to score data: what ``fstore evaluate`` and ``fstore predict`` share.

    open_run        the run's ``train_runs`` row, best checkpoint and model (best weights) on a device,
                    torch's CPU threads set as the run trained (``[train] threads``)
    run_symbols     the run's symbol → asset-ID map: recorded in its checkpoint, or (checkpoints written
                    before it was recorded) the warehouse's ``asset_ids_at(version)``
    fit_to_data     check the data against the run and say which row of the run's table each asset
                    of the data takes (:class:`Fit`)
    score_windows   the model's outputs for a dataset's samples of the assets the run knows

**Runs and later mappings.** IDs are append-only within a major version, so a run trained on mapping
1.0 can score data built on 1.3: each asset of the data is carried to the run's embedding row through
its symbol (:func:`training.embeddings.carry_rows`), which is allowed only when the two mappings agree
on the ID of every symbol the run knows. Assets the run does not know (added since; a run grown for
them with ``fstore train --init-from`` knows them) are not scored and are listed. Another major
version is refused, and so is a warehouse whose feature list differs from the run's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import torch

from features.config import Project
from features.errors import MappingError, TrainingError
from features.mapping import parse_version
from features.warehouse import connect, table_exists
from training.checkpoints import BEST, load_checkpoint, model_from_checkpoint, run_dir
from training.devices import resolve_device
from training.embeddings import carry_rows
from training.model import TradingModel
from training.normalize import NormStats
from training.runs import resolve_run
from training.snapshots import get_snapshot
from training.source import Source, warehouse_source

PROGRESS_AFTER_S = 2.0  # scoring shows a progress bar once it has run this long


@dataclass
class OpenRun:
    """A run ready to score: its row, best checkpoint and model (eval mode, on ``device``)."""

    run_id: str
    row: dict[str, Any]
    ckpt: dict[str, Any]
    model: TradingModel
    device: torch.device

    @property
    def epoch(self) -> int:
        return int(self.ckpt["best_epoch"] or self.ckpt["epoch"])

    @property
    def loader(self) -> dict[str, Any]:
        return self.ckpt["loader"]

    @property
    def base_features(self) -> tuple[str, ...]:
        """The warehouse columns the run reads (its channels without ``__missing`` indicators)."""
        return tuple(self.ckpt["norm_stats"]["feature_names"])


def open_run(project: Project, db: Path, ref: str, device: str = "cpu") -> OpenRun:
    """The run ``ref`` (ID, unique prefix or ``latest``) with its best checkpoint's model on ``device``."""
    con = connect(db, read_only=True, wait_s=10.0)
    try:
        row = resolve_run(con, ref)
    finally:
        con.close()
    ckpt = load_checkpoint(run_dir(project, row["run_id"]) / BEST)
    threads = int(ckpt.get("train_config", {}).get("threads", 0) or 0)
    if threads > 0:  # as the run trained: torch's default spins every core, slow on a busy machine
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    model = model_from_checkpoint(ckpt).to(dev)
    model.eval()
    return OpenRun(row["run_id"], row, ckpt, model, dev)


# --------------------------------------------------------------------------------------- the run's mapping


def mapping_at(con: duckdb.DuckDBPyConnection, version: str | None) -> dict[str, int] | None:
    """symbol → asset_id of the warehouse's mapping at ``version`` (None: no dimension to read).

    The current version is ``dim_symbol``; an earlier one is ``asset_ids_at(version)`` (from
    ``dim_symbol_history``). A version the warehouse has no record of is a :class:`MappingError`.
    """
    if version is None or not table_exists(con, "dim_symbol"):
        return None
    from features.dimension import current_version

    if version == current_version(con, required=False):
        rows = con.execute("select symbol, asset_id from dim_symbol").fetchall()
        return {str(s): int(a) for s, a in rows}
    if table_exists(con, "dim_symbol_history"):
        try:
            rows = con.execute("select symbol, asset_id from asset_ids_at(?)", [version]).fetchall()
        except duckdb.Error:
            rows = []
        if rows:
            return {str(s): int(a) for s, a in rows}
    raise MappingError(
        f"the warehouse has no record of asset-ID mapping version {version}",
        hint="`fstore build` rebuilds the mapping history from config/asset_id_mapping.json",
    )


def run_symbols(ckpt: dict[str, Any], con: duckdb.DuckDBPyConnection) -> dict[str, int] | None:
    """The run's symbol → asset-ID map: its checkpoint's record, else the warehouse's at its version
    (None for a run on a warehouse without a dimension: its IDs are taken as they are)."""
    recorded = ckpt.get("asset_symbols")
    if recorded:
        return {str(s): int(i) for s, i in recorded.items()}
    found = mapping_at(con, ckpt.get("mapping_version"))
    if found is None:
        return None
    n = int(ckpt["num_embeddings"])
    return {s: i for s, i in found.items() if i < n}


# --------------------------------------------------------------------------------------- the data


def data_source(con: duckdb.DuckDBPyConnection, project: Project, snapshot: str | None) -> Source:
    """The live ``training_set`` or snapshot ``snapshot`` (registered on ``con``)."""
    if snapshot:
        return get_snapshot(con, snapshot, project.path(project.paths.snapshots)).source(con)
    return warehouse_source(con)


@dataclass
class Fit:
    """How a run meets the data: the data's mapping, each asset's row in the run's table, who is unknown."""

    mapping_version: str | None
    rows: np.ndarray  # (num_embeddings of the data,) int64: the run's row of each asset ID, -1 = unknown
    symbols: dict[int, str] = field(default_factory=dict)  # asset_id → symbol of the data's mapping
    unknown: list[str] = field(default_factory=list)  # symbols of the data the run does not know

    def known(self, asset_ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(asset_ids, dtype=np.int64)
        inside = (ids >= 0) & (ids < len(self.rows))
        out = np.zeros(len(ids), dtype=bool)
        out[inside] = self.rows[ids[inside]] >= 0
        return out


def check_features(run: OpenRun, source: Source) -> None:
    """The data must offer exactly the run's feature columns, in its order."""
    mine, theirs = list(run.base_features), list(source.feature_names)
    if mine == theirs:
        return
    added = [f for f in theirs if f not in mine]
    removed = [f for f in mine if f not in theirs]
    detail = "; ".join(
        part
        for part in (
            f"added since: {', '.join(added)}" if added else "",
            f"gone since: {', '.join(removed)}" if removed else "",
            "same columns in another order" if not added and not removed else "",
        )
        if part
    )
    raise TrainingError(
        f"run {run.run_id} was trained on {len(mine)} feature(s) and {source.relation} now lists "
        f"{len(theirs)} ({detail}): the model cannot read these windows",
        hint="train a new run on this warehouse (`fstore train`), or evaluate on the snapshot the run "
        "was trained on (`--snapshot NAME`)",
    )


def fit_to_data(run: OpenRun, con: duckdb.DuckDBPyConnection, source: Source) -> Fit:
    """Check ``source`` against the run (features, major version, IDs by symbol) and map its assets."""
    check_features(run, source)
    ckpt = run.ckpt
    mine, theirs = ckpt.get("mapping_version"), source.mapping_version
    if mine and theirs and parse_version(mine)[0] != parse_version(theirs)[0]:
        raise TrainingError(
            f"run {run.run_id} was trained on asset-ID mapping {mine}, the data is on {theirs}: a new major "
            "version re-numbered every asset, so the run's embedding rows belong to other assets",
            hint="train a new run on this mapping (`fstore train`)",
        )
    n_run, n_data = int(ckpt["num_embeddings"]), int(source.num_embeddings)
    data_map = mapping_at(con, theirs)
    run_map = run_symbols(ckpt, con)
    if data_map is None or run_map is None:  # no dimension: asset IDs are the rows, as trained
        rows = np.where(np.arange(n_data) < n_run, np.arange(n_data), -1)
        return Fit(theirs, rows.astype(np.int64))
    carried = carry_rows(run_map, data_map, what=f"run {run.run_id} (mapping {mine})")
    rows = np.full(max(n_data, max(data_map.values(), default=-1) + 1), -1, dtype=np.int64)
    for asset_id, row in carried.items():
        if row < n_run:
            rows[asset_id] = row
    symbols = {i: s for s, i in data_map.items()}
    unknown = sorted(s for s, i in data_map.items() if rows[i] < 0)
    return Fit(theirs, rows, symbols, unknown)


def run_stats(run: OpenRun, num_embeddings: int) -> NormStats:
    """The run's normalisation statistics; per-asset ones padded (mean 0, std 1) for IDs issued since,
    whose windows are loaded but never scored."""
    stats = NormStats.from_dict(run.ckpt["norm_stats"])
    if stats.mode != "per_asset" or stats.mean.shape[0] >= num_embeddings:
        return stats
    extra = num_embeddings - stats.mean.shape[0]
    width = stats.mean.shape[1]
    return NormStats(
        stats.mode,
        stats.feature_names,
        np.vstack([stats.mean, np.zeros((extra, width))]),
        np.vstack([stats.std, np.ones((extra, width))]),
        stats.fitted_until,
    )


def load_options(run: OpenRun) -> dict[str, Any]:
    """The loader options the run was trained with (window length, label, missing values, stride)."""
    cfg = run.loader
    return {
        "lookback": cfg["lookback"],
        "label": cfg["label"],
        "stride": cfg.get("stride"),
        "missing": cfg.get("missing"),
        "missing_indicator": cfg.get("missing_indicator"),
    }


# --------------------------------------------------------------------------------------- scoring


@dataclass
class Scored:
    """The model's output for each scored sample, in dataset order, with its asset, date and label."""

    out: np.ndarray  # (n,) float64: logit (classification) or predicted return
    asset_ids: np.ndarray  # (n,) int64, the data's IDs
    days: np.ndarray  # (n,) int64 days since 1970-01-01 (label date = the window's last date)
    y: np.ndarray  # (n,) float64 label (NaN where not known yet)
    dropped: int  # samples of assets the run does not know


class _LateBar:
    """A rich progress bar (on stderr) that appears only once the work has run ``after`` seconds."""

    def __init__(self, enabled: bool, total: int, label: str, after: float = PROGRESS_AFTER_S) -> None:
        self.enabled, self.total, self.label, self.after = enabled, total, label, after
        self.t0 = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None

    def advance(self, done: int) -> None:
        if not self.enabled:
            return
        if self.bar is None and time.perf_counter() - self.t0 >= self.after:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        if self.bar is not None:
            self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@torch.no_grad()
def score_windows(
    model: TradingModel,
    dataset: Any,
    fit: Fit,
    *,
    batch_size: int = 4096,
    progress: bool = False,
    label: str = "scoring",
    on_batch: Callable[[int], None] | None = None,
) -> Scored:
    """Outputs for every sample of ``dataset`` whose asset the run knows (each through its row of the
    run's table); a progress bar on stderr when ``progress`` and it takes over ~2 s."""
    model.eval()
    rows = torch.from_numpy(fit.rows)
    days_all = dataset.label_dates.astype(np.int64)
    outs, ids, days, ys = [], [], [], []
    done, dropped = 0, 0
    bar = _LateBar(progress, len(dataset), label)
    try:
        for x, asset_ids, y in dataset.batches(batch_size, shuffle=False):
            b = int(asset_ids.shape[0])
            cpu_ids = asset_ids.cpu()
            run_rows = rows[cpu_ids.clamp(0, len(rows) - 1)].masked_fill(cpu_ids >= len(rows), -1)
            keep = run_rows >= 0
            dropped += int((~keep).sum())
            if keep.any():
                k = keep.to(x.device)
                outs.append(model(x[k], run_rows[keep].to(x.device)).double().cpu().numpy())
                ids.append(cpu_ids[keep].numpy())
                days.append(days_all[done : done + b][keep.numpy()])
                ys.append(y[k].double().cpu().numpy())
            done += b
            bar.advance(done)
            if on_batch is not None:
                on_batch(done)
    finally:
        bar.close()

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return Scored(
        cat(outs, np.float64), cat(ids, np.int64), cat(days, np.int64), cat(ys, np.float64), dropped
    )


__all__ = [
    "PROGRESS_AFTER_S",
    "Fit",
    "OpenRun",
    "Scored",
    "check_features",
    "data_source",
    "fit_to_data",
    "load_options",
    "mapping_at",
    "open_run",
    "run_stats",
    "run_symbols",
    "score_windows",
]
