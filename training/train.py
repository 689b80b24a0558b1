"""A training run: warehouse windows in, a TradingModel out, everything logged back to the warehouse.

:func:`run_training` runs the steps of :data:`STEPS` in order, each a small function of the
:class:`RunContext` that fills in what the next ones need::

    check_request → claim_warehouse → resolve_config → load_data → build_model → record_run
        → train_and_test → write_plots

0. ``check_request``: refuse what needs no data (``--resume`` with ``--init-from``, a ``--plot``
   folder that names a file) before anything is read or trained;
1. ``claim_warehouse``: mark runs whose process died ``failed`` (rank 0), then let every rank read;
2. ``resolve_config``: the project's config with the overrides, or the checkpoint's for ``resume`` /
   ``init_from``; the device. ``resume`` takes the run folder's lock first (:mod:`training.locks`):
   one process trains a run at a time;
3. ``load_data``: the train / valid / test windows from one read of the warehouse
   (:meth:`training.loader.WindowDataset.splits`); a split without windows is an error naming the
   ``[splits]`` settings and the data's dates;
4. ``build_model``: the model, its embedding table checked against the mapping version and grown for
   ``init_from``, the optimizer (restored for ``resume``), this rank's share (DDP);
5. ``record_run``: in one write, the ``train_runs`` row (status ``running``, pid, host; a resumed run is
   claimed and trimmed to its checkpoint's epoch), every asset's sample count per split
   (``train_asset_samples``) and the epoch-0 embeddings (``trained`` marks the rows with training
   windows); then the epoch-0 checkpoint;
6. ``train_and_test``: per epoch AdamW steps over shuffled batches, validation, metrics and embeddings
   logged, then the checkpoint (a short write each: a run never holds the warehouse); stop early when
   the validation loss has not improved for ``patience`` epochs; score the best epoch on the test split
   and mark the run ``finished`` — or ``failed`` / ``interrupted`` if an exception, Ctrl-C or SIGTERM
   ends it first;
7. ``write_plots``: PNG pictures of the run, when asked for.

Determinism: the seed fixes model initialisation, dropout and the batch order (epoch ``e`` shuffles
with ``seed * 1000 + e``), so the same config and seed give the same metrics on CPU.
:func:`fit` is the same loop without the warehouse, for tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from features.config import SPLITS, ModelConfig, Project, TrainConfig
from features.errors import ConfigError, TrainingError
from features.mapping import parse_version
from features.warehouse import connect, remove_stale_temps
from training import collectives, runs
from training.checkpoints import (
    BEST,
    LAST,
    checkpoint_payload,
    load_checkpoint,
    model_from_checkpoint,
    run_dir,
    save_checkpoint,
    tcn_levels_of,
)
from training.devices import resolve_device
from training.locks import RunLock
from training.metrics import auc, score, spearman
from training.model import TradingModel, check_num_embeddings
from training.progress import Progress, StopSignals, Task

_StopSignals = StopSignals  # the name tests and older callers use

# --------------------------------------------------------------------------------------- the loop


@torch.no_grad()
def predict(
    model: TradingModel, dataset: Any, batch_size: int = 4096, *, task: Task | None = None, label: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs and labels for every sample of ``dataset``, in dataset order. ``task``: a progress
    line (:mod:`training.progress`) that counts the samples scored, under ``label``."""
    model.eval()
    outs, ys = [], []
    if task is not None:
        task.reset(label or f"scoring {getattr(dataset, 'split', '')}".strip(), len(dataset))
    for x, ids, y in dataset.batches(batch_size, shuffle=False):
        outs.append(model(x, ids).float().cpu())
        ys.append(y.float().cpu())
        if task is not None:
            task.advance(len(y))
    if task is not None:
        task.done()
    if not outs:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    return torch.cat(outs).numpy(), torch.cat(ys).numpy()


def evaluate(
    model: TradingModel, dataset: Any, batch_size: int = 4096, *, task: Task | None = None
) -> dict[str, Any]:
    """Loss, accuracy, AUC, IC, samples and samples/s of ``model`` on ``dataset`` (``task``: progress)."""
    t0 = time.perf_counter()
    out, y = predict(model, dataset, batch_size, task=task)
    metrics = (
        score(model.task, out, y) if len(y) else {"loss": None, "accuracy": None, "auc": None, "ic": None}
    )
    metrics["samples"] = len(y)
    metrics["samples_per_s"] = len(y) / max(time.perf_counter() - t0, 1e-9)
    return metrics


# --------------------------------------------------------------------------------------- the loop


@dataclass
class EpochResult:
    epoch: int
    train: dict[str, Any]
    valid: dict[str, Any]
    improved: bool


