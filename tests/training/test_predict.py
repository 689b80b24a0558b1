"""Prediction from the newest windows, and runs that outlive a minor mapping sync (scored by symbol).

Scores are checked against the model applied here to windows built by hand from SQL rows and the
run's stored normalisation statistics, never against the code under test.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import numpy as np
import planted
import pytest
import torch
import warehouse_factory as wf

from features.cli import main
from features.config import load_project
from features.errors import MappingError, TrainingError
from training.checkpoints import load_checkpoint, model_from_checkpoint, save_checkpoint
from training.embeddings import carry_rows, grow_embedding
from training.loader import WindowDataset
from training.predict import predict_run
from training.train import evaluate_run, run_training

torch.set_num_threads(1)
LOOKBACK = 5  # planted.make_project's [loader] lookback
LAST_DAY = dt.date(2015, 1, 1) + dt.timedelta(days=299)


@pytest.fixture
def trained(tmp_path: Path):
    project = load_project(planted.make_project(tmp_path / "proj", days=300))
    return project, run_training(project, epochs=1)


def _ckpt(project, run_id: str) -> dict:
    return load_checkpoint(project.path(project.paths.runs) / run_id / "best.pt")


def _hand_score(project, ckpt: dict, asset_id: int, end: dt.date) -> float:
    """The model on the ``LOOKBACK`` ret_1d rows of ``asset_id`` ending at ``end``, z-scored by hand."""
    rows = planted.query(
        project.root,
        "select ret_1d from training_set where asset_id = ? and ts <= ? order by ts desc limit ?",
        [asset_id, end, LOOKBACK],
    )
    stats = ckpt["norm_stats"]
    x = (np.array([r[0] for r in reversed(rows)]) - stats["mean"][0]) / stats["std"][0]
    model = model_from_checkpoint(ckpt).eval()
    with torch.no_grad():
        out = model(torch.tensor(x, dtype=torch.float32).view(1, LOOKBACK, 1), torch.tensor([asset_id]))
    return float(out[0])


def _write(project, *sql: str) -> None:
    con = duckdb.connect(str(project.warehouse_path))
    try:
        for statement in sql:
            con.execute(statement)
    finally:
        con.close()


# ----------------------------------------------------------------------------------- the latest split


def _latest_reference(table: dict, lookback: int, as_of: np.datetime64 | None, fill: bool) -> dict:
    """asset → (row index of its newest complete window's last row), written without the loader."""
    feats = np.stack([table[f] for f in ("close", *wf.FEATURES)], axis=1)
    complete = ~np.isnan(feats).any(axis=1)
    out = {}
    for asset in np.unique(table["asset_id"]).astype(int):
        mine = np.flatnonzero(table["asset_id"] == asset)
        ok = np.flatnonzero(complete[mine])
        if not len(ok):
            continue
        warmup = ok[0]
        for k in range(len(mine) - 1, -1, -1):
            window = mine[k - lookback + 1 : k + 1]
            if k < warmup + lookback - 1 or (as_of is not None and table["ts"][mine[k]] > as_of):
                continue
            if fill or complete[window].all():
                out[asset] = mine[k]
                break
    return out


@pytest.mark.parametrize("as_of", [None, "2020-03-10", "2020-08-20", "2020-09-05"])
@pytest.mark.parametrize("missing", ["drop", "fill"])
def test_the_latest_split_is_each_assets_newest_complete_window(tmp_path: Path, as_of, missing) -> None:
    """Six assets on different calendars (a late listing, holes, an interior NULL, one too short),
    against a reference written here: the window ends at the newest row on or before the date that
    is past the warm-up and, with missing="drop", has every feature; no label needed."""
    project = wf.make_project(tmp_path / "p")
    table = wf.read_table(project / "data" / "warehouse.duckdb")
    day = None if as_of is None else dt.date.fromisoformat(as_of)
    train = WindowDataset.from_warehouse(project, "train", lookback=8, missing=missing)
    latest = WindowDataset.from_warehouse(
        project, "latest", lookback=8, missing=missing, stats=train.stats, as_of=day
    )
    want = _latest_reference(table, 8, None if day is None else np.datetime64(day), missing == "fill")
    a = latest.to_arrays()
    assert a["asset_ids"].tolist() == sorted(want)
    mean, std = train.stats.mean, train.stats.std
    for i, asset in enumerate(a["asset_ids"].tolist()):
        end = want[asset]
        assert a["label_dates"][i] == table["ts"][end]
        rows = np.arange(end - 7, end + 1)
        x = (np.stack([table[f][rows] for f in ("close", *wf.FEATURES)], axis=1) - mean) / std
        np.testing.assert_allclose(a["X"][i], np.nan_to_num(x, nan=0.0), rtol=1e-5, atol=1e-5)
        label = table["label_up"][end]
        assert (np.isnan(label) and np.isnan(a["y"][i])) or a["y"][i] == label
    if day is None:  # the newest rows have no label yet, and are served all the same
        assert np.isnan(a["y"]).sum() >= 4
    assert latest.config["as_of"] == (None if day is None else as_of)


def test_an_unknown_split_names_the_choices(tmp_path: Path) -> None:
    from features.errors import ConfigError

    with pytest.raises(ConfigError, match="choose train, valid, test or latest"):
        WindowDataset.from_warehouse(wf.make_project(tmp_path / "p"), "newest")


# ----------------------------------------------------------------------------------- the latest windows


def test_predict_scores_each_assets_newest_window_with_the_runs_statistics(trained) -> None:
    project, run = trained
    ckpt = _ckpt(project, run.run_id)
    result = predict_run(project, run.run_id)
    n = len(planted.assets())
    assert result.as_of == LAST_DAY and len(result.rows) == n and result.unscored == {}
    # the newest row has no label yet (no future): it is scored all the same
    assert planted.query(
        project.root, "select count(*) from training_set where ts = ? and label_up is null", [LAST_DAY]
    ) == [(n,)]
    for row in result.rows:
        assert row.ts == LAST_DAY
        assert row.score == pytest.approx(
            _hand_score(project, ckpt, row.asset_id, LAST_DAY), rel=1e-5, abs=1e-6
        )
        assert row.prob == pytest.approx(1 / (1 + math.exp(-row.score)))
    scores = [r.score for r in result.rows]
    assert scores == sorted(scores, reverse=True) and [r.rank for r in result.rows] == list(range(1, n + 1))
    stored = planted.query(
        project.root,
        "select asset_id, symbol, ts, score, prob, rank, mapping_version, as_of from predictions order by rank",
    )
    symbols = {a: s for a, s, _, _ in planted.assets()}
    assert [(a, s, t, r) for a, s, t, _, _, r, _, _ in stored] == [
        (r.asset_id, symbols[r.asset_id], r.ts, r.rank) for r in result.rows
    ]
    assert {(v, d) for *_, v, d in stored} == {("1.0", LAST_DAY)}


def test_as_of_picks_each_assets_newest_window_on_or_before_the_date(trained) -> None:
    project, run = trained
    ckpt = _ckpt(project, run.run_id)
    as_of = dt.date(2015, 6, 30)
    _write(project, f"delete from training_set where asset_id = 3 and ts = date '{as_of}'")
    result = predict_run(project, run.run_id, as_of=as_of)
    by_id = {r.asset_id: r for r in result.rows}
    assert result.as_of == as_of and len(by_id) == len(planted.assets())
    assert by_id[3].ts == as_of - dt.timedelta(days=1)  # its row on the date is gone: the day before
    assert all(r.ts == as_of for a, r in by_id.items() if a != 3)
    for a in (0, 3, 17):
        assert by_id[a].score == pytest.approx(_hand_score(project, ckpt, a, by_id[a].ts), rel=1e-5, abs=1e-6)


def test_predicting_again_replaces_the_rows_of_that_run_and_date(trained) -> None:
    project, run = trained
    predict_run(project, run.run_id)
    predict_run(project, run.run_id)
    predict_run(project, run.run_id, as_of=dt.date(2015, 6, 30))
    counts = planted.query(project.root, "select as_of, count(*) from predictions group by 1 order by 1")
    assert counts == [(dt.date(2015, 6, 30), 18), (LAST_DAY, 18)]


def test_assets_it_cannot_score_are_listed_with_their_reason(trained) -> None:
    project, run = trained
    sym = {a: s for a, s, _, _ in planted.assets()}
    _write(
        project,
        "update dim_symbol set is_active = false where asset_id = 1",  # retired
        f"delete from training_set where asset_id = 2 and ts > date '{LAST_DAY - dt.timedelta(days=10)}'",  # stale
        "delete from training_set where asset_id = 4 and ts > date '2015-01-03'",  # 3 rows < lookback
    )
    result = predict_run(project, run.run_id)
    assert result.unscored == {"retired": [sym[1]], "no complete window": [sym[4]], "stale": [sym[2]]}
    assert {r.asset_id for r in result.rows} == set(sym) - {1, 2, 4}
    # ten days old is fine under --max-age 10
    again = predict_run(project, run.run_id, max_age_days=10)
    assert "stale" not in again.unscored and 2 in {r.asset_id for r in again.rows}


def test_a_date_before_any_complete_window_scores_nothing_and_says_so(trained) -> None:
    project, run = trained
    result = predict_run(project, run.run_id, as_of=dt.date(2015, 1, 3))  # windows need 5 rows
    assert result.rows == [] and len(result.unscored["no complete window"]) == 18
    assert planted.query(project.root, "select count(*) from predictions") == [(0,)]


def test_predict_refuses_a_run_trained_on_other_features(trained) -> None:
    project, run = trained
    _write(
        project,
        "alter table training_set add column vol_2 double",
        "update training_set set vol_2 = abs(ret_1d)",
    )
    with pytest.raises(TrainingError, match=r"trained on 1 feature\(s\).*added since: vol_2"):
        predict_run(project, run.run_id)
    with pytest.raises(TrainingError, match="added since: vol_2"):
        evaluate_run(project, run.run_id)


def test_fstore_predict_prints_top_and_bottom_names_and_writes_the_table(trained, capsys) -> None:
    project, run = trained
    root = str(project.root)
    assert main(["predict", "latest", "--top", "3", "--project", root, "--no-progress"]) == 0
    out = capsys.readouterr().out
    ranked = planted.query(project.root, "select symbol, round(score, 4) from predictions order by rank")
    top, bottom = out.split("top 3:")[1].split("bottom 3:")
    assert [s for s, _ in ranked[:3]] == [s for s, _ in ranked if s in top.split()][:3]
    assert [s for s, _ in ranked[-3:]] == [s for s, _ in ranked if s in bottom.split()]
    assert all(f"{v:.4f}".rstrip("0") in top for _, v in ranked[:3])
    assert f"scored 18 assets as of {LAST_DAY}" in out
    assert main(["predict", run.run_id, "--format", "csv", "--project", root, "--as-of", "2015-03-01"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "rank,symbol,asset_id,ts,score,prob" and len(lines) == 19
    assert all(",2015-03-01," in line for line in lines[1:])
    with pytest.raises(SystemExit) as exit_:
        main(["predict", "latest", "--as-of", "yesterday", "--project", root])
    assert exit_.value.code == 2 and "not an ISO date" in capsys.readouterr().err
    assert main(["predict", "latest", "--as-of", "2001-01-01", "--project", root]) == 2
    assert "before the data starts" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- later mappings


def _add_symbols(project, version: str) -> None:
    """A minor sync as the dimension records it: ZMOM (18) and ZCOIN (19) appended, with data."""
    con = duckdb.connect(str(project.warehouse_path))
    try:
        entries = [*planted.assets(), (18, "ZMOM", "sectors", "Momo"), (19, "ZCOIN", "crypto", "Coins")]
        planted.write_dimension(con, entries, ["1.0", version])
        con.execute(
            "insert into training_set select case asset_id when 0 then 18 else 19 end, case asset_id when 0 then"
            " 'ZMOM' else 'ZCOIN' end, ts, ret_1d, fwd_ret_1d, label_up from training_set where asset_id in (0, 1)"
        )
    finally:
        con.close()


def test_a_run_on_an_earlier_minor_version_scores_the_assets_it_knows(trained, capsys) -> None:
    project, run = trained
    before_eval = evaluate_run(project, run.run_id)
    before = {r.symbol: r.score for r in predict_run(project, run.run_id).rows}
    _add_symbols(project, "1.1")
    after_eval = evaluate_run(project, run.run_id)
    after = predict_run(project, run.run_id)
    assert after.unscored == {"added since the run": ["ZCOIN", "ZMOM"]}
    assert {r.symbol: r.score for r in after.rows} == before
    assert after.mapping_version == "1.1" and after_eval["unknown"] == ["ZCOIN", "ZMOM"]
    for key in ("loss", "auc", "samples"):
        assert after_eval[key] == before_eval[key]
    assert after_eval["summary"]["rank_ic_mean"] == pytest.approx(before_eval["summary"]["rank_ic_mean"])
    # through the CLI: evaluate and predict both say what they left out
    root = str(project.root)
    assert main(["evaluate", run.run_id, "--project", root]) == 0
    assert "not scored (2 assets the run does not know): ZCOIN, ZMOM" in capsys.readouterr().out
    assert main(["predict", run.run_id, "--project", root]) == 0
    assert "not scored, added since the run: 2: ZCOIN, ZMOM" in capsys.readouterr().out
    # a run grown for them (--init-from) scores them through their new IDs
    grown = run_training(project, epochs=1, init_from=run.run_id)
    scored = {r.symbol for r in predict_run(project, grown.run_id).rows}
    assert {"ZMOM", "ZCOIN"} <= scored and len(scored) == 20


def test_another_major_version_or_a_renumbered_mapping_is_refused(trained, capsys) -> None:
    project, run = trained
    _add_symbols(project, "2.0")
    with pytest.raises(TrainingError, match=r"mapping 1\.0, the data is on 2\.0"):
        predict_run(project, run.run_id)
    with pytest.raises(TrainingError, match="new major"):
        evaluate_run(project, run.run_id)
    # a minor version that moved two symbols' IDs: the run's rows would land on other assets
    entries = [(a, {"FLA0": "FLA1", "FLA1": "FLA0"}.get(s, s), c, g) for a, s, c, g in planted.assets()]
    con = duckdb.connect(str(project.warehouse_path))
    planted.write_dimension(con, entries, ["1.0", "1.1"])
    con.execute("delete from training_set where asset_id >= 18")
    con.close()
    with pytest.raises(MappingError, match=r"2 symbol\(s\) have another ID now \(FLA0 0 -> 1, FLA1 1 -> 0\)"):
        predict_run(project, run.run_id)
    with pytest.raises(MappingError, match="FLA0 0 -> 1"):
        run_training(project, epochs=1, init_from=run.run_id)
    for command in (["evaluate", run.run_id], ["train", "--init-from", run.run_id, "--no-progress"]):
        assert main([*command, "--project", str(project.root)]) == 1
        err = capsys.readouterr().err
        assert "FLA0 0 -> 1" in err and "Traceback" not in err


def test_a_checkpoint_without_a_symbol_map_uses_the_warehouse_history(trained) -> None:
    """Older checkpoints did not record symbol → ID: the mapping at their version is read back from
    ``asset_ids_at``; a version the warehouse has no record of is refused."""
    project, run = trained
    path = project.path(project.paths.runs) / run.run_id / "best.pt"
    ckpt = load_checkpoint(path)
    assert ckpt["asset_symbols"] == {s: a for a, s, _, _ in planted.assets()}
    del ckpt["asset_symbols"]
    save_checkpoint(path, ckpt)
    _add_symbols(project, "1.1")  # the planted dimension has no history table
    with pytest.raises(MappingError, match=r"no record of asset-ID mapping version 1\.0"):
        predict_run(project, run.run_id)
    _write(
        project,
        "create table dim_symbol_history as select asset_id, symbol, 1 as valid_from_seq, null::integer as"
        " valid_to_seq from dim_symbol where asset_id < 18 union all select asset_id, symbol, 2, null from"
        " dim_symbol where asset_id >= 18",
        "create macro asset_ids_at(v) as table select h.asset_id, h.symbol from dim_symbol_history h join"
        " (select seq from mapping_versions where version = v) mv on h.valid_from_seq <= mv.seq and"
        " (h.valid_to_seq is null or h.valid_to_seq > mv.seq)",
    )
    result = predict_run(project, run.run_id)
    assert result.unscored == {"added since the run": ["ZCOIN", "ZMOM"]} and len(result.rows) == 18


# ----------------------------------------------------------------------------------- carrying rows by symbol


def test_carry_rows_moves_rows_through_symbols_and_refuses_disagreement() -> None:
    old = {"AAPL": 0, "MSFT": 1, "BTC": 2}
    assert carry_rows(old, {**old, "NEW": 3}) == {0: 0, 1: 1, 2: 2}
    with pytest.raises(MappingError, match=r"AAPL 0 -> 1, MSFT 1 -> 0") as err:
        carry_rows(old, {"AAPL": 1, "MSFT": 0, "BTC": 2})
    assert err.value.symbols == ("AAPL", "MSFT")
    with pytest.raises(MappingError, match=r"1 have no ID at all \(BTC\)"):
        carry_rows(old, {"AAPL": 0, "MSFT": 1, "ETH": 2})


def test_grow_embedding_copies_carried_rows_by_id_and_fills_the_rest() -> None:
    rng = np.random.default_rng(1)
    old = rng.normal(size=(3, 4)).astype(np.float32)
    carry = {0: 2, 1: 0, 3: 1}  # new ID -> old row
    old_assets = [(0, "sectors", "Tech"), (1, "sectors", "Tech"), (3, "crypto", "Major")]
    table, source = grow_embedding(
        old, [(2, "sectors", "Tech"), (4, "etfs", "X")], 5, old_assets, carry=carry
    )
    for new_id, row in carry.items():
        assert table[new_id].tobytes() == old[row].tobytes()
    np.testing.assert_allclose(table[2], (old[2] + old[0]) / 2, rtol=1e-6)
    np.testing.assert_allclose(table[4], old.mean(axis=0), rtol=1e-6)
    assert source == {2: "subcategory:Tech", 4: "all"}
