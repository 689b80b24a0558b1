"""Per-date evaluation: every figure against a plain-Python reference written here, on data whose
answer is known (a score planted equal to the forward return on some dates and to its negative on
the others), and on random panels (hypothesis); then the tables, the PNG and the CLI on a trained run.
"""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

import duckdb
import numpy as np
import planted
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from features.cli import main
from features.config import load_project
from features.errors import ConfigError
from training.evaluate import (
    QUANTILES,
    cumulative,
    daily_metrics,
    read_summary,
    summarize,
)
from training.train import evaluate_run, run_training

torch.set_num_threads(1)

# ----------------------------------------------------------------------------------- the reference


def _avg_ranks(xs: list[float]) -> list[float]:
    """Ranks 1..n, ties sharing their average rank (plain Python)."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _corr(a: list[float], b: list[float]) -> float | None:
    n = len(a)
    if n < 2:
        return None
    ma, mb = sum(a) / n, sum(b) / n
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    if saa <= 1e-300 or sbb <= 1e-300:
        return None
    return sab / math.sqrt(saa * sbb)


def reference(panel: dict[int, dict[int, tuple[float, float]]], k: int = 2) -> list[dict]:
    """Per date (ascending): ic, rank_ic, quintile means, turnover, from {day: {asset: (score, ret)}}."""
    out, previous_top = [], None
    for day in sorted(panel):
        items = sorted(panel[day].items())
        s = [v[0] for _, v in items]
        r = [v[1] for _, v in items]
        row = {"day": day, "n": len(items), "ic": _corr(s, r), "rank_ic": _corr(_avg_ranks(s), _avg_ranks(r))}
        row["q"], row["turnover"] = None, None
        if len(items) >= QUANTILES * k:
            by_score = sorted(items, key=lambda kv: (kv[1][0], kv[0]))  # (score, asset_id)
            groups: list[list[float]] = [[] for _ in range(QUANTILES)]
            top = set()
            for pos, (asset, (_, ret)) in enumerate(by_score):
                g = pos * QUANTILES // len(by_score)
                groups[g].append(ret)
                if g == QUANTILES - 1:
                    top.add(asset)
            row["q"] = [sum(g) / len(g) for g in groups]
            if previous_top is not None:
                row["turnover"] = len(top - previous_top) / len(top)
            previous_top = top
        out.append(row)
    return out


def _flatten(panel: dict[int, dict[int, tuple[float, float]]]) -> tuple[np.ndarray, ...]:
    rows = [(d, a, s, r) for d, assets in panel.items() for a, (s, r) in assets.items()]
    rng = np.random.default_rng(len(rows))
    rows = [rows[i] for i in rng.permutation(len(rows))]  # any order in
    return tuple(np.array(col) for col in zip(*rows, strict=True))


def _close(a: float | None, b: float | None) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and not math.isnan(b) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _check_daily(daily, ref: list[dict]) -> None:
    assert daily.days.tolist() == [row["day"] for row in ref]
    assert daily.n_assets.tolist() == [row["n"] for row in ref]
    for i, row in enumerate(ref):
        assert _close(row["ic"], float(daily.ic[i])), (i, row["ic"], daily.ic[i])
        assert _close(row["rank_ic"], float(daily.rank_ic[i])), (i, row["rank_ic"], daily.rank_ic[i])
        assert _close(row["turnover"], float(daily.top_turnover[i]))
        if row["q"] is None:
            assert np.isnan(daily.quantiles[i]).all()
        else:
            for q in range(QUANTILES):
                assert _close(row["q"][q], float(daily.quantiles[i, q]))
            assert _close(row["q"][-1] - row["q"][0], float(daily.top_minus_bottom[i]))


def _stats(values: list[float]) -> dict[str, float | None]:
    n = len(values)
    mean = sum(values) / n if n else None
    std = statistics.stdev(values) if n >= 2 else None
    ir = mean / std if mean is not None and std else None
    return {
        "mean": mean,
        "std": std,
        "ir": ir,
        "t": ir * math.sqrt(n) if ir is not None else None,
        "hit": sum(v > 0 for v in values) / n if n else None,
        "n": float(n),
    }


def _check_summary(summary: dict, ref: list[dict]) -> None:
    series = {
        "ic": [r["ic"] for r in ref if r["ic"] is not None],
        "rank_ic": [r["rank_ic"] for r in ref if r["rank_ic"] is not None],
        "top_minus_bottom": [r["q"][-1] - r["q"][0] for r in ref if r["q"] is not None],
    }
    ir_name = {"ic": "icir", "rank_ic": "rank_icir", "top_minus_bottom": "top_minus_bottom_ir"}
    for name, values in series.items():
        want = _stats(values)
        assert _close(want["mean"], summary[f"{name}_mean"])
        assert _close(want["std"], summary[f"{name}_std"])
        assert _close(want["ir"], summary[ir_name[name]])
        assert _close(want["t"], summary[f"{name}_t"])
        assert _close(want["hit"], summary[f"{name}_hit_rate"])
        assert summary[f"{name}_dates"] == want["n"]
    for q in range(QUANTILES):
        col = [r["q"][q] for r in ref if r["q"] is not None]
        assert _close(sum(col) / len(col) if col else None, summary[f"q{q + 1}_mean"])
    turn = [r["turnover"] for r in ref if r["turnover"] is not None]
    assert _close(sum(turn) / len(turn) if turn else None, summary["top_turnover_mean"])
    assert summary["dates"] == len(ref)
    assert summary["samples"] == sum(r["n"] for r in ref)


# ----------------------------------------------------------------------------------- known answers


def test_a_score_planted_as_plus_or_minus_the_return_gives_the_known_figures() -> None:
    """On 'up' dates the score is the forward return, on the others its negative: every date's IC and
    Rank IC is exactly +1 or -1, the top quintile holds the best (or worst) fifth of returns."""
    rng = np.random.default_rng(0)
    n_days, n_assets = 40, 23
    up = rng.random(n_days) < 0.7
    panel: dict[int, dict[int, tuple[float, float]]] = {}
    for d in range(n_days):
        returns = rng.normal(0, 0.02, n_assets)
        panel[18000 + d] = {a: (float(r if up[d] else -r), float(r)) for a, r in enumerate(returns)}
    daily = daily_metrics(*_flatten(panel))
    signs = np.where(up, 1.0, -1.0)
    np.testing.assert_allclose(daily.ic, signs, atol=1e-12)
    np.testing.assert_allclose(daily.rank_ic, signs, atol=1e-12)
    summary = summarize(daily)
    k = int(up.sum())
    assert summary["ic_hit_rate"] == pytest.approx(k / n_days)
    assert summary["rank_ic_mean"] == pytest.approx((2 * k - n_days) / n_days)
    assert summary["rank_ic_std"] == pytest.approx(statistics.stdev(signs.tolist()))
    # top minus bottom: the top quintile (4 of 23 names) holds the best returns on an 'up' date and
    # the worst on the others; the bottom quintile (5 names) the opposite
    for i, d in enumerate(sorted(panel)):
        rets = sorted(v[1] for v in panel[d].values())
        top, bottom = (rets[-4:], rets[:5]) if up[i] else (rets[:4], rets[-5:])
        want = np.mean(top) - np.mean(bottom)
        assert daily.top_minus_bottom[i] == pytest.approx(want)
    _check_daily(daily, reference(panel))
    _check_summary(summary, reference(panel))


def test_turnover_counts_names_that_left_the_top_quintile() -> None:
    """Ten assets, scores = asset ID; the top quintile {8, 9} then {7, 9} then {7, 9}: turnover 1/2, 0."""
    scores = [list(range(10)), [0, 1, 2, 3, 4, 5, 6, 9, 0.5, 8], [0, 1, 2, 3, 4, 5, 6, 9, 0.5, 8]]
    panel = {d: {a: (float(s[a]), float(a)) for a in range(10)} for d, s in enumerate(scores)}
    daily = daily_metrics(*_flatten(panel))
    assert math.isnan(daily.top_turnover[0])
    assert daily.top_turnover[1:].tolist() == [0.5, 0.0]


def test_dates_with_too_few_assets_get_no_quintiles_but_keep_their_ic() -> None:
    """A date with fewer than 5·k assets has NULL quintiles; turnover then compares with the last
    date that had them; a date with one asset or a constant score has no IC."""
    panel = {
        0: {a: (float(a), float(a) * 0.01) for a in range(10)},
        1: {a: (float(-a), float(a) * 0.01) for a in range(9)},  # 9 < 10: no quintiles
        2: {a: (float(a % 3), float(a) * 0.01) for a in range(10)},
        3: {0: (1.0, 0.5)},  # one asset: nothing defined
        4: {a: (1.0, float(a)) for a in range(12)},  # constant score: no IC
    }
    daily = daily_metrics(*_flatten(panel))
    assert np.isnan(daily.quantiles[1]).all() and not np.isnan(daily.ic[1])
    assert daily.rank_ic[1] == pytest.approx(-1.0)
    assert np.isnan(daily.ic[3]) and np.isnan(daily.rank_ic[3]) and np.isnan(daily.quantiles[3]).all()
    assert np.isnan(daily.ic[4]) and not np.isnan(daily.quantiles[4]).any()
    _check_daily(daily, reference(panel))
    _check_summary(summarize(daily), reference(panel))
    # k = 1: five names are enough
    daily1 = daily_metrics(*_flatten(panel), min_per_quantile=1)
    assert not np.isnan(daily1.quantiles[1]).any()
    _check_daily(daily1, reference(panel, k=1))


def test_cumulative_curves_skip_null_dates() -> None:
    values = np.array([0.1, np.nan, 0.2, -0.05])
    out = cumulative(values)
    assert out[0] == pytest.approx(0.1) and np.isnan(out[1])
    assert out[2:] == pytest.approx([0.3, 0.25])


def test_non_finite_samples_are_left_out_and_duplicates_refused() -> None:
    from features.errors import TrainingError

    days = np.array([1, 1, 1, 1, 1, 1])
    assets = np.arange(6)
    daily = daily_metrics(
        days, assets, np.array([1, 2, 3, np.nan, 5, 6.0]), np.array([1, 2, 3, 4, np.inf, 6.0])
    )
    assert daily.n_assets.tolist() == [4] and daily.samples == 4
    with pytest.raises(TrainingError, match="two predictions for one asset"):
        daily_metrics(np.array([1, 1]), np.array([3, 3]), np.ones(2), np.ones(2))


_values = st.floats(-1.0, 1.0, allow_nan=False).map(lambda v: round(v, 2))  # rounding makes ties


@settings(max_examples=60, deadline=None)
@given(
    panel=st.dictionaries(
        st.integers(0, 30),
        st.dictionaries(st.integers(0, 40), st.tuples(_values, _values), min_size=1, max_size=25),
        min_size=1,
        max_size=8,
    ),
    k=st.integers(1, 3),
)
def test_every_figure_matches_the_plain_python_reference(panel, k) -> None:
    daily = daily_metrics(*_flatten(panel), min_per_quantile=k)
    ref = reference(panel, k)
    _check_daily(daily, ref)
    _check_summary(summarize(daily), ref)


# ----------------------------------------------------------------------------------- a trained run


@pytest.fixture
def trained(tmp_path: Path):
    project = load_project(planted.make_project(tmp_path / "proj", days=300))
    return project, run_training(project, epochs=2)


def _reference_daily(project, run_id: str, split: str = "test") -> list[dict]:
    """The run's per-date figures rebuilt here: the test split through the loader, the model's
    outputs, and each sample's forward return read with SQL."""
    from training.checkpoints import load_checkpoint, model_from_checkpoint
    from training.loader import WindowDataset
    from training.normalize import NormStats
    from training.train import predict

    ckpt = load_checkpoint(project.path(project.paths.runs) / run_id / "best.pt")
    ds = WindowDataset.from_warehouse(
        project,
        split,
        lookback=ckpt["loader"]["lookback"],
        label=ckpt["loader"]["label"],
        stats=NormStats.from_dict(ckpt["norm_stats"]),
    )
    out, _ = predict(model_from_checkpoint(ckpt), ds)
    ids = np.concatenate([b[1].numpy() for b in ds.batches(4096, shuffle=False)])
    days = ds.label_dates.astype("datetime64[D]").astype(int)
    fwd = dict(
        ((a, d), r)
        for a, d, r in planted.query(
            project.root, "select asset_id, (ts - date '1970-01-01')::int, fwd_ret_1d from training_set"
        )
    )
    panel: dict[int, dict[int, tuple[float, float]]] = {}
    for a, d, s in zip(ids.tolist(), days.tolist(), out.tolist(), strict=True):
        panel.setdefault(d, {})[a] = (s, fwd[(a, d)])
    return reference(panel)