@dataclass
class FitState:
    """Everything needed to continue a loop where it stopped (it goes into checkpoints)."""

    epoch: int = 0  # epochs completed
    best_epoch: int | None = None
    best_valid_loss: float = math.inf
    bad_epochs: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def _device_sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_epoch(
    model: TradingModel,
    optimizer: torch.optim.Optimizer,
    dataset: Any,
    *,
    batch_size: int,
    seed: int,
    max_samples: int = 0,
    on_step: Callable[[int, float, float], None] | None = None,
    profile: bool = False,
) -> dict[str, Any]:
    """One pass over shuffled batches. Returns loss (sample-weighted), samples, samples/s, data-wait share.

    ``profile=True`` synchronises the device around each batch fetch so that the data-wait share is
    exact on a GPU (it costs a little throughput; use it for benchmarks).
    """
    model.train()
    device = next(model.parameters()).device
    total, seen, wait = 0.0, 0, 0.0
    t0 = time.perf_counter()
    batches: Iterator = iter(dataset.batches(batch_size, shuffle=True, seed=seed))
    while True:
        if max_samples and seen >= max_samples:
            break
        if profile:
            _device_sync(device)
        tw = time.perf_counter()
        try:
            x, ids, y = next(batches)
        except StopIteration:
            break
        if profile:
            _device_sync(device)
        wait += time.perf_counter() - tw
        out = model(x, ids)  # (B,)
        loss = model.loss(out, y.to(out.dtype))
        optimizer.zero_grad(set_to_none=True)  # set_to_none: skips a memset per parameter
        loss.backward()
        optimizer.step()
        b = int(y.shape[0])
        # .item() syncs with the device; once per step is the price of a live loss in the progress bar
        step_loss = float(loss.item())
        total += step_loss * b
        seen += b
        if on_step is not None:
            on_step(b, step_loss, seen / max(time.perf_counter() - t0, 1e-9))
    _device_sync(device)
    elapsed = max(time.perf_counter() - t0, 1e-9)
    return {
        "loss": total / seen if seen else None,
        "samples": seen,
        "samples_per_s": seen / elapsed,
        "data_wait_share": wait / elapsed,
    }


def fit(
    model: TradingModel,
    train_ds: Any,
    valid_ds: Any,
    cfg: TrainConfig,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    state: FitState | None = None,
    epochs: int | None = None,
    on_epoch: Callable[[EpochResult, FitState, torch.optim.Optimizer], None] | None = None,
    on_step: Callable[[int, float, float], None] | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    train_model: torch.nn.Module | None = None,
    sync: Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]] | None = None,
    eval_task: Task | None = None,
) -> FitState:
    """AdamW with early stopping on validation loss; the best weights are kept in ``state.best_state``.

    ``train_model`` is what the training step runs (a DDP wrapper of ``model``, see
    :mod:`training.collectives`); ``sync`` makes each epoch's metrics, and so the stopping decision,
    the same on every rank. ``eval_task`` shows the validation scoring (:mod:`training.progress`).
    """
    optimizer = optimizer or make_optimizer(model, cfg)
    state = state or FitState()
    total = cfg.epochs if epochs is None else epochs
    while state.epoch < total and state.bad_epochs < cfg.patience:
        epoch = state.epoch + 1
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        train_m = train_epoch(
            train_model or model,
            optimizer,
            train_ds,
            batch_size=cfg.batch_size,
            seed=cfg.seed * 1000 + epoch,
            max_samples=cfg.max_train_samples,
            on_step=on_step,
        )
        valid_m = evaluate(model, valid_ds, max(cfg.batch_size, 4096), task=eval_task)
        if sync is not None:
            train_m, valid_m = sync(train_m, valid_m)
        vloss = valid_m["loss"] if valid_m["loss"] is not None else train_m["loss"]
        improved = vloss is not None and vloss < state.best_valid_loss
        if improved:
            state.best_valid_loss, state.best_epoch, state.bad_epochs = vloss, epoch, 0
            state.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        state.history.append({"epoch": epoch, "train": train_m, "valid": valid_m})
        if on_epoch is not None:
            on_epoch(EpochResult(epoch, train_m, valid_m, improved), state, optimizer)
    return state


