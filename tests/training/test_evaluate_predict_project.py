"""The loop a user closes, on a real (small) project built from the shipped models: build → train →
predict → evaluate, then a minor symbols sync after which the old run is still evaluated and used
for prediction; and the synthetic market's oracle, recomputed here with numpy."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch

from features.cli import main
from features.config import load_project
from training.checkpoints import load_checkpoint, save_checkpoint
from training.evaluate import read_summary

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]
UNIVERSE = {
    "sectors": {
        "Technology": ["AAPL", "MSFT", "NVDA"],
        "Finance": ["JPM", "GS", "BAC"],
        "Utilities": ["NEE", "DUK"],
        "Healthcare": ["JNJ", "PFE"],
    },
    "etfs": {"Market": ["SPY"]},
    "crypto": {"Major": ["BTCUSD", "ETHUSD"]},
    "indices": {},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A 13-symbol project on 1.3 years of the synthetic market, built and trained for one epoch."""
    root = tmp_path_factory.mktemp("e2e") / "proj"
    (root / "config").mkdir(parents=True)
    (root / "config" / "symbols.json").write_text(json.dumps(UNIVERSE, indent=2))
    (root / "config" / "project.toml").write_text(
        "[paths]\n"
        f'sql = "{REPO / "sql"}"\n'
        f'python_models = ["{REPO / "features" / "library"}"]\n'
        "[synthetic]\nyears = 1.3\n"
        "[loader]\nlookback = 10\n"
        "[model]\nhidden = 16\nasset_embedding_dim = 4\n"
        '[train]\nepochs = 1\nbatch_size = 256\nmax_train_samples = 3000\ndevice = "cpu"\n'
    )
    assert main(["build", "--project", str(root)]) == 0
    assert main(["train", "--project", str(root), "--no-progress"]) == 0
    return root