def test_evaluate_stores_the_daily_series_and_summary_that_the_reference_gives(trained, tmp_path) -> None:
    project, run = trained
    m = evaluate_run(project, run.run_id, split="test", plot_dir=tmp_path / "plots")
    ref = _reference_daily(project, run.run_id)
    rows = planted.query(
        project.root,
        "select (ts - date '1970-01-01')::int, n_assets, ic, rank_ic, q1, q2, q3, q4, q5, top_minus_bottom,"
        " top_turnover, cum_rank_ic from eval_daily where run_id = ? and split = 'test' order by ts",
        [run.run_id],
    )
    assert [r[0] for r in rows] == [r["day"] for r in ref]
    for got, want in zip(rows, ref, strict=True):
        assert got[1] == want["n"] == len(planted.assets())
        assert _close(want["ic"], got[2]) and _close(want["rank_ic"], got[3])
        assert all(_close(w, g) for w, g in zip(want["q"], got[4:9], strict=True))
        assert _close(want["q"][-1] - want["q"][0], got[9]) and _close(want["turnover"], got[10])
    running = np.cumsum([r["rank_ic"] for r in ref])
    np.testing.assert_allclose([r[11] for r in rows], running, rtol=1e-9)
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        stored = read_summary(con, run.run_id, "test")
    finally:
        con.close()
    _check_summary(stored, ref)
    assert stored["auc"] == pytest.approx(run.test["auc"]) and stored["loss"] == pytest.approx(
        run.test["loss"]
    )
    assert m["summary"] == stored and m["unknown"] == []
    png = tmp_path / "plots" / f"{run.run_id}_test_evaluation.png"
    assert m["plot"] == png and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # evaluated again: replaced, not duplicated
    evaluate_run(project, run.run_id, split="test")
    count = planted.query(project.root, "select count(*) from eval_daily where run_id = ?", [run.run_id])
    assert count == [(len(ref),)]