def make_optimizer(model: TradingModel, cfg: TrainConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


# --------------------------------------------------------------------------------------- the run


@dataclass
class TrainResult:
    run_id: str
    status: str
    best_epoch: int | None
    best_valid_loss: float | None
    test: dict[str, Any]
    history: list[dict[str, Any]]
    checkpoint: Path
    num_params: int
    device: str
    untrained: dict[str, str] = field(default_factory=dict)  # symbol -> why it has no training window
    absent_features: dict[str, tuple[str, ...]] = field(default_factory=dict)  # symbol -> never has
    num_assets: int = 0  # embedding rows (asset IDs) of the run


@dataclass
class RunContext:
    """One run: what was asked for, and what each step of :data:`STEPS` produced for the next ones."""

    # the request (run_training's arguments)
    project: Project
    db: Path
    epochs: int | None = None
    device_name: str | None = None
    resume: str | None = None
    init_from: str | None = None  # as asked; resolve_config replaces it with the source run's ID
    plot_dir: Path | None = None
    model_overrides: dict[str, Any] = field(default_factory=dict)
    train_overrides: dict[str, Any] = field(default_factory=dict)
    progress: bool = False
    log: Callable[[str], None] | None = None
    warn: Callable[[str], None] | None = None  # what a person must see (pointed at an unfinished run)
    writer: bool = True  # rank 0 of a distributed run, or a plain run: the warehouse writer
    lock: RunLock | None = None  # the run folder's lock (rank 0), held until the run ends
    # resolve_config
    run_id: str = ""
    model_cfg: ModelConfig | None = None
    train_cfg: TrainConfig | None = None
    device: torch.device | None = None
    resumed: dict[str, Any] | None = None  # the run's last checkpoint (resume)
    source: dict[str, Any] | None = None  # the source run's best checkpoint (init_from)
    # load_data
    data: dict[str, Any] = field(default_factory=dict)  # split -> WindowDataset
    # build_model
    model: TradingModel | None = None
    optimizer: torch.optim.Optimizer | None = None
    state: FitState = field(default_factory=FitState)
    grown: dict[int, str] = field(default_factory=dict)  # new embedding row -> where it started from
    prepared: collectives.Prepared | None = None
    assets: list[runs.AssetRow] | None = None  # dim_symbol rows, for embedding logs
    trained: np.ndarray | None = None  # asset IDs whose embedding row trains (or trained, init_from)
    untrained: dict[str, str] = field(default_factory=dict)  # symbol -> why it has no training window
    # record_run / train_and_test
    previous: np.ndarray | None = None  # the embedding table last logged (for drift)
    bar: Progress | None = None
    scoring: Task | None = None  # the progress line of validation and test scoring
    stop: StopSignals | None = None
    status: str = "failed"
    error: str | None = None
    test: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return run_dir(self.project, self.run_id)

    @property
    def train(self) -> Any:
        return self.data["train"]

    def say(self, text: str) -> None:
        if self.log is not None:
            self.log(text)

    def caution(self, text: str) -> None:
        if self.warn is not None:
            self.warn(text)

    def result(self) -> TrainResult:
        best = self.state.best_valid_loss
        return TrainResult(
            run_id=self.run_id,
            status=self.status,
            best_epoch=self.state.best_epoch,
            best_valid_loss=best if math.isfinite(best) else None,
            test=self.test,
            history=self.state.history,
            checkpoint=self.folder,
            num_params=self.model.num_parameters(),
            device=str(self.device),
            untrained=dict(self.untrained),
            absent_features=dict(self.train.absent_features),
            num_assets=self.model.num_assets,
        )


# --------------------------------------------------------------------------------------- 0. check


def check_request(ctx: RunContext) -> None:
    """What can be refused before anything is read or trained: conflicting flags, a plot folder that
    names a file."""
    if ctx.resume and ctx.init_from:
        raise ConfigError("--resume continues a run and --init-from starts a new one from it: pick one")
    if ctx.plot_dir is not None:
        from training.plots import check_plot_dir

        check_plot_dir(ctx.plot_dir)


# --------------------------------------------------------------------------------------- 1. claim


def claim_warehouse(ctx: RunContext) -> None:
    """Rank 0 marks runs whose process died ``failed``; the other ranks wait until it has written."""
    if ctx.writer:
        runs.mark_stale_runs(ctx.db)
    collectives.barrier()


# --------------------------------------------------------------------------------------- 2. config


def resolve_config(ctx: RunContext) -> None:
    """The run's model and train config, its ID and device: the project's with the overrides, or the
    checkpoint's when continuing a run (``resume``) or starting from one (``init_from``). To resume,
    rank 0 takes the run folder's lock first: a second process resuming the same run is refused at once."""
    overrides = {**ctx.train_overrides, "epochs": ctx.epochs}
    if ctx.resume:
        row = _find_run(ctx.db, ctx.resume)
        ctx.run_id = row["run_id"]
        _lock(ctx)
        if row["status"] == "running":
            raise TrainingError(f"run {row['run_id']} is still running (pid {row['pid']} on {row['host']})")
        ctx.resumed = load_checkpoint(run_dir(ctx.project, row["run_id"]) / LAST)
        ctx.model_cfg = ModelConfig(**ctx.resumed["model_config"])
        ctx.train_cfg = _overrides(TrainConfig(**ctx.resumed["train_config"]), overrides)
    else:
        ctx.model_cfg = _overrides(ctx.project.model, ctx.model_overrides)
        ctx.train_cfg = _overrides(ctx.project.train, overrides)
        ctx.run_id = collectives.broadcast(runs.new_run_id())  # locked in record_run, once it is recorded
        if ctx.init_from:
            src = _find_run(ctx.db, ctx.init_from)
            note = runs.unfinished_note(src)
            if note:
                ctx.caution(f"--init-from {ctx.init_from}: {note}")
            ctx.source = load_checkpoint(run_dir(ctx.project, src["run_id"]) / BEST)
            ctx.model_cfg = ModelConfig(**ctx.source["model_config"])  # same architecture, so weights fit
            ctx.init_from = src["run_id"]
    if ctx.device_name is not None:
        ctx.train_cfg = dataclasses.replace(ctx.train_cfg, device=ctx.device_name)
    _check_train_config(ctx.train_cfg)
    if ctx.resume or ctx.init_from:
        flag = "--resume" if ctx.resume else "--init-from"
        _check_same_architecture(ctx.model_cfg, ctx.model_overrides, flag)
    ctx.device = resolve_device(ctx.train_cfg.device)
    if ctx.train_cfg.threads > 0:
        torch.set_num_threads(ctx.train_cfg.threads)


def _lock(ctx: RunContext) -> None:
    """Rank 0 holds the run folder's lock (:mod:`training.locks`) until the run ends."""
    if ctx.writer:
        ctx.lock = RunLock.acquire(run_dir(ctx.project, ctx.run_id), ctx.run_id)


def _find_run(db: Path, ref: str) -> dict[str, Any]:
    """The train_runs row of ``ref`` (ID, unique prefix or ``latest``), read with a short read-only open."""
    con = connect(db, read_only=True)
    try:
        return runs.resolve_run(con, ref)
    finally:
        con.close()


def _overrides(section: Any, values: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(section)}
    picked = {k: v for k, v in values.items() if v is not None and k in known}
    return dataclasses.replace(section, **picked) if picked else section


def _check_same_architecture(cfg: ModelConfig, overrides: dict[str, Any], flag: str) -> None:
    """--resume / --init-from keep the checkpoint's model: refuse overrides that would change it."""
    changed = {k: v for k, v in overrides.items() if v is not None and getattr(cfg, k, v) != v}
    if changed:
        wanted = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        kept = ", ".join(f"{k}={getattr(cfg, k)!r}" for k in changed)
        raise ConfigError(
            f"{flag} keeps the checkpoint's model ({kept}); it cannot change to {wanted}",
            hint="drop those options, or train a new model without " + flag,
        )


def _check_train_config(cfg: TrainConfig) -> None:
    problems = [
        f"{name} = {value!r} ({rule})"
        for name, value, ok, rule in (
            ("epochs", cfg.epochs, cfg.epochs >= 0, "0 or more"),
            ("batch_size", cfg.batch_size, cfg.batch_size >= 1, "at least 1"),
            ("lr", cfg.lr, cfg.lr > 0, "positive"),
            ("weight_decay", cfg.weight_decay, cfg.weight_decay >= 0, "0 or more"),
            ("patience", cfg.patience, cfg.patience >= 1, "at least 1"),
            ("max_train_samples", cfg.max_train_samples, cfg.max_train_samples >= 0, "0 = all, or a count"),
            ("threads", cfg.threads, cfg.threads >= 0, "0 = torch's default, or a count"),
        )
        if not ok
    ]
    if problems:
        raise ConfigError("[train] " + "; ".join(problems))


# --------------------------------------------------------------------------------------- 3. data


def load_data(ctx: RunContext) -> None:
    """Train, valid and test windows from one read of the warehouse; a resumed run must see the
    dataset it was trained on."""
    from training.loader import WindowDataset, require_windows

    loader_cfg = ctx.resumed["loader"] if ctx.resumed else {}
    project = ctx.project
    label = _label_for(
        ctx.model_cfg.task, loader_cfg.get("label", project.loader.label), project.features.horizon
    )
    lookback = loader_cfg.get("lookback", project.loader.lookback)
    ctx.data = WindowDataset.splits(
        ctx.db,
        SPLITS,
        lookback=lookback,
        label=label,
        device=ctx.device,
        project=project,
        progress=ctx.progress,
    )
    if ctx.source is not None:  # init_from grows the embedding table by category: read them now
        ctx.assets = _read_assets(ctx.db)
    collectives.barrier()  # every rank has read its windows and let go: rank 0 may write
    require_windows(ctx.data, project.splits)
    if ctx.resumed and ctx.resumed["dataset_fingerprint"] != ctx.train.fingerprint:
        raise TrainingError(
            f"run {ctx.run_id} was trained on dataset {ctx.resumed['dataset_fingerprint']}, the warehouse now "
            f"serves {ctx.train.fingerprint}: resuming would mix two datasets",
            hint=f"start a new run from it with `fstore train --init-from {ctx.run_id}`",
        )


def _label_for(task: str, label: str, horizon: int) -> str:
    if task == "regression" and not label.startswith("fwd_ret_"):
        return f"fwd_ret_{horizon}d"
    if task == "classification" and not label.startswith("label_"):
        return "label_up"
    return label


# --------------------------------------------------------------------------------------- 4. model


def build_model(ctx: RunContext) -> None:
    """The model for this data and mapping version (grown from ``init_from``, restored for ``resume``),
    its optimizer, and this rank's share of the work."""
    seed_everything(ctx.train_cfg.seed)
    train = ctx.train
    model = TradingModel.from_config(
        ctx.model_cfg,
        num_assets=train.num_embeddings,
        feature_dim=train.num_features,
        lookback=train.lookback,
        tcn_levels=tcn_levels_of(ctx.resumed or ctx.source) if (ctx.resumed or ctx.source) else None,
        mapping_version=train.mapping_version,
    )
    _check_mapping(ctx.project, model.num_assets, train.mapping_version)
    if ctx.source is not None:
        _grow_from_source(ctx, model)
    model.to(ctx.device)
    ctx.model, ctx.optimizer = model, make_optimizer(model, ctx.train_cfg)
    if ctx.resumed:
        _restore(ctx)
    ctx.prepared = collectives.prepare(model, train, ctx.data["valid"], ctx.train_cfg.max_train_samples)


def _check_mapping(project: Project, num_embeddings: int, version: str | None) -> None:
    """The embedding table must have max(asset_id) + 1 rows for the data's mapping version."""
    if version is None or not project.mapping_path.is_file():
        return  # a bare warehouse without the JSON record: the loader already checked dim_symbol
    from features.mapping import load_mapping

    check_num_embeddings(num_embeddings, load_mapping(project.mapping_path), version)


def _grow_from_source(ctx: RunContext, model: TradingModel) -> None:
    """``init_from``: the source run's weights, its embedding table grown for symbols added since."""
    ctx.grown = _init_from_checkpoint(
        model, ctx.source, ctx.train, ctx.assets or [], ctx.init_from or "", db=ctx.db
    )
    old_rows = int(ctx.source["num_embeddings"])
    ctx.say(
        f"from run {ctx.init_from}: embedding table grown {old_rows} -> {model.num_assets} rows"
        + "".join(f"\n  asset {a}: initialised from {src}" for a, src in sorted(ctx.grown.items()))
    )


def _read_assets(db: Path) -> list[runs.AssetRow]:
    con = connect(db, read_only=True, wait_s=10.0)
    try:
        return runs.asset_rows(con)
    finally:
        con.close()


def _init_from_checkpoint(
    model: TradingModel,
    ckpt: dict[str, Any],
    train_ds: Any,
    assets: list[runs.AssetRow],
    source_run: str,
    *,
    db: Path | None = None,
) -> dict[int, str]:
    """Load ``ckpt``'s weights into ``model``, its embedding rows carried to this mapping by symbol and
    the table grown for symbols added since."""
    from training.embeddings import grow_embedding

    old_v, new_v = ckpt["mapping_version"], train_ds.mapping_version
    if old_v and new_v and parse_version(old_v)[0] != parse_version(new_v)[0]:
        raise TrainingError(
            f"run {source_run} was trained on asset-ID mapping {old_v}, the warehouse is on {new_v}: a new "
            "major version re-numbered every asset, so its embedding rows no longer belong to these IDs",
            hint="train from scratch (`fstore train` without --init-from)",
        )
    if list(ckpt["feature_names"]) != list(train_ds.feature_names):
        raise TrainingError(
            f"run {source_run} was trained on other features ({len(ckpt['feature_names'])} vs "
            f"{len(train_ds.feature_names)}); --init-from needs the same feature columns"
        )
    state = dict(ckpt["best_state"] or ckpt["model_state"])
    grown: dict[int, str] = {}
    key = "asset_embedding.weight"
    if key in state:
        old = state[key].numpy()
        carry = _carried_rows(ckpt, assets, db, source_run)
        old_assets = [(a, c or "", s or "") for a, _, c, s in assets if a in carry]
        new_assets = [(a, c or "", s or "") for a, _, c, s in assets if a not in carry]
        table, grown = grow_embedding(old, new_assets, model.num_assets, old_assets, carry=carry)
        state[key] = torch.from_numpy(table)
    model.load_state_dict(state)
    return grown


def _carried_rows(
    ckpt: dict[str, Any], assets: list[runs.AssetRow], db: Path | None, source_run: str
) -> dict[int, int]:
    """New asset ID → row of the source run's table, through symbols (``training.embeddings.carry_rows``).
    Without a dimension to read symbols from, IDs below the old table's size keep their row."""
    from training.embeddings import carry_rows
    from training.scoring import run_symbols

    n_old = int(ckpt["num_embeddings"])
    new = {s: int(a) for a, s, _, _ in assets if s}
    old = ckpt.get("asset_symbols")
    if not old and new and db is not None:
        con = connect(db, read_only=True, wait_s=10.0)
        try:
            old = run_symbols(ckpt, con)
        finally:
            con.close()
    if not old or not new:
        return {i: i for i in range(n_old)}
    return carry_rows(old, new, what=f"run {source_run} (mapping {ckpt['mapping_version']})")


def _restore(ctx: RunContext) -> None:
    """``resume``: the weights, optimizer, loop progress and RNG state of the run's last checkpoint."""
    ckpt = ctx.resumed
    ctx.model.load_state_dict(ckpt["model_state"])
    ctx.optimizer.load_state_dict(ckpt["optimizer_state"])
    ctx.state = FitState(
        epoch=ckpt["epoch"],
        best_epoch=ckpt["best_epoch"],
        best_valid_loss=ckpt["best_valid_loss"],
        bad_epochs=ckpt["bad_epochs"],
        best_state=ckpt.get("best_state"),
        history=list(ckpt.get("history", [])),
    )
    torch.set_rng_state(ckpt["rng_state"])


# --------------------------------------------------------------------------------------- 5. record


def record_run(ctx: RunContext) -> None:
    """Rank 0, one write: the run's ``train_runs`` row (new, or reclaimed and trimmed to its checkpoint
    for ``resume``), every asset's sample count per split (``train_asset_samples``), the asset rows for
    embedding logs and, for a new run, its initial embedding table as epoch 0; then the epoch-0
    checkpoint of a new run (a run killed before its first epoch can be resumed), or, for ``resume``,
    ``best.pt`` made to agree with the checkpoint resumed from."""
    model = ctx.model
    has_embedding = model.embedding_weight() is not None
    if ctx.resumed is not None and has_embedding:
        ctx.previous = _emb(model)
    if not ctx.writer:
        return
    if ctx.resumed is None:
        _lock(ctx)  # a new run: locked before its row says running
    counts = {split: ctx.data[split].asset_counts(model.num_assets) for split in SPLITS}
    with runs.writing(ctx.db) as con:
        if ctx.assets is None:
            ctx.assets = runs.asset_rows(con)
        ctx.trained, ctx.untrained = _trained_rows(ctx, con, counts)
        if ctx.resumed is not None:
            ckpt = ctx.resumed
            best = ckpt["best_valid_loss"]
            runs.reopen_run(
                con,
                ctx.run_id,
                device=str(ctx.device),
                epoch=int(ckpt["epoch"]),
                best_epoch=ckpt["best_epoch"],
                best_valid_loss=best if best is not None and math.isfinite(best) else None,
            )
        else:
            runs.insert_run(con, _run_record(ctx))
        runs.write_asset_samples(con, ctx.run_id, counts, ctx.assets)
        if ctx.resumed is None and has_embedding:  # epoch 0: the initial table
            ctx.previous = _emb(model)
            runs.write_epoch(
                con, ctx.run_id, 0, [], embedding=ctx.previous, assets=ctx.assets, trained=ctx.trained
            )
    if ctx.resumed is None:
        save_checkpoint(ctx.folder / LAST, _payload(ctx, ctx.state, ctx.optimizer))
    else:
        for name in (LAST, BEST):  # temp files of a process killed mid-write (we hold the lock)
            remove_stale_temps(ctx.folder / name)
        _agree_best(ctx)


def _trained_rows(
    ctx: RunContext, con: Any, counts: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, str]]:
    """The embedding rows that train (asset IDs with training windows, plus for ``init_from`` the rows
    the source run trained), and, per symbol of the others, why it has no training window."""
    train = counts["train"]
    trained = np.flatnonzero(train > 0)
    if ctx.init_from:
        inherited = runs.trained_assets(con, ctx.init_from)
        if inherited is not None:
            trained = np.union1d(trained, inherited[inherited < len(train)])
    symbols = {a: s for a, s, _, _ in ctx.assets or []}
    skipped = ctx.train.skipped_assets
    need = ctx.train.lookback + (ctx.train.boundaries.horizon if ctx.train.boundaries else 1)
    untrained: dict[str, str] = {}
    kept = set(trained.tolist())
    for a in np.flatnonzero(train == 0).tolist():
        symbol = symbols.get(a) or str(a)
        if symbol in skipped:
            why = f"{skipped[symbol]} rows after warm-up, a window needs lookback + horizon = {need}"
        elif counts["valid"][a] or counts["test"][a]:
            why = "all its windows are dated after [splits] train_end"
        else:
            why = "no windows in any split (no rows in training_set, or none usable)"
        if a in kept:
            why += "; its row keeps what the --init-from run learned"
        untrained[symbol] = why
    return trained, untrained


