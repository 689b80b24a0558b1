"""Training benchmark: samples/s of the default TradingModel, data-wait share, and the embedding ablation.

    .venv/bin/python bench/bench_train.py                    # throughput on this machine's CPU
    .venv/bin/python bench/bench_train.py --embedding        # + every `combine` on the synthetic market
    .venv/bin/python bench/bench_train.py --save-block F.npz # write the train split's window block
    python3 bench/bench_train.py --from-block F.npz --device cuda   # on a GPU machine (no DuckDB needed)

Data: the built-in synthetic market (154 symbols, 10 years) built into a temporary project with the
repo's SQL models, read through ``WindowDataset`` exactly as ``fstore train`` does. Throughput is
measured on the default config (GRU, hidden 64, concat, embedding 16, lookback 60, batch 1024): timed
optimizer steps after warm-up steps; "data wait" is the share of step time spent in the loader's
``batches()`` (the device is synchronised around each fetch so the figure is exact on a GPU).
The ablation trains each ``combine`` with the settings of tests/training/test_embeddings_market.py
(lookback 5, hidden 32, fixed seeds) and reports validation AUC / loss at the best epoch plus the
within/between-group cosine similarity and silhouette of the planted dynamics.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _stub_missing(*names: str) -> None:
    """GPU images may lack duckdb/polars; the window block path never calls them, so a stub will do."""
    for name in names:
        try:
            __import__(name)
        except ImportError:
            mod = types.ModuleType(name)
            for attr in ("DuckDBPyConnection", "Error", "IOException"):
                setattr(mod, attr, type(attr, (Exception,), {}))
            sys.modules[name] = mod


def build_market(folder: Path, toml: str = ""):
    from features.build import run_build
    from features.config import load_project

    (folder / "config").mkdir(parents=True, exist_ok=True)
    (folder / "config" / "symbols.json").write_text((REPO / "config" / "symbols.json").read_text())
    (folder / "config" / "project.toml").write_text(
        f'[paths]\nsql = "{REPO / "sql"}"\npython_models = ["{REPO / "features" / "library"}"]\n{toml}'
    )
    project = load_project(folder)
    run_build(project, quiet=True, run_tests=False)
    return project


def throughput(ds, device: str, steps: int, warmup: int, batch: int = 1024) -> dict:
    import torch

    from features.config import ModelConfig, TrainConfig
    from training.model import TradingModel
    from training.train import make_optimizer, train_epoch

    torch.manual_seed(0)
    model = TradingModel.from_config(ModelConfig(), num_assets=ds.num_embeddings, feature_dim=ds.num_features)
    model.to(device)
    opt = make_optimizer(model, TrainConfig())
    train_epoch(model, opt, ds, batch_size=batch, seed=1, max_samples=warmup * batch)
    out = {}
    for profile in (False, True):
        cpu0 = (
            time.process_time()
        )  # CPU seconds of this process: unlike wall time, not inflated by other jobs
        m = train_epoch(model, opt, ds, batch_size=batch, seed=2, max_samples=steps * batch, profile=profile)
        cpu_s = time.process_time() - cpu0
        key = "profiled" if profile else "plain"
        out[key] = {
            "samples_per_cpu_s": round(m["samples"] / max(cpu_s, 1e-9)),
            "samples_per_s": round(m["samples_per_s"]),
            "data_wait_share": round(m["data_wait_share"], 4),
        }
    out["params"] = model.num_parameters()
    return out


def ablation(project, combines: list[str]) -> list[dict]:
    import duckdb
    import torch

    from features.synthetic import load_assets, planted_dynamics
    from training.embeddings import group_separation, load_embeddings
    from training.train import run_training

    torch.set_num_threads(1)
    dynamics = planted_dynamics(load_assets(project.symbols_path))
    rows = []
    for combine in combines:
        t0 = time.perf_counter()
        r = run_training(project, model_overrides={"combine": combine})
        v = r.history[r.best_epoch - 1]["valid"]
        row = {
            "combine": combine,
            "best_epoch": r.best_epoch,
            "valid_auc": round(v["auc"], 4),
            "valid_loss": round(v["loss"], 5),
            "test_auc": round(r.test["auc"], 4),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        if combine != "none":
            con = duckdb.connect(str(project.warehouse_path), read_only=True)
            try:
                emb = load_embeddings(con, r.run_id)
            finally:
                con.close()
            sep = group_separation(emb.vectors, [dynamics[s] for s in emb.symbols])
            row |= {
                "within": round(sep.within, 3),
                "between": round(sep.between, 3),
                "silhouette": round(sep.silhouette, 3),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def save_block(ds, path: Path) -> None:
    import numpy as np

    np.savez(
        path,
        block=ds._block.cpu().numpy(),
        starts=ds._starts.cpu().numpy(),
        asset_ids=ds._asset_ids.cpu().numpy(),
        y=ds._y.cpu().numpy(),
        label_dates=ds.label_dates,
        lookback=ds.lookback,
        num_embeddings=ds.num_embeddings,
        feature_names=np.array(ds.feature_names),
    )


def load_block(path: Path, device: str):
    import numpy as np

    _stub_missing("duckdb", "polars")
    from training.loader import WindowDataset
    from training.normalize import NormStats

    z = np.load(path)
    names = tuple(str(n) for n in z["feature_names"])
    f = len(names)
    return WindowDataset(
        block=z["block"],
        starts=z["starts"],
        asset_ids=z["asset_ids"],
        y=z["y"],
        label_dates=z["label_dates"],
        lookback=int(z["lookback"]),
        feature_names=names,
        num_embeddings=int(z["num_embeddings"]),
        mapping_version="1.0",
        fingerprint="bench",
        stats=NormStats("none", names, np.zeros(f), np.ones(f), None),
        device=device,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--steps", type=int, default=20, help="timed optimizer steps")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--embedding", action="store_true", help="also run the combine ablation (minutes)")
    ap.add_argument("--combines", default="concat,add,attention,separate,none")
    ap.add_argument("--save-block", type=Path, help="write the train split's window block to this .npz")
    ap.add_argument("--from-block", type=Path, help="read the window block from this .npz (no DuckDB)")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    info = {
        "machine": platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": args.device,
    }
    if args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    print(json.dumps(info), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        if args.from_block:
            t0 = time.perf_counter()
            ds = load_block(args.from_block, args.device)
            print(json.dumps({"load_s": round(time.perf_counter() - t0, 2), "windows": len(ds)}), flush=True)
        else:
            from training.loader import WindowDataset

            t0 = time.perf_counter()
            project = build_market(Path(tmp) / "market")
            t1 = time.perf_counter()
            ds = WindowDataset.from_warehouse(project, "train", device=args.device)
            print(
                json.dumps(
                    {
                        "build_s": round(t1 - t0, 1),
                        "load_s": round(time.perf_counter() - t1, 2),
                        "windows": len(ds),
                        "features": ds.num_features,
                    }
                ),
                flush=True,
            )
            if args.save_block:
                save_block(ds, args.save_block)
        print(
            json.dumps({"throughput": throughput(ds, args.device, args.steps, args.warmup, args.batch)}),
            flush=True,
        )
        if args.embedding:
            market = build_market(
                Path(tmp) / "ablation",
                "[loader]\nlookback = 5\n[model]\nhidden = 32\n"
                '[train]\nepochs = 4\npatience = 2\nbatch_size = 256\nlr = 0.003\nthreads = 1\ndevice = "cpu"\n',
            )
            ablation(dataclasses.replace(market), args.combines.split(","))


if __name__ == "__main__":
    main()
