"""The collectives a training run uses, and the wrappers that make one rank's share of the work.

    active / rank / world_size   where this process stands (a plain run is rank 0 of a world of 1)
    is_writer                    only rank 0 writes to the warehouse and the runs folder
    barrier / broadcast          wait for every rank / rank 0's object on every rank
    shard_indices / ShardedDataset   this rank's positions of the epoch's shared permutation
    DistributedModel / prepare   DDP around the model, the training shard, validation on rank 0
    sync_epoch                   one epoch's metrics made the same on every rank
    describe                     what the run's config records about the process group

Every function is a no-op (or the identity) without a process group, so :func:`training.train.run_training`
calls them unconditionally. Starting ranks is :mod:`training.distributed`'s job (the launcher); this
module imports nothing from training, so arrows run launcher → train → collectives only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from features.errors import ConfigError

# --------------------------------------------------------------------------------------- where am I


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_writer() -> bool:
    """Only rank 0 (or a run without a process group) writes to the warehouse and the runs folder."""
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (picklable objects); ``obj`` itself without a group."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# --------------------------------------------------------------------------------------- sharding


def shard_indices(n: int, rank: int, world: int, seed: int, shuffle: bool = True) -> torch.Tensor:
    """Rank ``rank``'s sample indices for one epoch: positions ``rank::world`` of a shared permutation.

    Every rank draws the same permutation (a CPU generator seeded with ``seed``, so the order does not
    depend on the device or machine) and drops its last ``n % world`` positions: the shards are
    disjoint, each has ``n // world`` indices, and together they cover all but ``n % world`` samples.
    """
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"rank {rank} is not in a world of {world}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) if shuffle else torch.arange(n)
    return order[: n - n % world][rank::world]


class ShardedDataset:
    """One rank's view of a WindowDataset for training: :meth:`batches` walks this rank's shard only."""

    def __init__(self, base: Any, rank: int, world: int, max_samples: int = 0) -> None:
        self.base, self.rank, self.world = base, rank, world
        # max_train_samples caps the epoch over all ranks: each takes its share
        self.limit = math.ceil(max_samples / world) if max_samples else 0

    def __len__(self) -> int:
        n = len(self.base) // self.world
        return min(n, self.limit) if self.limit else n

    def batches(
        self, batch_size: int = 1024, shuffle: bool = True, seed: int = 0, drop_last: bool = False
    ) -> Iterator[Any]:
        idx = shard_indices(len(self.base), self.rank, self.world, seed, shuffle)[: len(self)]
        return self.base.batches(batch_size, drop_last=drop_last, order=idx)


class _NoSamples:
    """What ranks other than 0 validate on: nothing (rank 0's metrics are broadcast instead)."""

    def __len__(self) -> int:
        return 0

    def batches(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return iter(())


class DistributedModel(DistributedDataParallel):
    """DDP around a TradingModel that still answers ``loss`` (the training step calls it)."""

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.module.loss(out, y)


@dataclasses.dataclass
class Prepared:
    """What ``fit`` trains with on this rank: the model to step, its training and validation data."""

    model: Any
    train: Any
    valid: Any
    sync: Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]] | None


def prepare(model: torch.nn.Module, train_ds: Any, valid_ds: Any, max_samples: int) -> Prepared:
    """Wrap for this rank: DDP model, training shard, validation on rank 0 only. Unchanged without a group."""
    if not active():
        return Prepared(model, train_ds, valid_ds, None)
    device = next(model.parameters()).device
    ddp = DistributedModel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return Prepared(
        ddp,
        ShardedDataset(train_ds, rank(), world_size(), max_samples),
        valid_ds if is_writer() else _NoSamples(),
        sync_epoch,
    )


def sync_epoch(train_m: dict[str, Any], valid_m: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One epoch's metrics, the same on every rank: train summed over ranks, validation from rank 0.

    Train: sample-weighted loss, total samples, samples/s over the slowest rank's time, mean data-wait share.
    """
    seen = float(train_m["samples"])
    rate = float(train_m["samples_per_s"])
    elapsed = seen / rate if rate > 0 else 0.0
    loss_sum = (train_m["loss"] or 0.0) * seen
    sums = torch.tensor([loss_sum, seen, float(train_m["data_wait_share"])], dtype=torch.float64)
    slowest = torch.tensor([elapsed], dtype=torch.float64)
    if dist.get_backend() == "nccl":  # NCCL reduces CUDA tensors only
        sums, slowest = sums.cuda(), slowest.cuda()
    dist.all_reduce(sums)
    dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
    loss_sum, seen, wait = sums.tolist()
    total = {
        "loss": loss_sum / seen if seen else None,
        "samples": int(seen),
        "samples_per_s": seen / max(float(slowest.item()), 1e-9),
        "data_wait_share": wait / world_size(),
    }
    return total, broadcast(valid_m)


def describe() -> dict[str, Any]:
    """What the run's config records about its process group."""
    if not active():
        return {"world_size": 1}
    return {"world_size": world_size(), "backend": dist.get_backend()}


__all__ = [
    "DistributedModel",
    "Prepared",
    "ShardedDataset",
    "active",
    "barrier",
    "broadcast",
    "describe",
    "is_writer",
    "prepare",
    "rank",
    "shard_indices",
    "sync_epoch",
    "world_size",
]