def _agree_best(ctx: RunContext) -> None:
    """``resume``: ``best.pt`` holds the best epoch of the checkpoint resumed from (a run killed after
    writing ``best.pt`` but before ``last.pt`` may have left a later one)."""
    ckpt, path = ctx.resumed, ctx.folder / BEST
    if ckpt.get("best_state") is None:
        path.unlink(missing_ok=True)
        return
    try:
        current = load_checkpoint(path)["best_epoch"] if path.is_file() else None
    except (TrainingError, RuntimeError, OSError, EOFError):
        current = None
    if current != ckpt["best_epoch"]:
        save_checkpoint(path, ckpt)


def _run_record(ctx: RunContext) -> runs.RunRecord:
    model, model_cfg, train = ctx.model, ctx.model_cfg, ctx.train
    config = {
        "model": dataclasses.asdict(model_cfg),
        "train": dataclasses.asdict(ctx.train_cfg),
        "loader": train.config,
        "num_features": train.num_features,
        "feature_names": list(train.feature_names),
        **{f"{split}_samples": len(ctx.data[split]) for split in SPLITS},
        "distributed": collectives.describe(),
    }
    if ctx.grown:
        config["grown_rows"] = {str(k): v for k, v in ctx.grown.items()}
    config["untrained_assets"] = dict(ctx.untrained)  # symbol -> why it has no training window
    config["absent_features"] = {k: list(v) for k, v in train.absent_features.items()}
    return runs.RunRecord(
        run_id=ctx.run_id,
        config=config,
        mapping_version=train.mapping_version,
        dataset_fingerprint=train.fingerprint,
        device=str(ctx.device),
        num_params=model.num_parameters(),
        num_embeddings=model.num_assets,
        embedding_dim=model.embedding_dim,
        encoder=model_cfg.encoder,
        combine=model_cfg.combine,
        task=model_cfg.task,
        checkpoint=str(ctx.folder),
        git_commit=runs.git_commit(ctx.project.root),
        init_from=ctx.init_from,
    )


