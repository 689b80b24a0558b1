"""Data-parallel training with torch.distributed: N ranks, one model each, one writer.

Two ways in, one code path per rank (:func:`run_rank`):

* ``fstore train --nproc N`` on one machine: :func:`launch` spawns N local ranks with
  ``torch.multiprocessing.start_processes`` (start method ``spawn``: a fresh interpreter per rank, no
  forked DuckDB or torch thread state), picks a free port on 127.0.0.1 for the rendezvous and joins them.
  Spawn rather than torchrun's elastic agent: it needs no rendezvous backend, and a rank that fails is
  seen at once by :meth:`ProcessContext.join`, which stops the others (SIGTERM, then SIGKILL).
* ``torchrun ... -m features train`` on one or many machines: each process finds RANK, WORLD_SIZE,
  LOCAL_RANK, MASTER_ADDR and MASTER_PORT in its environment (:func:`under_torchrun`) and joins that
  group; torchrun's agent tears the group down when a rank fails.

What each rank does (``training.train.run_training`` asks this module at each step):

1. the process group: NCCL when the run's device is CUDA (rank ``r`` on ``cuda:LOCAL_RANK``), gloo on the
   CPU; collectives time out after ``FSTORE_DDP_TIMEOUT_S`` seconds (default 900) so a stuck peer
   ends the run instead of hanging it;
2. rank 0 alone touches the warehouse for writing (DuckDB has one writer per file): it marks stale runs,
   records the run, logs metrics and embeddings, writes checkpoints. Every rank reads the windows
   read-only between two barriers, so no rank reads while rank 0 writes;
3. each epoch, every rank draws the same permutation of the training windows from the shared seed and
   takes the positions ``rank::world`` of it (:func:`shard_indices`); the last ``n % world`` positions
   are dropped so every rank takes the same number of steps (no rank waits on a missing all-reduce);
4. :class:`DistributedModel` (DDP) all-reduces gradients in ``backward``; ``batch_size`` is per rank,
   so a step sees ``batch_size × world`` windows, and ``max_train_samples`` caps the epoch in total;
5. rank 0 scores the validation split; its metrics, and the train loss and throughput summed over
   ranks, are broadcast so every rank takes the same early-stopping decision (:func:`sync_epoch`).
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import pickle
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from features.errors import ConfigError, TrainingError

TIMEOUT_ENV = "FSTORE_DDP_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 900.0  # longer than any one rank-0 logging step; a hung peer still ends the run
GRACE_S = 15.0  # after a rank fails, the others get this long to record the failure before SIGTERM
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


# --------------------------------------------------------------------------------------- where am I


def under_torchrun() -> bool:
    """True in a process started by torchrun (or anything else that sets the torch.distributed env)."""
    return all(k in os.environ for k in TORCHRUN_ENV)


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


# --------------------------------------------------------------------------------------- one rank


def _timeout_s() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: a number of seconds") from None


def _rank_device(device: str | None, default: str) -> str:
    """This rank's device: ``cuda:LOCAL_RANK`` when the run trains on CUDA, else the CPU."""
    wanted = device or default
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(f"--device {wanted} asked for, but torch sees no CUDA device")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return f"cuda:{local}"
    return "cpu"


def run_rank(project: Any, **kwargs: Any) -> Any:
    """Join the process group described by the environment, train, leave. Rank 0 returns the TrainResult."""
    from training.train import run_training

    device = _rank_device(kwargs.pop("device", None), project.train.device)
    dist.init_process_group(
        backend="nccl" if device.startswith("cuda") else "gloo",
        timeout=datetime.timedelta(seconds=_timeout_s()),
    )
    try:
        if not is_writer():
            kwargs.update(progress=False, log=None, plot_dir=None)
        result = run_training(project, device=device, **kwargs)
        return result if is_writer() else None
    finally:
        dist.destroy_process_group()


# --------------------------------------------------------------------------------------- N local ranks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_rank(
    local: int, world: int, port: int, entry: Callable[..., Any], project: Any, kwargs: dict, out: str
) -> None:
    os.environ.update(
        RANK=str(local),
        LOCAL_RANK=str(local),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    result = entry(project, **kwargs)
    if local == 0:
        Path(out).write_bytes(pickle.dumps(result))


def launch(project: Any, nproc: int, *, entry: Callable[..., Any] = run_rank, **kwargs: Any) -> Any:
    """Train with ``nproc`` ranks on this machine; returns rank 0's TrainResult.

    ``kwargs`` are :func:`training.train.run_training`'s; ``entry`` is what each rank runs (tests pass
    one that fails on purpose). A rank that fails stops the others and raises :class:`TrainingError`
    naming it; the run's row is left ``failed`` (by rank 0, or by :func:`runs.mark_stale_runs`).
    """
    import torch.multiprocessing as mp
    from torch.multiprocessing.spawn import ProcessException

    from training import runs

    if nproc < 1:
        raise ConfigError(f"--nproc {nproc}: at least 1")
    if under_torchrun():
        raise ConfigError(
            "--nproc with torchrun: torchrun already started the ranks",
            hint="leave --nproc out; torchrun's --nproc-per-node sets the ranks per machine",
        )
    db = kwargs.get("db") or project.warehouse_path
    with tempfile.TemporaryDirectory(prefix="fstore-ddp-") as tmp:
        out = str(Path(tmp) / "result.pkl")
        args = (nproc, _free_port(), entry, project, kwargs, out)
        ctx = mp.start_processes(_local_rank, args=args, nprocs=nproc, join=False, start_method="spawn")
        try:
            while not ctx.join(grace_period=GRACE_S):
                pass
        except ProcessException as exc:
            runs.mark_stale_runs(db)  # a rank 0 killed before it could say so
            first = str(exc).strip().splitlines()
            raise TrainingError(
                f"distributed training failed on rank {exc.error_index}: {first[-1] if first else exc}",
                hint="the run is marked failed; the other ranks were stopped",
            ) from None
        except BaseException:  # Ctrl-C in the launcher: the ranks got it too; give them time, then stop them
            for p in ctx.processes:
                p.join(GRACE_S)
                if p.is_alive():
                    p.kill()
            raise
        return pickle.loads(Path(out).read_bytes())


__all__ = [
    "DistributedModel",
    "ShardedDataset",
    "active",
    "barrier",
    "broadcast",
    "describe",
    "is_writer",
    "launch",
    "prepare",
    "rank",
    "run_rank",
    "shard_indices",
    "sync_epoch",
    "under_torchrun",
    "world_size",
]
