"""A training run: warehouse windows in, a TradingModel out, everything logged back to the warehouse.

:func:`run_training` reads top to bottom as the steps of a run:

1. resolve the config (project + overrides, or the checkpoint's for ``resume`` / ``init_from``);
2. load the train / valid / test windows through :class:`training.loader.WindowDataset`;
3. build the model, check its embedding table against the mapping version, grow it for ``init_from``;
4. record the run in ``train_runs`` (status ``running``, pid, host);
5. per epoch: AdamW steps over shuffled batches, validation, checkpoint, metrics + embeddings logged;
   stop early when the validation loss has not improved for ``patience`` epochs;
6. evaluate the best epoch on the test split and mark the run ``finished`` — or ``failed`` /
   ``interrupted`` if an exception, Ctrl-C or SIGTERM ends it first.

Determinism: the seed fixes model initialisation, dropout and the batch order (epoch ``e`` shuffles
with ``seed * 1000 + e``), so the same config and seed give the same metrics on CPU.
:func:`fit` is the same loop without the warehouse, for tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from features.config import ModelConfig, Project, TrainConfig
from features.errors import ConfigError, TrainingError
from features.mapping import parse_version
from training import collectives, runs
from training.model import TradingModel, check_num_embeddings

CHECKPOINT_FORMAT = 1
LAST, BEST = "last.pt", "best.pt"


# --------------------------------------------------------------------------------------- metrics


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if (counts > 1).any():
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    return ranks


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; None when one class is absent."""
    labels = labels > 0.5
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return None
    r = _ranks(scores)
    return float((r[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Rank correlation (the information coefficient); None when either side is constant."""
    if len(a) < 2:
        return None
    ra, rb = _ranks(a), _ranks(b)
    sa, sb = ra.std(), rb.std()
    if sa == 0 or sb == 0:
        return None
    return float(((ra - ra.mean()) * (rb - rb.mean())).mean() / (sa * sb))


def score(task: str, out: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """Loss, accuracy (direction for regression), AUC (classification) and IC (regression)."""
    out64, y64 = out.astype(np.float64), y.astype(np.float64)
    if task == "classification":
        # numerically stable BCE with logits: max(o, 0) - o·y + log(1 + exp(-|o|))
        loss = np.maximum(out64, 0) - out64 * y64 + np.log1p(np.exp(-np.abs(out64)))
        return {
            "loss": float(loss.mean()),
            "accuracy": float(((out64 > 0) == (y64 > 0.5)).mean()),
            "auc": auc(out64, y64),
            "ic": None,
        }
    return {
        "loss": float(((out64 - y64) ** 2).mean()),
        "accuracy": float((np.sign(out64) == np.sign(y64)).mean()),
        "auc": None,
        "ic": spearman(out64, y64),
    }


@torch.no_grad()
def predict(model: TradingModel, dataset: Any, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs and labels for every sample of ``dataset``, in dataset order."""
    model.eval()
    outs, ys = [], []
    for x, ids, y in dataset.batches(batch_size, shuffle=False):
        outs.append(model(x, ids).float().cpu())
        ys.append(y.float().cpu())
    if not outs:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    return torch.cat(outs).numpy(), torch.cat(ys).numpy()


def evaluate(model: TradingModel, dataset: Any, batch_size: int = 4096) -> dict[str, Any]:
    t0 = time.perf_counter()
    out, y = predict(model, dataset, batch_size)
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
) -> FitState:
    """AdamW with early stopping on validation loss; the best weights are kept in ``state.best_state``.

    ``train_model`` is what the training step runs (a DDP wrapper of ``model``, see
    :mod:`training.collectives`); ``sync`` makes each epoch's metrics, and so the stopping decision,
    the same on every rank.
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
        valid_m = evaluate(model, valid_ds, max(cfg.batch_size, 4096))
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


# --------------------------------------------------------------------------------------- checkpoints


def run_dir(project: Project, run_id: str) -> Path:
    return project.path(project.paths.runs) / run_id


def model_kwargs(model: TradingModel, cfg: ModelConfig) -> dict[str, Any]:
    """What rebuilds the same architecture: TradingModel's constructor arguments."""
    return {
        "num_assets": model.num_assets,
        "asset_embedding_dim": model.embedding_dim,
        "feature_dim": model.feature_dim,
        "encoder": cfg.encoder,
        "combine": cfg.combine,
        "task": cfg.task,
        "hidden": cfg.hidden,
        "layers": cfg.layers,
        "dropout": cfg.dropout,
    }


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so an interrupted save never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise TrainingError(
            f"no checkpoint at {path}", hint="the run may have stopped before its first epoch"
        )
    # weights_only: tensors and plain containers only, no arbitrary unpickling
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is not an fstore checkpoint of format {CHECKPOINT_FORMAT}")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any], which: str = "best") -> TradingModel:
    kwargs = dict(ckpt["model_kwargs"])
    model = TradingModel(
        kwargs.pop("num_assets"), kwargs.pop("asset_embedding_dim"), kwargs.pop("feature_dim"), **kwargs
    )
    model.mapping_version = ckpt["mapping_version"]
    model.load_state_dict(
        ckpt["best_state"] if which == "best" and ckpt.get("best_state") else ckpt["model_state"]
    )
    return model


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


def _overrides(section: Any, values: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(section)}
    picked = {k: v for k, v in values.items() if v is not None and k in known}
    return dataclasses.replace(section, **picked) if picked else section


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"--device {name!r}: choose cpu, cuda or auto")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(
            f"--device {name} asked for, but torch sees no CUDA device", hint="use --device auto"
        )
    return torch.device(name)


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


def _label_for(task: str, label: str, horizon: int) -> str:
    if task == "regression" and not label.startswith("fwd_ret_"):
        return f"fwd_ret_{horizon}d"
    if task == "classification" and not label.startswith("label_"):
        return "label_up"
    return label


def _asset_rows(db: Path) -> list[tuple[int, str | None, str | None, str | None]]:
    """(asset_id, symbol, category, subcategory) from dim_symbol, for logging embeddings."""
    from features.warehouse import connect

    con = connect(db, read_only=True, wait_s=10.0)
    try:
        has = con.execute(
            "select count(*) from duckdb_tables() where table_name = 'dim_symbol' and schema_name = 'main'"
        ).fetchall()[0][0]
        if not has:
            return []
        cols = {r[0] for r in con.execute("describe dim_symbol").fetchall()}
        cat = "category" if "category" in cols else "null"
        sub = "subcategory" if "subcategory" in cols else "null"
        return [
            (int(a), s, c, sc)
            for a, s, c, sc in con.execute(
                f"select asset_id, symbol, {cat}, {sub} from dim_symbol order by asset_id"
            ).fetchall()
        ]
    finally:
        con.close()


def _check_mapping(project: Project, num_embeddings: int, version: str | None) -> None:
    """The embedding table must have max(asset_id) + 1 rows for the data's mapping version."""
    if version is None or not project.mapping_path.is_file():
        return  # a bare warehouse without the JSON record: the loader already checked dim_symbol
    from features.mapping import load_mapping

    check_num_embeddings(num_embeddings, load_mapping(project.mapping_path), version)


class _StopSignals:
    """SIGINT / SIGTERM ask the run to stop at the next safe point (between steps, outside DuckDB).

    A handler that raised at once could land inside a DuckDB call, which turns it into its own error
    and leaves the run 'failed'; the flag is checked by :meth:`check` from plain Python instead. A
    second signal stops at once. Only the main thread can install handlers; elsewhere this is a no-op.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    def _handler(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            raise KeyboardInterrupt(f"signal {signum} (second)")
        self.received = signum

    def check(self) -> None:
        if self.received is not None:
            raise KeyboardInterrupt(f"signal {self.received}")


class _Progress:
    """A rich progress bar: one task per epoch with the running loss and samples/s."""

    def __init__(self, enabled: bool, total_per_epoch: int) -> None:
        self.enabled = enabled
        self.total = total_per_epoch
        self.bar = None
        self.task = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TextColumn("{task.fields[rate]:,.0f} samples/s"),
                TimeElapsedColumn(),
            )
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def epoch(self, epoch: int) -> None:
        if self.bar is not None:
            self.task = self.bar.add_task(f"epoch {epoch}", total=self.total, loss=float("nan"), rate=0.0)

    def step(self, b: int, loss: float, rate: float) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, advance=b, loss=loss, rate=rate)

    def log(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text, highlight=False)


def _find_run(db: Path, ref: str) -> dict[str, Any]:
    """The train_runs row of ``ref`` (ID, unique prefix or ``latest``), read with a short read-only open."""
    from features.warehouse import connect

    con = connect(db, read_only=True)
    try:
        return runs.resolve_run(con, ref)
    finally:
        con.close()


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
) -> TrainResult:
    """One logged training run (see the module docstring). ``epochs`` is the run's total epoch count."""
    from training.loader import WindowDataset

    db = Path(db) if db is not None else project.warehouse_path
    if resume and init_from:
        raise ConfigError("--resume continues a run and --init-from starts a new one from it: pick one")
    writer = collectives.is_writer()  # rank 0 of a distributed run, or a plain run: the warehouse writer
    if not writer:
        progress, log = False, None
    if writer:
        runs.mark_stale_runs(db)
    collectives.barrier()  # the other ranks open the warehouse once rank 0 has written

    # 1. config: the project's, or the checkpoint's when continuing a run
    ckpt: dict[str, Any] | None = None
    source_ckpt: dict[str, Any] | None = None
    if resume:
        row = _find_run(db, resume)
        if row["status"] == "running":
            raise TrainingError(f"run {row['run_id']} is still running (pid {row['pid']} on {row['host']})")
        ckpt = load_checkpoint(run_dir(project, row["run_id"]) / LAST)
        model_cfg = ModelConfig(**ckpt["model_config"])
        train_cfg = _overrides(
            TrainConfig(**ckpt["train_config"]), {**(train_overrides or {}), "epochs": epochs}
        )
        run_id = row["run_id"]
    else:
        model_cfg = _overrides(project.model, model_overrides or {})
        train_cfg = _overrides(project.train, {**(train_overrides or {}), "epochs": epochs})
        run_id = collectives.broadcast(runs.new_run_id())
        if init_from:
            src = _find_run(db, init_from)
            source_ckpt = load_checkpoint(run_dir(project, src["run_id"]) / BEST)
            model_cfg = ModelConfig(**source_ckpt["model_config"])  # same architecture, so weights fit
            init_from = src["run_id"]
    if device is not None:
        train_cfg = dataclasses.replace(train_cfg, device=device)
    _check_train_config(train_cfg)
    if resume or init_from:
        _check_same_architecture(model_cfg, model_overrides or {}, "--resume" if resume else "--init-from")
    dev = resolve_device(train_cfg.device)
    if train_cfg.threads > 0:
        torch.set_num_threads(train_cfg.threads)

    # 2. data
    loader_cfg = ckpt["loader"] if ckpt else {}
    label = _label_for(
        model_cfg.task, loader_cfg.get("label", project.loader.label), project.features.horizon
    )
    lookback = loader_cfg.get("lookback", project.loader.lookback)
    kw = {"lookback": lookback, "label": label, "device": dev, "project": project}
    train_ds = WindowDataset.from_warehouse(db, "train", **kw)
    valid_ds = WindowDataset.from_warehouse(db, "valid", stats=train_ds.stats, **kw)
    test_ds = WindowDataset.from_warehouse(db, "test", stats=train_ds.stats, **kw)
    collectives.barrier()  # every rank has read its windows and let go: rank 0 may write
    if len(train_ds) == 0:
        raise TrainingError("the training split has no windows", hint="check [splits] and [loader] lookback")
    if ckpt and ckpt["dataset_fingerprint"] != train_ds.fingerprint:
        raise TrainingError(
            f"run {run_id} was trained on dataset {ckpt['dataset_fingerprint']}, the warehouse now serves "
            f"{train_ds.fingerprint}: resuming would mix two datasets",
            hint=f"start a new run from it with `fstore train --init-from {run_id}`",
        )

    # 3. model
    seed_everything(train_cfg.seed)
    model = TradingModel.from_config(
        model_cfg,
        num_assets=train_ds.num_embeddings,
        feature_dim=train_ds.num_features,
        mapping_version=train_ds.mapping_version,
    )
    _check_mapping(project, model.num_assets, train_ds.mapping_version)
    grown: dict[int, str] = {}
    if source_ckpt is not None:
        grown = _init_from_checkpoint(model, source_ckpt, train_ds, db, init_from or "")
        if log is not None:
            old_rows = int(source_ckpt["num_embeddings"])
            log(
                f"from run {init_from}: embedding table grown {old_rows} -> {model.num_assets} rows"
                + "".join(f"\n  asset {a}: initialised from {src}" for a, src in sorted(grown.items()))
            )
    model.to(dev)
    optimizer = make_optimizer(model, train_cfg)
    state = FitState()
    if ckpt:
        model.load_state_dict(ckpt["model_state"])
        optimizer.load_state_dict(ckpt["optimizer_state"])
        state = FitState(
            epoch=ckpt["epoch"],
            best_epoch=ckpt["best_epoch"],
            best_valid_loss=ckpt["best_valid_loss"],
            bad_epochs=ckpt["bad_epochs"],
            best_state=ckpt.get("best_state"),
            history=list(ckpt.get("history", [])),
        )
        torch.set_rng_state(ckpt["rng_state"])

    prepared = collectives.prepare(model, train_ds, valid_ds, train_cfg.max_train_samples)
    folder = run_dir(project, run_id)
    assets = _asset_rows(db) if writer else []
    config_json = {
        "model": dataclasses.asdict(model_cfg),
        "train": dataclasses.asdict(train_cfg),
        "loader": train_ds.config,
        "num_features": train_ds.num_features,
        "feature_names": list(train_ds.feature_names),
        "train_samples": len(train_ds),
        "valid_samples": len(valid_ds),
        "test_samples": len(test_ds),
        "distributed": collectives.describe(),
    }
    if grown:
        config_json["grown_rows"] = {str(k): v for k, v in grown.items()}

    def payload(st: FitState, opt: torch.optim.Optimizer) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "run_id": run_id,
            "epoch": st.epoch,
            "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer_state": opt.state_dict(),
            "best_state": None if st.best_state is None else {k: v.cpu() for k, v in st.best_state.items()},
            "best_epoch": st.best_epoch,
            "best_valid_loss": st.best_valid_loss,
            "bad_epochs": st.bad_epochs,
            "history": st.history,
            "rng_state": torch.get_rng_state(),
            "model_kwargs": model_kwargs(model, model_cfg),
            "model_config": dataclasses.asdict(model_cfg),
            "train_config": dataclasses.asdict(train_cfg),
            "loader": train_ds.config,
            "mapping_version": train_ds.mapping_version,
            "num_embeddings": train_ds.num_embeddings,
            "dataset_fingerprint": train_ds.fingerprint,
            "feature_names": list(train_ds.feature_names),
            "norm_stats": train_ds.stats.to_dict(),
            "init_from": init_from,
        }

    # 4. record the run
    if writer and ckpt:
        runs.resume_run(db, run_id, device=str(dev))
    elif writer:
        runs.start_run(
            db,
            runs.RunRecord(
                run_id=run_id,
                config=config_json,
                mapping_version=train_ds.mapping_version,
                dataset_fingerprint=train_ds.fingerprint,
                device=str(dev),
                num_params=model.num_parameters(),
                num_embeddings=model.num_assets,
                embedding_dim=model.embedding_dim,
                encoder=model_cfg.encoder,
                combine=model_cfg.combine,
                task=model_cfg.task,
                checkpoint=str(folder),
                git_commit=runs.git_commit(project.root),
                init_from=init_from,
            ),
        )
    say = log or (lambda text: None)
    previous = [None if ckpt is None or model.embedding_weight() is None else _emb(model)]
    if writer and ckpt is None and model.embedding_weight() is not None:  # epoch 0: the initial table
        runs.log_epoch(db, run_id, 0, [], embedding=_emb(model), assets=assets)
        previous[0] = _emb(model)

    # a capped epoch stops after the batch that reaches the cap, so it sees whole batches
    cap = train_cfg.max_train_samples
    capped = -(-cap // train_cfg.batch_size) * train_cfg.batch_size if cap else len(prepared.train)
    per_epoch = min(len(prepared.train), capped)
    status, error = "failed", None
    with _Progress(progress, per_epoch) as bar, _StopSignals() as stop:

        def on_step(b: int, loss: float, rate: float) -> None:
            stop.check()
            bar.step(b, loss, rate)

        def on_epoch(res: EpochResult, st: FitState, opt: torch.optim.Optimizer) -> None:
            stop.check()
            if not writer:
                return
            save_checkpoint(folder / LAST, payload(st, opt))
            if res.improved:
                save_checkpoint(folder / BEST, payload(st, opt))
            emb = _emb(model) if model.embedding_weight() is not None else None
            runs.log_epoch(
                db,
                run_id,
                res.epoch,
                [{"split": "train", **res.train}, {"split": "valid", **res.valid}],
                embedding=emb,
                previous=previous[0],
                assets=assets,
                best_epoch=st.best_epoch,
                best_valid_loss=st.best_valid_loss if math.isfinite(st.best_valid_loss) else None,
            )
            previous[0] = emb
            v = res.valid
            text = (
                f"epoch {res.epoch}: train loss {res.train['loss']:.4f}, valid loss {_fmt(v['loss'])}"
                f" acc {_fmt(v['accuracy'])} auc {_fmt(v['auc'])} ic {_fmt(v['ic'])},"
                f" {res.train['samples_per_s']:,.0f} samples/s" + ("  *best" if res.improved else "")
            )
            bar.log(text)
            say(text)

        try:
            fit(
                model,
                prepared.train,
                prepared.valid,
                train_cfg,
                optimizer=optimizer,
                state=state,
                on_epoch=on_epoch,
                on_step=on_step,
                on_epoch_start=bar.epoch,
                train_model=prepared.model,
                sync=prepared.sync,
            )
            stop.check()
            # 6. test the best epoch
            if state.best_state is not None:
                model.load_state_dict(state.best_state)
            test = evaluate(model, test_ds, max(train_cfg.batch_size, 4096)) if writer else {}
            stop.check()
            if writer and state.best_epoch is not None:
                runs.log_evaluation(db, run_id, state.best_epoch, "test", test)
            status = "finished"
        except KeyboardInterrupt:
            status, error, test = "interrupted", "interrupted by the user or a signal", {}
            raise
        except BaseException as exc:
            status, error, test = "failed", f"{type(exc).__name__}: {exc}", {}
            raise
        finally:
            if writer:
                runs.finish_run(db, run_id, status, test=test if status == "finished" else None, error=error)

    if plot_dir is not None:
        from training.plots import write_run_plots

        for path in write_run_plots(db, run_id, Path(plot_dir)):
            say(f"wrote {path}")
    return TrainResult(
        run_id=run_id,
        status=status,
        best_epoch=state.best_epoch,
        best_valid_loss=state.best_valid_loss if math.isfinite(state.best_valid_loss) else None,
        test=test,
        history=state.history,
        checkpoint=folder,
        num_params=model.num_parameters(),
        device=str(dev),
    )


def evaluate_run(
    project: Project, run: str, *, split: str = "test", db: Path | None = None, device: str = "cpu"
) -> dict[str, Any]:
    """Score a run's best checkpoint on ``split`` with its own normalisation; logged to train_metrics."""
    from training.loader import WindowDataset
    from training.normalize import NormStats

    db = Path(db) if db is not None else project.warehouse_path
    row = _find_run(db, run)
    ckpt = load_checkpoint(run_dir(project, row["run_id"]) / BEST)
    dev = resolve_device(device)
    ds = WindowDataset.from_warehouse(
        db,
        split,
        lookback=ckpt["loader"]["lookback"],
        label=ckpt["loader"]["label"],
        stats=NormStats.from_dict(ckpt["norm_stats"]),
        device=dev,
        project=project,
    )
    if ds.mapping_version != ckpt["mapping_version"]:
        raise TrainingError(
            f"run {row['run_id']} was trained on mapping {ckpt['mapping_version']}, the warehouse is on "
            f"{ds.mapping_version}",
            hint=f"grow it first: `fstore train --init-from {row['run_id']}`",
        )
    model = model_from_checkpoint(ckpt).to(dev)
    _check_mapping(project, model.num_assets, ds.mapping_version)
    metrics = evaluate(model, ds)
    runs.log_evaluation(db, row["run_id"], int(ckpt["best_epoch"] or ckpt["epoch"]), split, metrics)
    return {"run_id": row["run_id"], "epoch": ckpt["best_epoch"], "split": split, **metrics}


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _emb(model: TradingModel) -> np.ndarray:
    return model.embedding_weight().detach().float().cpu().numpy().copy()


def _init_from_checkpoint(
    model: TradingModel, ckpt: dict[str, Any], train_ds: Any, db: Path, source_run: str
) -> dict[int, str]:
    """Load ``ckpt``'s weights into ``model``, growing the embedding table for symbols added since."""
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
        rows = _asset_rows(db)
        n_old = old.shape[0]
        old_assets = [(a, c or "", s or "") for a, _, c, s in rows if a < n_old]
        new_assets = [(a, c or "", s or "") for a, _, c, s in rows if a >= n_old]
        table, grown = grow_embedding(old, new_assets, model.num_assets, old_assets)
        state[key] = torch.from_numpy(table)
    model.load_state_dict(state)
    return grown


__all__ = [
    "EpochResult",
    "FitState",
    "TrainResult",
    "auc",
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
