"""A run says which assets trained (issue 13 item 4, issue 14 item 6): per-asset sample counts logged,
a close-only asset trained, a too-short asset named in ``fstore train``'s output, its embedding row
marked untrained in SQL, left out of neighbours, and drawn hollow and grey in the plots."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import planted
import pytest
import torch

from features.cli import main

torch.set_num_threads(1)
LOOKBACK, H = 5, 1  # planted's [loader] lookback and the label horizon
CLOSE_ONLY, SHORT = 0, 1  # asset IDs


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """A planted market where asset 0 is close-only (no hl_range) and asset 1 has 4 rows; one CLI run."""
    root = planted.make_project(tmp_path_factory.mktemp("untrained") / "p", days=300)
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"))
    try:
        con.execute("alter table training_set add column hl_range double")
        con.execute(
            f"update training_set set hl_range = abs(ret_1d) * 2 + 0.01 where asset_id <> {CLOSE_ONLY}"
        )
        con.execute(
            f"delete from training_set where asset_id = {SHORT} and ts > (select min(ts) + 3 from training_set)"
        )
    finally:
        con.close()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["train", "--project", str(root), "--epochs", "1", "--no-progress", "--threads", "1"])
    text = printed.getvalue()
    assert code == 0, text
    return root, re.search(r"run (\S+) finished", text).group(1), text


def _reference_train_counts(root: Path) -> dict[int, int]:
    """Training windows per asset, from the rules written out with numpy (not the loader)."""
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        t = con.sql("select asset_id, ts, label_up from training_set order by asset_id, ts").fetchnumpy()
    finally:
        con.close()
    days = np.asarray(t["ts"]).astype("datetime64[D]")
    first, last = days.min().astype(dt.date), days.max().astype(dt.date)
    train_end = np.datetime64(first + dt.timedelta(days=round(0.7 * (last - first).days)))
    counts = {}
    for a in np.unique(t["asset_id"]):
        mine = t["asset_id"] == a
        labels = np.ma.filled(t["label_up"][mine].astype(float), np.nan)
        n = int(mine.sum())
        k_train = int((days[mine] <= train_end).sum())
        ends = [e for e in range(LOOKBACK - 1, k_train - H) if not np.isnan(labels[e])]
        counts[int(a)] = len(ends) if n >= LOOKBACK + H else 0
    return counts


def test_per_asset_training_samples_are_logged_and_a_close_only_asset_trains(trained) -> None:
    trained, run_id, _ = trained
    logged = dict(
        planted.query(
            trained,
            "select asset_id, samples from train_asset_samples where run_id = ? and split = 'train'",
            [run_id],
        )
    )
    expected = _reference_train_counts(trained)
    assert logged == {a: expected.get(a, 0) for a in range(len(planted.assets()))}
    assert logged[CLOSE_ONLY] > 0 and logged[SHORT] == 0
    splits = planted.query(trained, "select distinct split from train_asset_samples order by 1")
    assert splits == [("test",), ("train",), ("valid",)]


def test_train_output_names_the_assets_without_training_windows(trained) -> None:
    _, _, text = trained
    short, close_only = planted.assets()[SHORT][1], planted.assets()[CLOSE_ONLY][1]
    n = len(planted.assets())
    assert f"1 of {n} assets have no training windows" in text
    assert re.search(rf"  {short}: 4 rows after warm-up, a window needs lookback \+ horizon = 6", text)
    assert f"1 asset(s) never have hl_range (filled with the training mean): {close_only}" in text


def test_untrained_rows_are_marked_in_sql_and_left_out_of_neighbours(trained, capsys) -> None:
    trained, run_id, _ = trained
    rows = planted.query(
        trained,
        "select epoch, asset_id, trained from train_embeddings where run_id = ? order by 1, 2",
        [run_id],
    )
    assert {(a, t) for _, a, t in rows} == {(a, a != SHORT) for a in range(len(planted.assets()))}
    short = planted.assets()[SHORT][1]
    probe = planted.assets()[2][1]
    n = len(planted.assets())
    args = ["embeddings", run_id, "--project", str(trained), "--symbol", probe, "--top", str(n)]
    assert main([*args, "--format", "csv"]) == 0
    out = capsys.readouterr()
    listed = [line.split(",")[0] for line in out.out.splitlines()[1:]]
    assert short not in listed and len(listed) == n - 2
    assert f"1 untrained rows left out: {short}" in out.err
    assert main([*args, "--format", "csv", "--include-untrained"]) == 0
    assert short in capsys.readouterr().out
    assert main(["embeddings", run_id, "--project", str(trained)]) == 0
    table = capsys.readouterr().out
    assert "untrained (1: no training windows in this run, left out" in table and short in table
    pairs = table[table.index("most similar pairs") :]
    assert short not in pairs.split("untrained (")[0]


def test_plots_draw_untrained_rows_hollow_and_grey(trained, tmp_path: Path, monkeypatch) -> None:
    from matplotlib.colors import to_hex

    from training import plots

    trained, run_id, _ = trained
    figures = {}
    real_save = plots._save

    def keep(plt, fig, path, *, dpi):
        figures[path.name] = [
            (len(c.get_offsets()), c.get_facecolors().copy(), c.get_edgecolors().copy())
            for c in fig.axes[0].collections
        ]
        texts = {t.get_text(): to_hex(t.get_color()) for t in fig.axes[0].texts}
        ticks = {t.get_text(): to_hex(t.get_color()) for t in fig.axes[0].get_yticklabels()}
        figures[path.name + ":labels"] = texts | ticks
        real_save(plt, fig, path, dpi=dpi)

    monkeypatch.setattr(plots, "_save", keep)
    plots.write_run_plots(trained / "data" / "warehouse.duckdb", run_id, tmp_path)
    short = planted.assets()[SHORT][1]
    grey = plots.UNTRAINED_COLOUR
    pca = figures[f"{run_id}_pca.png"]
    hollow = [(n, edge) for n, face, edge in pca if len(face) == 0]
    assert [(n, to_hex(edge[0])) for n, edge in hollow] == [(1, grey)]
    assert sum(n for n, face, _ in pca if len(face)) == len(planted.assets()) - 1
    assert figures[f"{run_id}_pca.png:labels"][short] == grey
    heat = figures[f"{run_id}_similarity.png:labels"]
    symbols = {sym for _, sym, _, _ in planted.assets()}
    assert heat[short] == grey
    assert all(colour != grey for sym, colour in heat.items() if sym in symbols - {short})


def test_docs_training_sql_runs(trained) -> None:
    root, run_id, _ = trained
    text = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 2
    short = planted.assets()[SHORT][1]
    first = planted.query(root, blocks[0])
    assert first == [
        (short, s, n)
        for s, n in sorted(
            planted.query(root, "select split, samples from train_asset_samples where asset_id = ?", [SHORT])
        )
    ]
    second = planted.query(root, blocks[1])
    assert len(second) == 5 and short not in [s for s, _ in second]
    config = json.loads(planted.query(root, "select config from train_runs where run_id = ?", [run_id])[0][0])
    assert list(config["untrained_assets"]) == [short]
    assert config["absent_features"] == {planted.assets()[CLOSE_ONLY][1]: ["hl_range"]}


def test_the_docs_site_reads_the_same_untrained_rows(trained) -> None:
    from features.site.embeddings import embedding_map
    from training import runs

    trained, run_id, _ = trained
    con = duckdb.connect(str(trained / "data" / "warehouse.duckdb"), read_only=True)
    try:
        page = embedding_map(con, runs.resolve_run(con, run_id))
    finally:
        con.close()
    assert [p["id"] for p in page["points"] if p["untrained"]] == [SHORT]
