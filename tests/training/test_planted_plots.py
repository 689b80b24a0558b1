"""The planted-dynamic colouring of the embedding plots and the run summary (issue 14 item 3).

The reference for "which dynamic did the synthetic market plant in this asset" is computed here from
the generated prices alone, never from fstore's labelling code: for each sub-category of stocks and
crypto, the pooled lag-1 autocorrelation of each member's daily log return net of the mean return of
the *other* members on the date (which removes the market and sub-category factors, which carry no
autocorrelation). Momentum groups come out clearly positive, mean-reversion groups clearly negative,
the rest near zero. ETFs have no planted AR of their own (they track their members).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import planted
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from features.build import run_build
from features.config import load_project
from training import plots
from training.embeddings import Embeddings, cosine_matrix
from training.planted import is_synthetic, planted_labels
from training.summary import format_summary, neighbour_agreement, summarize_run
from training.train import run_training

CLEAR = 0.05  # |autocorrelation| above which a group's dynamic is read as planted (measured ±0.1–0.2)

_AUTOCORR = """
with r as (
    select symbol, ts, ln(close / lag(close) over (partition by symbol order by ts)) as r from raw_prices
), d as (
    select r.symbol, r.ts, r.r, s.category, s.subcategory
    from r join dim_symbol s using (symbol) where r.r is not null and s.category <> 'etfs'
), g as (
    select *, (sum(r) over w - r) / nullif(count(*) over w - 1, 0) as others
    from d window w as (partition by category, subcategory, ts)
), e as (
    select category, subcategory, symbol, ts, r - others as e from g where others is not null
), pairs as (
    select category, subcategory, e, lag(e) over (partition by symbol order by ts) as prev from e
)
select category, subcategory, corr(e, prev) from pairs where prev is not null group by all
"""


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shipped universe's synthetic market (raw prices and dim_symbol only), and per symbol the
    dynamic read off its prices (sectors and crypto) or ``none`` (ETFs)."""
    root = tmp_path_factory.mktemp("synthetic")
    (root / "config").mkdir()
    repo = Path(__file__).resolve().parents[2]
    (root / "config" / "symbols.json").write_text((repo / "config" / "symbols.json").read_text())
    (root / "config" / "project.toml").write_text('[paths]\nwarehouse = "data/warehouse.duckdb"\n')
    (root / "sql").mkdir()
    project = load_project(root)
    run_build(project, quiet=True, run_tests=False)
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        acs = {(c, s): ac for c, s, ac in con.execute(_AUTOCORR).fetchall()}
        dim = con.execute(
            "select asset_id, symbol, category, subcategory from dim_symbol order by 1"
        ).fetchall()
    finally:
        con.close()
    read: dict[str, str] = {}
    for _, symbol, category, sub in dim:
        if category == "etfs":
            read[symbol] = "none"
            continue
        ac = acs[(category, sub)]
        assert abs(ac) > 2 * CLEAR or abs(ac) < CLEAR, f"{sub}: autocorrelation {ac:.3f} is ambiguous"
        read[symbol] = "momentum" if ac > CLEAR else "mean_reversion" if ac < -CLEAR else "none"
    assert set(read.values()) == {"momentum", "mean_reversion", "none"}
    return {"project": project, "dim": dim, "read": read}


def _embeddings(dim: list[tuple], seed: int = 0, trained: np.ndarray | None = None) -> Embeddings:
    rng = np.random.default_rng(seed)
    return Embeddings(
        run_id="r",
        epoch=1,
        asset_ids=np.array([r[0] for r in dim]),
        symbols=[r[1] for r in dim],
        categories=[r[2] for r in dim],
        subcategories=[r[3] for r in dim],
        vectors=rng.normal(size=(len(dim), 8)).astype(np.float32),
        trained=trained,
    )