def _printed(text: str, label: str) -> list[float]:
    """The numbers on the printed row that starts with ``label``."""
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(label))
    return [float(x) for x in re.findall(r"-?\d+\.\d+", line)]


def test_fstore_evaluate_prints_the_summary_that_it_stores(trained, tmp_path, capsys) -> None:
    project, run = trained
    code = main(
        [
            "evaluate",
            run.run_id[:10],
            "--split",
            "valid",
            "--project",
            str(project.root),
            "--plot",
            str(tmp_path / "p"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        s = read_summary(con, run.run_id, "valid")
    finally:
        con.close()
    assert _printed(out, "mean") == pytest.approx(
        [round(s["ic_mean"], 4), round(s["rank_ic_mean"], 4)], abs=1e-12
    )
    assert _printed(out, "IR") == pytest.approx([round(s["icir"], 4), round(s["rank_icir"], 4)], abs=1e-12)
    assert _printed(out, "t-stat") == pytest.approx(
        [round(s["ic_t"], 4), round(s["rank_ic_t"], 4)], abs=1e-12
    )
    assert _printed(out, "hit rate") == pytest.approx(
        [round(s["ic_hit_rate"], 4), round(s["rank_ic_hit_rate"], 4)], abs=1e-12
    )
    quintiles = _printed(out, "quintiles")
    assert quintiles == pytest.approx([round(s[f"q{q}_mean"], 4) for q in range(1, 6)], abs=1e-12)
    assert f"auc {s['auc']:.4f}" in out and f"over {int(s['dates'])} dates" in out
    assert (tmp_path / "p" / f"{run.run_id}_valid_evaluation.png").is_file()


def test_fstore_evaluate_on_a_snapshot_and_its_errors(trained, tmp_path, capsys) -> None:
    project, run = trained
    root = str(project.root)
    assert main(["snapshot", "create", "frozen", "--project", root]) == 0
    assert main(["evaluate", run.run_id, "--snapshot", "frozen", "--project", root]) == 0
    out = capsys.readouterr().out
    assert "test of snapshot frozen" in out
    snaps = planted.query(
        project.root, "select distinct snapshot from eval_summary where run_id = ?", [run.run_id]
    )
    assert snaps == [("frozen",)]
    assert main(["evaluate", run.run_id, "--snapshot", "nope", "--project", root]) != 0
    assert "no dataset snapshot named 'nope'" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert main(["evaluate", run.run_id, "--project", root, "--plot", str(tmp_path / "afile")]) != 0
    err = capsys.readouterr().err
    assert "is a file" in err and "Traceback" not in err


def test_the_sql_in_docs_training_runs_and_agrees_with_python(trained) -> None:
    from training.predict import predict_run

    project, run = trained
    evaluate_run(project, run.run_id, split="test")
    predicted = predict_run(project, run.run_id)
    text = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    text = text[
        text.index("## Evaluation") : text.index("## Tables")
    ]  # the queries of Evaluation and Prediction
    statements = [
        s.strip()
        for b in re.findall(r"```sql\n(.*?)```", text, flags=re.S)
        for s in b.split(";")
        if s.strip()
    ]
    assert len(statements) == 3
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        side_by_side, worst_months, extremes = (con.execute(sql).fetchall() for sql in statements)
        summary = read_summary(con, run.run_id, "test")
    finally:
        con.close()
    assert side_by_side == [
        (
            run.run_id,
            "test",
            summary["rank_ic_mean"],
            summary["rank_icir"],
            summary["top_minus_bottom_mean"],
            summary["auc"],
        )
    ]
    assert 1 <= len(worst_months) <= 5 and all(n > 0 for *_, n in worst_months)
    ranks = [r.rank for r in predicted.rows]
    assert [r[0] for r in extremes] == ranks[:5] + ranks[-5:]
    assert [r[1] for r in extremes] == [r.symbol for r in predicted.rows[:5] + predicted.rows[-5:]]


def test_a_regression_run_is_judged_by_its_predicted_return(tmp_path) -> None:
    """The score of a regressor is its predicted return; pooled figures are IC, not AUC."""
    project = load_project(planted.make_project(tmp_path / "proj", days=300))
    run = run_training(project, epochs=1, model_overrides={"task": "regression"})
    m = evaluate_run(project, run.run_id, split="valid")
    assert m["auc"] is None and m["summary"]["auc"] is None
    assert m["summary"]["pooled_ic"] == pytest.approx(m["ic"]) and m["ic"] is not None
    ref = _reference_daily(project, run.run_id, "valid")
    _check_summary(m["summary"], ref)
    with pytest.raises(ConfigError, match="needs a split with labels"):
        evaluate_run(project, run.run_id, split="latest")


def test_the_scoring_bar_shows_only_after_two_seconds() -> None:
    from training.scoring import PROGRESS_AFTER_S, _LateBar

    assert PROGRESS_AFTER_S == 2.0
    quick = _LateBar(True, 10, "scoring", after=60.0)
    quick.advance(10)
    assert quick.bar is None
    slow = _LateBar(True, 10, "scoring", after=0.0)
    try:
        slow.advance(4)
        assert slow.bar is not None and slow.bar.tasks[0].completed == 4 and slow.bar.tasks[0].total == 10
    finally:
        slow.close()
    off = _LateBar(False, 10, "scoring", after=0.0)
    off.advance(4)
    assert off.bar is None
