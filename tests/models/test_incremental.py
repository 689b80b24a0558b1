"""Incremental refresh equals a full rebuild, on data that grows day by day."""

from __future__ import annotations

import duckdb
import pytest

from tests.models.conftest import add_prices, table

INCREMENTAL = ("feat", "feat2", "label", "dataset", "ema")


@pytest.mark.parametrize("step", [1, 2])
def test_incremental_equals_full_rebuild_day_by_day(build, step: int) -> None:
    inc, full = duckdb.connect(), duckdb.connect()
    add_prices(inc, range(4))
    add_prices(full, range(4))
    build(inc)
    for day in range(4, 14, step):
        days = range(day, day + step)
        add_prices(inc, days)
        add_prices(full, days)
        result = build(inc)
        actions = {r.model: r.action for r in result.runs}
        assert {m: actions[m] for m in INCREMENTAL} == dict.fromkeys(INCREMENTAL, "incremental")
        build(full, full_refresh=True)
        for name in INCREMENTAL:
            assert table(inc, name) == table(full, name), f"{name} differs after day {day}"
        written = {r.model: r.rows for r in result.runs}
        if day < 6:  # asset 2 still new, asset 1's gap on day 5: counts checked once regular
            continue
        assert written["feat"] == 3 * step  # only the new rows
        assert written["label"] == 3 * (step + 2)  # new rows + the two whose LEAD(2) changed
        assert written["dataset"] == 3 * (step + 2)  # chained lookahead of its label input


def test_new_partition_and_gaps_are_recomputed_exactly(build) -> None:
    inc, full = duckdb.connect(), duckdb.connect()
    for con in (inc, full):
        add_prices(con, range(2))  # asset 2 has no rows yet
    build(inc)
    for con in (inc, full):
        add_prices(con, range(2, 7))  # asset 2 appears at day 3; asset 1 skips day 5
    build(inc)
    build(full, full_refresh=True)
    for name in INCREMENTAL:
        assert table(inc, name) == table(full, name)


def test_derived_lookback_and_lookahead(build, mini) -> None:
    from features.config import load_project
    from features.models.discovery import discover

    models = discover(load_project(mini)).models
    assert (models["feat"].lookback, models["feat"].ahead) == (3, 0)  # max(LAG 2, 3 PRECEDING)
    assert (models["feat2"].lookback, models["feat2"].ahead) == (3, 0)  # LAG 1 then 2 PRECEDING
    assert (models["label"].lookback, models["label"].ahead) == (0, 2)
    assert models["ema"].lookback is None  # python: whole history of affected groups


def test_declared_lookback_too_small_is_caught_by_comparison(build, mini) -> None:
    """The comparison can fail: a header lookback smaller than the window breaks equality."""
    path = mini / "sql" / "marts" / "feat.sql"
    path.write_text(path.read_text().replace("-- time_column: ts", "-- time_column: ts\n-- lookback: 1"))
    inc, full = duckdb.connect(), duckdb.connect()
    for con in (inc, full):
        add_prices(con, range(6))
    build(inc)
    for con in (inc, full):
        add_prices(con, range(6, 8))
    build(inc)
    build(full, full_refresh=True)
    assert table(inc, "feat") != table(full, "feat")


def test_changed_static_input_forces_full_rebuild(build, mini) -> None:
    path = mini / "sql" / "marts" / "feat.sql"
    path.write_text(
        path.read_text()
        .replace("from stg\n", "from stg join scale using (asset_id)\n")
        .replace("    close,\n", "    close * factor as close,\n")
    )
    con = duckdb.connect()
    add_prices(con, range(5))
    con.execute("create table scale as select range::integer as asset_id, 1.0 as factor from range(3)")
    build(con)
    con.execute("update scale set factor = 2.0")
    add_prices(con, range(5, 6))
    result = build(con)
    assert {r.model: r.action for r in result.runs}["feat"] == "full"
    assert con.execute("select min(close) > 150 from feat").fetchall()[0][0]