# --------------------------------------------------------------------------------------- 6. train and test


def train_and_test(ctx: RunContext) -> None:
    """Fit with per-epoch checkpoints and logs, then score the best epoch on the test split. Whatever
    happens, rank 0 ends the run's row ``finished``, ``failed`` or ``interrupted``."""
    remaining = max(ctx.train_cfg.epochs - ctx.state.epoch, 0)
    with Progress(ctx.progress, _samples_per_epoch(ctx), remaining) as bar, StopSignals() as stop:
        ctx.bar, ctx.stop = bar, stop
        ctx.scoring = bar.side_task("valid", len(ctx.prepared.valid))
        try:
            fit_with_logging(ctx)
            score_best_epoch(ctx)
            ctx.status = "finished"
        except KeyboardInterrupt:
            ctx.status, ctx.error, ctx.test = "interrupted", "interrupted by the user or a signal", {}
            raise
        except BaseException as exc:
            ctx.status, ctx.error, ctx.test = "failed", f"{type(exc).__name__}: {exc}", {}
            raise
        finally:
            if ctx.writer:
                finished = ctx.status == "finished"
                runs.finish_run(
                    ctx.db,
                    ctx.run_id,
                    ctx.status,
                    test=ctx.test if finished else None,
                    error=ctx.error,
                    test_epoch=ctx.state.best_epoch if finished else None,
                )


