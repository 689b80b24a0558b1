"""DDP benchmark: training samples/s with N processes (gloo on the CPU) against one process.

    .venv/bin/python bench/bench_ddp.py                       # 1 vs 2 processes, 2 epochs each
    .venv/bin/python bench/bench_ddp.py --nproc 1,2,4 --days 3000 --device cuda   # on a GPU machine

Data: the planted market of tests/training/planted.py (18 assets, one feature) written straight into a
warehouse, so the figure is the trainer's, not the build's. Model: a GRU at the project's default
size (hidden 64, lookback 60) so a step is real work, not just an all-reduce. Each run goes through
:func:`training.train.run_training` (1 process) or :func:`training.distributed.launch` (N), exactly as
``fstore train [--nproc N]`` does, and is logged to the warehouse. ``batch`` is per rank (the DDP
convention), so N ranks take 1/N of the steps per epoch.

Reported per run: wall seconds from the call to its result (process start, data loading, every epoch,
test), and each epoch's training samples/s as the run logs it (all ranks' samples over the slowest
rank's time), and samples trained per CPU-second of the whole run (launcher and ranks, loading and
evaluation included). On a shared CPU the ranks compete with each other and with other jobs: read the load
average printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "training"))


def make_project(folder: Path, days: int, batch: int, epochs: int, lookback: int, hidden: int, device: str):
    import planted

    from features.config import load_project

    root = planted.make_project(folder, days=days)
    (root / "config" / "project.toml").write_text(
        '[paths]\nwarehouse = "data/warehouse.duckdb"\n'
        f"[loader]\nlookback = {lookback}\n"
        f"[model]\nhidden = {hidden}\nasset_embedding_dim = 8\ndropout = 0.0\n"
        f"[train]\nepochs = {epochs}\nbatch_size = {batch}\nlr = 0.002\npatience = {epochs}\n"
        f'threads = 1\ndevice = "{device}"\n'
    )
    return load_project(root)


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the ranks): immune to other jobs' load."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def one(project, nproc: int) -> dict:
    from training import distributed
    from training.train import run_training

    load = os.getloadavg()[0]
    t0, cpu0 = time.perf_counter(), _cpu_s()
    result = run_training(project) if nproc == 1 else distributed.launch(project, nproc)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    trained = sum(h["train"]["samples"] for h in result.history)
    return {
        "nproc": nproc,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "train_samples_per_cpu_s": round(trained / cpu),
        "epoch_samples_per_s": [round(h["train"]["samples_per_s"]) for h in result.history],
        "epoch_samples": [h["train"]["samples"] for h in result.history],
        "train_loss": [round(h["train"]["loss"], 4) for h in result.history],
        "load_avg_1m_before": round(load, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nproc", default="1,2", help="comma-separated process counts")
    ap.add_argument("--days", type=int, default=1500, help="days per asset (18 assets)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=512, help="per rank")
    ap.add_argument("--lookback", type=int, default=60)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=1, help="alternate the process counts this many times")
    args = ap.parse_args()

    import torch

    print(
        json.dumps(
            {
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "torch": torch.__version__,
                "device": args.device,
                "threads_per_rank": 1,
            }
        ),
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(
            Path(tmp) / "market", args.days, args.batch, args.epochs, args.lookback, args.hidden, args.device
        )
        for _ in range(args.repeat):
            for n in (int(x) for x in args.nproc.split(",")):
                print(json.dumps(one(project, n)), flush=True)


if __name__ == "__main__":
    main()