@pytest.mark.parametrize(
    "restate",
    [
        "update prices set close = close + 1 where ts = date '2024-01-03' and asset_id = 1",
        "delete from prices where ts = date '2024-01-02' and asset_id = 0",
        "insert into prices values (1, date '2024-01-06', 111)",  # late row for asset 1's gap day
    ],
)
def test_restated_history_is_detected_and_rebuilt_in_full(build, restate: str) -> None:
    inc, full = duckdb.connect(), duckdb.connect()
    for con in (inc, full):
        add_prices(con, range(7))
    build(inc)
    for con in (inc, full):
        con.execute(restate)
        add_prices(con, range(7, 8))
    result = build(inc)
    runs = {r.model: r for r in result.runs}
    assert runs["feat"].action == "full"
    assert runs["feat"].note == "history of `stg` changed since the last build"
    assert runs["feat2"].action == "full"  # its incremental upstream was rebuilt in full
    build(full, full_refresh=True)
    for name in INCREMENTAL:
        assert table(inc, name) == table(full, name)
    add_prices(inc, range(8, 9))  # and the next plain append is incremental again
    assert {r.model: r.action for r in build(inc).runs}["feat"] == "incremental"


def test_timestamp_time_column_through_a_view_without_partitions(tmp_path) -> None:
    """Hourly TIMESTAMP bars read through a view; no partition_by: the whole table is one partition."""
    from features.config import load_project
    from features.models.runner import build_models
    from tests.models.conftest import load_dag

    root = tmp_path / "ticks"
    (root / "config").mkdir(parents=True)
    (root / "config" / "project.toml").write_text("[paths]\npython_models = []\n")
    (root / "sql").mkdir()
    (root / "sql" / "v_ticks.sql").write_text("-- materialized: view\nselect ts, v from ticks where v >= 0\n")
    (root / "sql" / "roll.sql").write_text(
        "-- materialized: incremental\n-- unique_key: ts\n-- time_column: ts\n"
        "select ts, v, sum(v) over (order by ts rows between 4 preceding and current row) as s5,\n"
        "       v - lag(v, 3) over (order by ts) as d3\nfrom v_ticks\n"
    )
    project = load_project(root)

    def add(con: duckdb.DuckDBPyConnection, hours: range) -> None:
        con.execute("create table if not exists ticks (ts timestamp, v integer)")
        con.executemany(
            "insert into ticks values (timestamp '2024-01-01' + to_hours(?), ?)",
            [(h, (h * 37) % 11 - 1) for h in hours],  # v = -1 rows are filtered out by the view
        )

    inc, full = duckdb.connect(), duckdb.connect()
    for con in (inc, full):
        add(con, range(10))
    build_models(inc, project, load_dag(project, inc))
    for start in range(10, 30, 4):
        for con in (inc, full):
            add(con, range(start, start + 4))
        result = build_models(inc, project, load_dag(project, inc))
        assert {r.model: r.action for r in result.runs}["roll"] == "incremental"
        build_models(full, project, load_dag(project, full), full_refresh=True)
        assert table(inc, "roll") == table(full, "roll")


def test_upstream_rebuilt_in_full_by_an_earlier_build_rebuilds_downstream(build) -> None:
    """`--select +feat` after a restatement rebuilds feat (not feat2); the next build must not refresh feat2
    incrementally on top of feat's rewritten history."""
    inc, full = duckdb.connect(), duckdb.connect()
    for con in (inc, full):
        add_prices(con, range(7))
    build(inc)
    for con in (inc, full):
        con.execute("update prices set close = close + 1 where ts = date '2024-01-03' and asset_id = 1")
        add_prices(con, range(7, 8))
    actions = {r.model: r.action for r in build(inc, select=["+feat"]).runs}
    assert actions["feat"] == "full" and "feat2" not in actions
    runs = {r.model: r for r in build(inc).runs}
    assert runs["feat2"].action == "full"
    assert runs["feat2"].note == "`feat` was rebuilt in full since this model's last build"
    build(full, full_refresh=True)
    for name in INCREMENTAL:
        assert table(inc, name) == table(full, name)
    add_prices(inc, range(8, 9))  # and the next plain append is incremental again
    assert {r.model: r.action for r in build(inc).runs}["feat2"] == "incremental"
