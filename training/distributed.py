"""The DDP launcher: start N ranks (or join torchrun's), each running one training run; one writer.

This module starts processes and joins process groups; the collectives each rank calls while it
trains (barrier, broadcast, sharding, the DDP wrapper, metric sync) are in :mod:`training.collectives`.
Imports run one way: distributed → train → collectives.

Two ways in, one code path per rank (:func:`run_rank`):

* ``fstore train --nproc N`` on one machine: :func:`launch` spawns N local ranks with
  ``torch.multiprocessing.start_processes`` (start method ``spawn``: a fresh interpreter per rank, no
  forked DuckDB or torch thread state), picks a free port on 127.0.0.1 for the rendezvous and joins them.
  Spawn rather than torchrun's elastic agent: it needs no rendezvous backend, and a rank that fails is
  seen at once by :meth:`ProcessContext.join`, which stops the others (SIGTERM, then SIGKILL).
* ``torchrun ... -m features train`` on one or many machines: each process finds RANK, WORLD_SIZE,
  LOCAL_RANK, MASTER_ADDR and MASTER_PORT in its environment (:func:`under_torchrun`) and joins that
  group; torchrun's agent tears the group down when a rank fails.

What each rank does (``training.train.run_training`` asks :mod:`training.collectives` at each step):

1. the process group: NCCL when the run's device is CUDA (rank ``r`` on ``cuda:LOCAL_RANK``), gloo on the
   CPU; collectives time out after ``FSTORE_DDP_TIMEOUT_S`` seconds (default 900) so a stuck peer
   ends the run instead of hanging it;
2. rank 0 alone touches the warehouse for writing (DuckDB has one writer per file): it marks stale runs,
   records the run, logs metrics and embeddings, writes checkpoints. Every rank reads the windows
   read-only between two barriers, so no rank reads while rank 0 writes;
3. each epoch, every rank draws the same permutation of the training windows from the shared seed and
   takes the positions ``rank::world`` of it (``shard_indices``); the last ``n % world`` positions
   are dropped so every rank takes the same number of steps (no rank waits on a missing all-reduce);
4. ``DistributedModel`` (DDP) all-reduces gradients in ``backward``; ``batch_size`` is per rank,
   so a step sees ``batch_size × world`` windows, and ``max_train_samples`` caps the epoch in total;
5. rank 0 scores the validation split; its metrics, and the train loss and throughput summed over
   ranks, are broadcast so every rank takes the same early-stopping decision (``sync_epoch``).
"""

from __future__ import annotations

import datetime
import os
import pickle
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from features.errors import ConfigError, TrainingError
from features.warehouse import atomic_write
from training.collectives import is_writer
from training.devices import resolve_device
from training.train import run_training

TIMEOUT_ENV = "FSTORE_DDP_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 900.0  # longer than any one rank-0 logging step; a hung peer still ends the run
GRACE_S = 15.0  # after a rank fails, the others get this long to record the failure before SIGTERM
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def under_torchrun() -> bool:
    """True in a process started by torchrun (or anything else that sets the torch.distributed env)."""
    return all(k in os.environ for k in TORCHRUN_ENV)


# --------------------------------------------------------------------------------------- one rank


def _timeout_s() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: a number of seconds") from None


def _rank_device(device: str | None, default: str) -> str:
    """This rank's device: ``cuda:LOCAL_RANK`` when the run trains on CUDA, else the CPU."""
    if resolve_device(device or default).type != "cuda":
        return "cpu"
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    return f"cuda:{local}"


def run_rank(project: Any, **kwargs: Any) -> Any:
    """Join the process group described by the environment, train, leave. Rank 0 returns the TrainResult."""
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
        atomic_write(out, pickle.dumps(result))


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


__all__ = ["TORCHRUN_ENV", "launch", "run_rank", "under_torchrun"]