def _query(root: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _avg_ranks(x: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(x))
    ranks[np.argsort(x, kind="mergesort")] = np.arange(1, len(x) + 1)
    for v in np.unique(x):  # ties share their mean rank (many oracle scores are 0: φ = 0)
        ranks[x == v] = ranks[x == v].mean()
    return ranks


def _numbers(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+", line)]


def test_train_predict_evaluate_then_a_minor_sync(built: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "proj"
    shutil.copytree(built, root)
    (root / "config" / "project.toml").write_text(
        (built / "config" / "project.toml").read_text()
    )  # same settings; paths in it are absolute
    p = ["--project", str(root)]
    capsys.readouterr()
    (run_id,) = _query(root, "select run_id from train_runs")[0]

    # predict: one row per asset, printed top and bottom names in rank order
    assert main(["predict", "latest", "--top", "3", "--no-progress", *p]) == 0
    out = capsys.readouterr().out
    ranked = _query(root, "select symbol, score from predictions where run_id = ? order by rank", [run_id])
    assert len(ranked) == 13
    printed_top = [s for s, _ in ranked if re.search(rf"\b{s}\b", out.split("top 3:")[1].split("bottom")[0])]
    assert printed_top == [s for s, _ in ranked[:3]]
    top_line = next(ln for ln in out.splitlines() if re.search(rf"\b{ranked[0][0]}\b", ln))
    assert _numbers(top_line)[0] == pytest.approx(round(ranked[0][1], 4), abs=1e-9)

    # evaluate: tables, PNG, and the printed summary is the stored one
    assert main(["evaluate", "latest", "--plot", str(tmp_path / "plots"), "--no-progress", *p]) == 0
    out = capsys.readouterr().out
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        s = read_summary(con, run_id, "test")
        n_daily = con.execute("select count(*) from eval_daily where run_id = ?", [run_id]).fetchone()[0]
    finally:
        con.close()
    assert n_daily == s["dates"] > 20
    mean_line = next(ln for ln in out.splitlines() if ln.strip().startswith("mean"))
    assert _numbers(mean_line) == pytest.approx(
        [round(s["ic_mean"], 4), round(s["rank_ic_mean"], 4)], abs=1e-9
    )
    assert f"auc {s['auc']:.4f}" in out
    assert (tmp_path / "plots" / f"{run_id}_test_evaluation.png").stat().st_size > 10_000

    # a minor sync appends ORCL; the old run is evaluated and predicts the assets it knows
    symbols = json.loads((root / "config" / "symbols.json").read_text())
    symbols["sectors"]["Technology"].append("ORCL")
    (root / "config" / "symbols.json").write_text(json.dumps(symbols))
    assert main(["symbols", "sync", *p]) == 0
    assert main(["build", *p]) == 0
    capsys.readouterr()
    assert _query(root, "select max(version) from mapping_versions") == [("1.1",)]
    assert main(["predict", run_id, "--no-progress", *p]) == 0
    out = capsys.readouterr().out
    assert "not scored, added since the run: 1: ORCL" in out and "scored 13 assets" in out
    # an older checkpoint without the symbol map: the run's mapping is read back from asset_ids_at('1.0')
    best = root / "runs" / run_id / "best.pt"
    ckpt = load_checkpoint(best)
    assert "ORCL" not in ckpt["asset_symbols"] and len(ckpt["asset_symbols"]) == 13
    del ckpt["asset_symbols"]
    save_checkpoint(best, ckpt)
    assert main(["evaluate", run_id, "--no-progress", *p]) == 0
    out = capsys.readouterr().out
    assert "not scored (1 assets the run does not know): ORCL" in out
    assert "mapping 1.1" in out


def test_the_oracle_matches_a_numpy_recomputation(built: Path) -> None:
    from features.synthetic import load_assets, planted_coefficients
    from training.loader import WindowDataset
    from training.metrics import auc
    from training.oracle import oracle_evaluation

    project = load_project(built)
    oracle = oracle_evaluation(project, split="test")
    # the same samples, the score rebuilt from SQL rows with numpy
    ds = WindowDataset.from_warehouse(project, "test")
    ids = np.concatenate([b[1].numpy() for b in ds.batches(4096, shuffle=False)])
    ys = np.concatenate([b[2].numpy() for b in ds.batches(4096, shuffle=False)])
    days = ds.label_dates.astype(int)
    rows = _query(
        built,
        "select t.asset_id, (t.ts - date '1970-01-01')::int, t.ret_1d, t.fwd_ret_1d, d.category, d.subcategory"
        " from training_set t join dim_symbol d using (asset_id) where t.ret_1d is not null",
    )
    groups: dict[tuple, list[float]] = {}
    for _, d, r, _, c, sc in rows:
        groups.setdefault((d, c, sc), []).append(r)
    by_key = {(a, d): (r - np.mean(groups[(d, c, sc)]), f) for a, d, r, f, c, sc in rows}
    phi = planted_coefficients(load_assets(built / "config" / "symbols.json"))
    sym = dict(_query(built, "select asset_id, symbol from dim_symbol"))
    score = np.array(
        [phi[sym[a]] * by_key[(a, d)][0] for a, d in zip(ids.tolist(), days.tolist(), strict=True)]
    )
    fwd = np.array([by_key[(a, d)][1] for a, d in zip(ids.tolist(), days.tolist(), strict=True)])
    assert oracle.samples == len(ids)
    assert oracle.auc == pytest.approx(auc(score, ys))
    rank_ics = []
    for day in np.unique(days):
        m = days == day
        if m.sum() >= 2 and np.ptp(score[m]) > 0:
            rank_ics.append(np.corrcoef(_avg_ranks(score[m]), _avg_ranks(fwd[m]))[0, 1])
    assert oracle.summary["rank_ic_mean"] == pytest.approx(np.mean(rank_ics), rel=1e-6)
    assert oracle.summary["rank_ic_mean"] > 0.01 and oracle.auc > 0.5  # the planted signal is there


def test_python_m_training_oracle_prints_the_figures(built: Path, capsys) -> None:
    from training.oracle import main as oracle_main
    from training.oracle import oracle_evaluation

    assert oracle_main(["--project", str(built), "--kind", "return"]) == 0
    out = capsys.readouterr().out
    o = oracle_evaluation(load_project(built), kind="return")
    assert f"oracle (return) on test: {o.samples} samples over {int(o.summary['dates'])} dates" in out
    assert f"pooled AUC {o.auc:.4f}; per-date Rank IC mean {o.summary['rank_ic_mean']:.4f}" in out
