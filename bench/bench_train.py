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
The ablation trains each ``combine`` for each of ``--seeds`` with the loader / model / train settings of
the repo's config/project.toml (what ``make train`` uses: lookback 5, GRU hidden 32, 4 epochs at batch
256) and prints one JSON line per run: validation AUC / loss at the best epoch, test AUC, the per-date
Rank IC on the test split (mean and t over dates, as ``fstore evaluate`` computes it), CPU seconds, and
for runs with an embedding the within/between-group cosine similarity and silhouette of the planted
dynamics, how many of AAPL's 5 nearest neighbours share its planted dynamic, and over every asset the
share of its 5 nearest neighbours that share its own. Then a line per ``combine`` with mean ± std over
the seeds, and the oracle's figures on the same test windows (``training.oracle``):

    .venv/bin/python bench/bench_train.py --embedding --no-throughput --combines concat,none --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
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


def _ablation_run(project, combine: str, seed: int, dynamics: dict[str, str]) -> dict:
    """One training run of the ablation and its figures (see the module docstring)."""
    import duckdb

    from training.embeddings import group_separation, load_embeddings, neighbours
    from training.evaluate import run_evaluation
    from training.summary import neighbour_agreement
    from training.train import run_training

    t0, c0 = time.perf_counter(), time.process_time()
    r = run_training(project, model_overrides={"combine": combine}, train_overrides={"seed": seed})
    ev = run_evaluation(project, r.run_id, split="test")
    v = r.history[r.best_epoch - 1]["valid"]
    row = {
        "combine": combine,
        "seed": seed,
        "best_epoch": r.best_epoch,
        "valid_auc": round(v["auc"], 4),
        "valid_loss": round(v["loss"], 5),
        "test_auc": round(r.test["auc"], 4),
        "rank_ic_mean": round(ev.summary["rank_ic_mean"], 4),
        "rank_ic_t": round(ev.summary["rank_ic_t"], 2),
        "seconds": round(time.perf_counter() - t0, 1),
        "cpu_s": round(time.process_time() - c0, 1),
    }
    if combine != "none":
        con = duckdb.connect(str(project.warehouse_path), read_only=True)
        try:
            emb = load_embeddings(con, r.run_id)
        finally:
            con.close()
        labels = [dynamics[s] for s in emb.symbols]
        sep = group_separation(emb.vectors, labels)
        near = [n for n, *_ in neighbours(emb, "AAPL", top=5)]
        row |= {
            "within": round(sep.within, 3),
            "between": round(sep.between, 3),
            "silhouette": round(sep.silhouette, 3),
            "aapl_top5_same": sum(dynamics[n] == dynamics["AAPL"] for n in near),
            "aapl_top5": near,
            "top5_agreement": round(neighbour_agreement(emb, labels, 5).share, 3),
        }
    return row


def ablation(project, combines: list[str], seeds: list[int]) -> list[dict]:
    import statistics

    import torch

    from features.synthetic import load_assets, planted_dynamics
    from training.oracle import oracle_evaluation

    torch.set_num_threads(1)
    dynamics = planted_dynamics(load_assets(project.symbols_path))
    rows = []
    for combine in combines:
        for seed in seeds:
            rows.append(_ablation_run(project, combine, seed, dynamics))
            print(json.dumps(rows[-1]), flush=True)
    for combine in combines:
        mine = [r for r in rows if r["combine"] == combine]
        summary = {"combine": combine, "seeds": len(mine)}
        for key in (
            "test_auc",
            "rank_ic_mean",
            "rank_ic_t",
            "silhouette",
            "top5_agreement",
            "aapl_top5_same",
        ):
            values = [r[key] for r in mine if key in r]
            if values:
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                summary[key] = f"{statistics.mean(values):.4f} ± {spread:.4f}"
        print(json.dumps({"summary": summary}, ensure_ascii=False), flush=True)
    o = oracle_evaluation(project)
    print(
        json.dumps(
            {
                "oracle": {
                    "test_auc": round(o.auc, 4),
                    "rank_ic_mean": round(o.summary["rank_ic_mean"], 4),
                    "rank_ic_t": round(o.summary["rank_ic_t"], 2),
                    "samples": o.samples,
                }
            }
        ),
        flush=True,
    )
    return rows


def repo_training_toml() -> str:
    """The [loader], [model] and [train] sections of the repo's config/project.toml, as TOML text."""
    import tomllib

    settings = tomllib.loads((REPO / "config" / "project.toml").read_text())
    out = []
    for section in ("loader", "model", "train"):
        values = {
            **settings.get(section, {}),
            **({"threads": 1, "device": "cpu"} if section == "train" else {}),
        }
        out.append(f"[{section}]")
        out += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    return "\n".join(out) + "\n"


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
    ap.add_argument("--seeds", default="0,1,2", help="training seeds of each ablation run (comma list)")
    ap.add_argument("--no-throughput", action="store_true", help="skip the throughput figures")
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
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if args.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
    print(json.dumps(info), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        if args.no_throughput and not args.save_block:
            pass  # the ablation alone: no throughput market to build
        elif args.from_block:
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
        if not args.no_throughput:
            print(
                json.dumps({"throughput": throughput(ds, args.device, args.steps, args.warmup, args.batch)}),
                flush=True,
            )
        if args.embedding:
            market = build_market(Path(tmp) / "ablation", repo_training_toml())
            seeds = [int(x) for x in args.seeds.split(",")]
            ablation(dataclasses.replace(market), args.combines.split(","), seeds)


if __name__ == "__main__":
    main()
