"""The embedding earns its place on the built-in synthetic market (features/synthetic.py).

That market plants asset-specific dynamics: the idiosyncratic returns of Technology, Energy and crypto
Major assets are AR(1) with φ = +0.25 (momentum), of Finance, Utilities and DeFi with φ = −0.25 (mean
reversion), of the rest φ = 0. The factors carry no autocorrelation, so only a model that knows which
asset it looks at can use the planted signal. An oracle that knows every asset's φ and today's return
reaches a validation AUC of about 0.537 here; a model without the embedding cannot beat about 0.51.

Fixed seeds, the default market (10 years, 154 symbols), lookback 5 and a small GRU so that the test
runs in about a minute on 2 CPU cores (build ~7 s, two runs ~45 s).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import torch

from features.build import run_build
from features.config import load_project
from features.synthetic import load_assets, planted_dynamics
from training.embeddings import group_separation, load_embeddings
from training.train import run_training

REPO = Path(__file__).resolve().parents[2]

AUC_MARGIN = 0.015  # required; measured +0.028 (0.533 vs 0.505)
LOSS_MARGIN = 0.001  # required; measured −0.0022 (0.6913 vs 0.6935)


@pytest.fixture
def market(tiny_project: Path):
    (tiny_project / "config" / "project.toml").write_text(
        "[paths]\n"
        f'sql = "{REPO / "sql"}"\n'
        f'python_models = ["{REPO / "features" / "library"}"]\n'
        "[loader]\nlookback = 5\n"
        "[model]\nhidden = 32\n"
        '[train]\nepochs = 4\npatience = 2\nbatch_size = 256\nlr = 0.003\nthreads = 1\ndevice = "cpu"\n'
    )
    project = load_project(tiny_project)
    run_build(project, quiet=True, run_tests=False)
    return project


def test_embedding_beats_none_on_the_synthetic_market_and_groups_planted_dynamics(market) -> None:
    torch.set_num_threads(1)
    with_emb = run_training(market)
    without = run_training(market, model_overrides={"combine": "none"})
    valid = {r.run_id: r.history[r.best_epoch - 1]["valid"] for r in (with_emb, without)}
    auc_e, auc_n = valid[with_emb.run_id]["auc"], valid[without.run_id]["auc"]
    print(
        f"valid AUC {auc_e:.4f} vs {auc_n:.4f}; loss {with_emb.best_valid_loss:.5f} vs {without.best_valid_loss:.5f}"
    )
    assert auc_e >= auc_n + AUC_MARGIN
    assert with_emb.best_valid_loss <= without.best_valid_loss - LOSS_MARGIN

    con = duckdb.connect(str(market.warehouse_path), read_only=True)
    try:
        emb = load_embeddings(con, with_emb.run_id)
    finally:
        con.close()
    dynamics = planted_dynamics(load_assets(market.symbols_path))
    sep = group_separation(emb.vectors, [dynamics[s] for s in emb.symbols])
    print(sep)
    assert sep.within > sep.between + 0.1
    assert sep.silhouette > 0.05