def _samples_per_epoch(ctx: RunContext) -> int:
    """What the progress bar counts to: a capped epoch stops after the batch that reaches the cap."""
    n = len(ctx.prepared.train)
    cap, batch = ctx.train_cfg.max_train_samples, ctx.train_cfg.batch_size
    return min(n, -(-cap // batch) * batch) if cap else n


def fit_with_logging(ctx: RunContext) -> None:
    """:func:`fit`, with a stop check after every step and :func:`_log_epoch` after every epoch."""
    fit(
        ctx.model,
        ctx.prepared.train,
        ctx.prepared.valid,
        ctx.train_cfg,
        optimizer=ctx.optimizer,
        state=ctx.state,
        on_epoch=partial(_log_epoch, ctx),
        on_step=partial(_on_step, ctx),
        on_epoch_start=ctx.bar.epoch,
        train_model=ctx.prepared.model,
        sync=ctx.prepared.sync,
        eval_task=ctx.scoring,
    )
    ctx.stop.check()


def _on_step(ctx: RunContext, b: int, loss: float, rate: float) -> None:
    ctx.stop.check()
    ctx.bar.step(b, loss, rate)


def _payload(ctx: RunContext, st: FitState, opt: torch.optim.Optimizer) -> dict[str, Any]:
    return checkpoint_payload(
        run_id=ctx.run_id,
        model=ctx.model,
        model_cfg=ctx.model_cfg,
        train_cfg=ctx.train_cfg,
        dataset=ctx.train,
        state=st,
        optimizer=opt,
        init_from=ctx.init_from,
        assets=ctx.assets,
    )


def _log_epoch(ctx: RunContext, res: EpochResult, st: FitState, opt: torch.optim.Optimizer) -> None:
    """Rank 0: metrics and embeddings, then the checkpoints (best when improved, then last), a line of text.

    The log goes first: a process killed between the two leaves the warehouse one epoch ahead of
    ``last.pt``, and a resume trims that epoch (``runs.reopen_run``) and trains it again. The other way
    round, the epoch would be in the checkpoint but never in the warehouse.
    """
    ctx.stop.check()
    if not ctx.writer:
        return
    emb = _emb(ctx.model) if ctx.model.embedding_weight() is not None else None
    runs.log_epoch(
        ctx.db,
        ctx.run_id,
        res.epoch,
        [{"split": "train", **res.train}, {"split": "valid", **res.valid}],
        embedding=emb,
        previous=ctx.previous,
        assets=ctx.assets or [],
        best_epoch=st.best_epoch,
        best_valid_loss=st.best_valid_loss if math.isfinite(st.best_valid_loss) else None,
        trained=ctx.trained,
    )
    ctx.previous = emb
    payload = _payload(ctx, st, opt)
    if res.improved:
        save_checkpoint(ctx.folder / BEST, payload)
    save_checkpoint(ctx.folder / LAST, payload)
    v = res.valid
    text = (
        f"epoch {res.epoch}: train loss {res.train['loss']:.4f}, valid loss {_fmt(v['loss'])}"
        f" acc {_fmt(v['accuracy'])}"
        + "".join(
            f" {k} {_fmt(v[k])}" for k in ("auc", "ic") if v.get(k) is not None
        )  # auc: classifier, ic: regressor
        + ","
        f" {res.train['samples_per_s']:,.0f} samples/s" + ("  *best" if res.improved else "")
    )
    ctx.bar.log(text)
    ctx.say(text)


def score_best_epoch(ctx: RunContext) -> None:
    """Rank 0 scores the best epoch's weights on the test split (logged when the run finishes)."""
    if ctx.state.best_state is not None:
        ctx.model.load_state_dict(ctx.state.best_state)
    batch = max(ctx.train_cfg.batch_size, 4096)
    ctx.test = evaluate(ctx.model, ctx.data["test"], batch, task=ctx.scoring) if ctx.writer else {}
    ctx.stop.check()


# --------------------------------------------------------------------------------------- 7. plots


def write_plots(ctx: RunContext) -> None:
    """PNG pictures of the run into ``plot_dir``, when asked for."""
    if ctx.plot_dir is None:
        return
    from training.plots import write_run_plots

    for path in write_run_plots(ctx.db, ctx.run_id, Path(ctx.plot_dir)):
        ctx.say(f"wrote {path}")


STEPS: tuple[Callable[[RunContext], None], ...] = (
    check_request,
    claim_warehouse,
    resolve_config,
    load_data,
    build_model,
    record_run,
    train_and_test,
    write_plots,
)


def run_training(
    project: Project,
    *,
    db: Path | None = None,
    epochs: int | None = None,
    device: str | None = None,
    resume: str | None = None,
    init_from: str | None = None,
    plot_dir: Path | None = None,
    model_overrides: dict[str, Any] | None = None,
    train_overrides: dict[str, Any] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> TrainResult:
    """One logged training run: every step of :data:`STEPS`, in order (see the module docstring).
    ``epochs`` is the run's total epoch count; ``log`` gets a line per epoch, ``warn`` what a person
    must see (e.g. ``--init-from`` an unfinished run). The run folder's lock goes when the run ends."""
    writer = collectives.is_writer()
    ctx = RunContext(
        project=project,
        db=Path(db) if db is not None else project.warehouse_path,
        epochs=epochs,
        device_name=device,
        resume=resume,
        init_from=init_from,
        plot_dir=plot_dir,
        model_overrides=dict(model_overrides or {}),
        train_overrides=dict(train_overrides or {}),
        progress=progress and writer,
        log=log if writer else None,
        warn=warn if writer else None,
        writer=writer,
    )
    try:
        for step in STEPS:
            step(ctx)
    finally:
        if ctx.lock is not None:
            ctx.lock.release()
    return ctx.result()


def evaluate_run(
    project: Project,
    run: str,
    *,
    split: str = "test",
    db: Path | None = None,
    device: str = "cpu",
    snapshot: str | None = None,
    plot_dir: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score a run's best checkpoint on ``split`` with its own normalisation: the pooled metrics (logged
    to ``train_metrics`` as before) and the per-date IC / Rank IC / quintile figures (``eval_daily``,
    ``eval_summary``; see :mod:`training.evaluate`). A run trained on an earlier minor mapping version
    scores the assets it knows, through their symbols (:mod:`training.scoring`)."""
    from training.evaluate import run_evaluation

    return run_evaluation(
        project,
        run,
        split=split,
        db=db,
        device=device,
        snapshot=snapshot,
        plot_dir=plot_dir,
        progress=progress,
    ).as_dict()


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _emb(model: TradingModel) -> np.ndarray:
    return model.embedding_weight().detach().float().cpu().numpy().copy()


__all__ = [
    "STEPS",
    "EpochResult",
    "FitState",
    "RunContext",
    "TrainResult",
    "auc",
    "check_request",
    "evaluate",
    "evaluate_run",
    "fit",
    "load_checkpoint",
    "model_from_checkpoint",
    "predict",
    "run_training",
    "score",
    "spearman",
    "train_epoch",
]