def _figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Capture every figure the plots module saves (it still writes the PNG)."""
    seen: list[Any] = []
    real = plots._save

    def keep(plt: Any, fig: Any, path: Path, *, dpi: int) -> None:
        seen.append(
            {
                "axes": fig.axes,
                "texts": [[(t.get_text(), t.get_color()) for t in ax.texts] for ax in fig.axes],
            }
        )
        real(plt, fig, path, dpi=dpi)

    monkeypatch.setattr(plots, "_save", keep)
    return seen


def test_planted_labels_match_the_dynamics_read_off_the_prices(market: dict[str, Any]) -> None:
    emb = _embeddings(market["dim"])
    con = duckdb.connect(str(market["project"].warehouse_path), read_only=True)
    try:
        assert is_synthetic(con)
        labels = planted_labels(con, emb)
    finally:
        con.close()
    assert labels is not None
    assert dict(zip(emb.symbols, labels, strict=True)) == market["read"]


def test_real_data_has_no_planted_labels(tmp_path: Path) -> None:
    root = planted.make_project(tmp_path / "p", days=60)
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        dim = con.execute(
            "select asset_id, symbol, category, subcategory from dim_symbol order by 1"
        ).fetchall()
        assert not is_synthetic(con)
        assert planted_labels(con, _embeddings(dim)) is None
    finally:
        con.close()


def test_pca_panel_colours_each_asset_by_its_planted_dynamic(
    market: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = np.ones(len(market["dim"]), dtype=bool)
    trained[3] = False  # one untrained row: hollow grey, in no dynamic's group
    emb = _embeddings(market["dim"], trained=trained)
    con = duckdb.connect(str(market["project"].warehouse_path), read_only=True)
    try:
        labels = planted_labels(con, emb)
    finally:
        con.close()
    seen = _figures(monkeypatch)
    plots.pca_scatter(emb, tmp_path / "pca.png", labels)
    assert (tmp_path / "pca.png").stat().st_size > 0
    by_sub, by_dynamic = seen[0]["axes"]
    for ax, expected in (
        (by_dynamic, market["read"]),
        (by_sub, {s: f"{sub} ({c})" for _, s, c, sub in market["dim"]}),
    ):
        where = {tuple(np.round(t.xy, 9)): t.get_text() for t in ax.texts}
        drawn: dict[str, str] = {}
        for coll in ax.collections:
            for xy in coll.get_offsets():
                drawn[where[tuple(np.round(np.asarray(xy, dtype=float), 9))]] = coll.get_label()
        untrained = market["dim"][3][1]
        assert drawn.pop(untrained).startswith("untrained")
        assert drawn == {s: g for s, g in expected.items() if s != untrained}


def test_heatmap_names_each_block_with_its_planted_dynamic(
    market: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = _embeddings(market["dim"])
    labels = [market["read"][s] for s in emb.symbols]
    seen = _figures(monkeypatch)
    plots.similarity_heatmap(emb, tmp_path / "sim.png", labels)
    blocks = [text for text, _ in seen[0]["texts"][0]]
    subs = {f"{sub} ({c})": market["read"][s] for _, s, c, sub in market["dim"]}
    assert sorted(blocks) == sorted(f"{name}: {dyn}" for name, dyn in subs.items())
    # blocks ordered by dynamic: every dynamic's blocks are contiguous
    order = [b.rsplit(": ", 1)[1] for b in blocks]
    assert order == sorted(order)


def test_without_planted_labels_one_panel_by_category(
    market: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = _embeddings(market["dim"])
    seen = _figures(monkeypatch)
    plots.pca_scatter(emb, tmp_path / "pca.png")
    plots.similarity_heatmap(emb, tmp_path / "sim.png")
    (ax,) = seen[0]["axes"][:1]
    assert len([a for a in seen[0]["axes"] if a.collections]) == 1
    assert {c.get_label() for c in ax.collections} == {"sectors", "etfs", "crypto"}
    assert all(":" not in text for text, _ in seen[1]["texts"][0])


# ----------------------------------------------------------------------------------- the summary


def _brute_agreement(vectors: np.ndarray, labels: list[str], top: int) -> tuple[float, float]:
    n = len(labels)
    sims = cosine_matrix(vectors)
    shares, chances = [], []
    for i in range(n):
        others = sorted((j for j in range(n) if j != i), key=lambda j: (-sims[i, j], j))[:top]
        shares.append(sum(labels[j] == labels[i] for j in others) / len(others))
        chances.append(sum(labels[j] == labels[i] for j in range(n) if j != i) / (n - 1))
    return float(np.mean(shares)), float(np.mean(chances))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 12),
    top=st.integers(1, 4),
    seed=st.integers(0, 10_000),
    groups=st.integers(1, 3),
)
def test_neighbour_agreement_matches_a_brute_force_count(n: int, top: int, seed: int, groups: int) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 4))
    labels = [f"g{rng.integers(groups)}" for _ in range(n)]
    emb = Embeddings("r", 1, np.arange(n), [f"S{i}" for i in range(n)], [""] * n, [""] * n, vectors)
    a = neighbour_agreement(emb, labels, top)
    share, chance = _brute_agreement(vectors, labels, min(top, n - 1))
    assert math.isclose(a.share, share, abs_tol=1e-12) and math.isclose(a.chance, chance, abs_tol=1e-12)


def test_summary_of_a_run_on_real_data_has_no_oracle_and_no_planted_dynamic(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    project = load_project(planted.make_project(tmp_path / "p", days=300))
    run = run_training(project, epochs=1)
    s = summarize_run(project, run.run_id, symbol="MOM0", top=3)
    assert s.run_id == run.run_id and s.oracle is None and s.agreement is None
    assert s.model.auc is not None and math.isclose(s.model.auc, run.test["auc"], abs_tol=1e-6)
    assert s.symbol == "MOM0" and len(s.neighbours) == 3
    assert all(n.planted is None for n in s.neighbours) and "MOM0" not in {n.symbol for n in s.neighbours}
    text = "\n".join(format_summary(s))
    assert "oracle" not in text and "planted" not in text and "MOM0" in text
    rows = planted.query(project.root, "select count(*) from eval_summary where run_id = ?", [run.run_id])
    assert rows[0][0] > 0  # evaluated and stored like `fstore evaluate`
