"""A run's checkpoints: ``runs/<run_id>/last.pt`` (every epoch) and ``best.pt`` (best validation loss).

A checkpoint is a plain dict of tensors and JSON-able values (``torch.load(weights_only=True)`` reads
it): the model and optimizer state, the best weights, the loop's progress, the RNG state, and what
the run was trained on (configs, loader options, mapping version, ``num_embeddings``, dataset
fingerprint, feature names, normalisation statistics, and ``asset_symbols``: the symbol → asset-ID
map of the run's mapping version) so that resume, ``--init-from``, evaluate and predict can refuse
data the model was not trained on, and carry the run's embedding rows to a later mapping by symbol.
Files are written whole (temp file, fsync, rename).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from features.config import ModelConfig, Project, TrainConfig
from features.errors import TrainingError
from features.warehouse import atomic_path
from training.model import TradingModel

CHECKPOINT_FORMAT = 1
LAST, BEST = "last.pt", "best.pt"


def run_dir(project: Project, run_id: str) -> Path:
    """The folder of a run's checkpoints."""
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
        "lookback": model.lookback,
        "tcn_levels": model.tcn_levels,
    }


def checkpoint_payload(
    *,
    run_id: str,
    model: TradingModel,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    dataset: Any,
    state: Any,
    optimizer: torch.optim.Optimizer,
    init_from: str | None,
    assets: Sequence[tuple[Any, ...]] | None = None,
) -> dict[str, Any]:
    """Everything a checkpoint holds, for ``model`` after the epochs ``state`` (a FitState) counts.

    ``assets``: ``dim_symbol`` rows (asset_id, symbol, …) of the data's mapping version, recorded as
    ``asset_symbols`` (None for a warehouse without ``dim_symbol``).
    """
    best = state.best_state
    return {
        "format": CHECKPOINT_FORMAT,
        "run_id": run_id,
        "epoch": state.epoch,
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer.state_dict(),
        "best_state": None if best is None else {k: v.cpu() for k, v in best.items()},
        "best_epoch": state.best_epoch,
        "best_valid_loss": state.best_valid_loss,
        "bad_epochs": state.bad_epochs,
        "history": state.history,
        "rng_state": torch.get_rng_state(),
        "model_kwargs": model_kwargs(model, model_cfg),
        "model_config": dataclasses.asdict(model_cfg),
        "train_config": dataclasses.asdict(train_cfg),
        "loader": dataset.config,
        "mapping_version": dataset.mapping_version,
        "num_embeddings": dataset.num_embeddings,
        "dataset_fingerprint": dataset.fingerprint,
        "feature_names": list(dataset.feature_names),
        "norm_stats": dataset.stats.to_dict(),
        "init_from": init_from,
        "asset_symbols": symbol_map(assets or (), dataset.num_embeddings),
    }


def symbol_map(assets: Sequence[tuple[Any, ...]], num_embeddings: int) -> dict[str, int] | None:
    """symbol → asset_id of the ``dim_symbol`` rows (asset_id, symbol, …) that fit the table; None when none."""
    found = {str(row[1]): int(row[0]) for row in assets if row[1] and 0 <= int(row[0]) < num_embeddings}
    return found or None


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write whole (temp file, fsync, rename, fsync of the folder): never half a checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint (tensors and plain containers only) and check its format."""
    if not path.is_file():
        raise TrainingError(
            f"no checkpoint at {path}", hint="the run may have stopped before its first epoch"
        )
    # weights_only: tensors and plain containers only, no arbitrary unpickling
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is not an fstore checkpoint of format {CHECKPOINT_FORMAT}")
    return ckpt


def tcn_levels_of(ckpt: dict[str, Any]) -> int | None:
    """The dilation levels the checkpoint's TCN was built with (None for a GRU / LSTM)."""
    kwargs = ckpt["model_kwargs"]
    if kwargs.get("encoder") != "tcn":
        return None
    if kwargs.get("tcn_levels") is not None:
        return int(kwargs["tcn_levels"])
    # written before the TCN was sized by its lookback: max(layers, 2) levels, as it was trained
    return max(int(kwargs.get("layers", 1)), 2)


def model_from_checkpoint(ckpt: dict[str, Any], which: str = "best") -> TradingModel:
    """The checkpoint's model with its best weights (``which="best"``, when it has them) or its last."""
    kwargs = dict(ckpt["model_kwargs"])
    kwargs["tcn_levels"] = tcn_levels_of(ckpt)
    model = TradingModel(
        kwargs.pop("num_assets"), kwargs.pop("asset_embedding_dim"), kwargs.pop("feature_dim"), **kwargs
    )
    model.mapping_version = ckpt["mapping_version"]
    model.load_state_dict(
        ckpt["best_state"] if which == "best" and ckpt.get("best_state") else ckpt["model_state"]
    )
    return model


__all__ = [
    "BEST",
    "CHECKPOINT_FORMAT",
    "LAST",
    "checkpoint_payload",
    "load_checkpoint",
    "model_from_checkpoint",
    "model_kwargs",
    "run_dir",
    "save_checkpoint",
    "symbol_map",
    "tcn_levels_of",
]
