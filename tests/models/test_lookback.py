"""Lookback / lookahead derived from model SQL (golden SQL → rows), and the refresh they plan, checked
against a full rebuild through the real engine."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st

from features.config import Project, load_project
from features.errors import ValidationErrors
from features.models.dag import Dag
from features.models.discovery import discover
from features.models.lookback import DIMENSIONS, Extent, analyse, query_extent
from features.models.runner import build_models
from features.models.state import relations
from features.models.validate import validate
from tests.golden._golden import (
    FIXTURES,
    day,
    keyed,
    load_cases,
    market,
    price_rows,
    same_bag,
    same_row,
    show_prices,
)

W = "over (partition by a order by ts)"


@pytest.mark.parametrize(
    ("sql", "back", "ahead"),
    [
        ("select x from t", 0, 0),
        (f"select lag(x) {W} from t", 1, 0),
        (f"select lag(x, 5) {W}, lag(x, 2) {W} from t", 5, 0),
        (f"select lead(x, 3) {W} from t", 0, 3),
        ("select avg(x) over (order by ts rows between 19 preceding and current row) from t", 19, 0),
        ("select avg(x) over (order by ts rows between 2 preceding and 4 following) from t", 2, 4),
        ("select sum(x) over (order by ts rows between unbounded preceding and current row) from t", None, 0),
        ("select sum(x) over (order by ts) from t", None, 0),  # default frame: all earlier rows
        ("select avg(x) over (partition by a) from t", None, None),  # whole partition
        ("select row_number() over (order by ts) from t", None, 0),
        ("select percent_rank() over (partition by ts order by x) from t", None, None),
        (
            "select avg(x) over (order by ts range between interval 3 day preceding and current row) from t",
            None,
            0,
        ),
        ("select lag(x, 2) over w, lead(x) over w from t window w as (partition by a order by ts)", 2, 1),
        # stacked through a CTE and a subquery: windows add up
        (
            f"with c as (select lag(x) {W} as d from t) select sum(d) over (order by ts rows 4 preceding) from c",
            5,
            0,
        ),
        (f"select lag(y, 3) {W} from (select lag(x, 2) {W} as y from t) s", 5, 0),
        (f"with c as (select lead(x) {W} as y from t) select lag(y, 2) {W} from c", 2, 1),
    ],
)
def test_query_extent(sql: str, back: int | None, ahead: int | None) -> None:
    extent = query_extent(sqlglot.parse_one(sql, read="duckdb"))
    assert (extent.back, extent.ahead) == (back, ahead)


@pytest.mark.parametrize(
    ("sql", "back", "ahead"),
    [
        ("select ts, percent_rank() over (partition by ts order by x) from t", 0, 0),
        ("select ts, rank() over w from t window w as (partition by ts, g order by x)", 0, 0),
        ("select ts, lag(x) over (partition by ts order by a) from t", 0, 0),
        (
            "select ts, percent_rank() over (partition by day order by x) from t",
            None,
            None,
        ),  # not the time column
        (
            "with c as (select lag(x, 3) over (partition by a order by ts) as y, ts from t)"
            " select ts, rank() over (partition by ts order by y) from c",
            3,
            0,
        ),
    ],
)
def test_windows_partitioned_by_the_time_column_read_one_time(
    sql: str, back: int | None, ahead: int | None
) -> None:
    extent = query_extent(sqlglot.parse_one(sql, read="duckdb"), time_column="ts")
    assert (extent.back, extent.ahead) == (back, ahead)


P = ("asset_id",)  # the model's partition column


@pytest.mark.parametrize(
    ("sql", "back", "ahead"),
    [
        # window functions: signs, directions, orders
        ("select asset_id, ts, lag(x, -2) over (partition by asset_id order by ts) from t", 0, 2),
        ("select asset_id, ts, lead(x, -3) over (partition by asset_id order by ts) from t", 3, 0),
        ("select asset_id, ts, lag(x, n) over (partition by asset_id order by ts) from t", None, None),
        ("select asset_id, ts, lag(x ignore nulls) over (partition by asset_id order by ts) from t", None, 0),
        (
            "select asset_id, ts, lead(x ignore nulls) over (partition by asset_id order by ts) from t",
            0,
            None,
        ),
        ("select asset_id, ts, lag(x, 2) over (partition by asset_id order by ts desc) from t", 0, 2),
        ("select asset_id, ts, row_number() over (partition by asset_id order by ts desc) from t", 0, None),
        ("select asset_id, ts, rank() over (partition by asset_id order by x) from t", None, None),
        ("select asset_id, ts, lag(x) over (partition by asset_id order by asset_id, ts) from t", 1, 0),
        (
            "select asset_id, ts, avg(x) over (partition by asset_id order by x"
            " rows between current row and current row) from t",
            0,
            0,
        ),
        # rows a window counts: thinned, mixed, or in a finer partition than the model's
        ("select asset_id, ts, lag(x) over (partition by asset_id order by ts) from t where v > 0", None, 0),
        (
            "select asset_id, ts, lag(x, 2) over (partition by asset_id order by ts) from t"
            " where asset_id < 3 and ts >= date '2020-01-01' and date '2030-01-01' > ts",
            2,
            0,
        ),
        (
            "with r as (select asset_id, ts, x from t where x > 0)"
            " select asset_id, ts, lag(x) over (partition by asset_id order by ts) from r",
            None,
            0,
        ),
        (
            "select p.asset_id, p.ts, lag(p.x) over (partition by p.asset_id order by p.ts) from t p"
            " join dim_symbol d on d.symbol = p.symbol where d.asset_class = 'crypto'",
            1,
            0,
        ),
        (
            "select p.asset_id, p.ts, lag(p.x) over (partition by p.asset_id order by p.ts) from t p"
            " join u on u.asset_id = p.asset_id and u.ts = p.ts",
            None,
            0,
        ),
        (
            "with a as (select asset_id, ts, x from t union all select asset_id, ts, x from u)"
            " select asset_id, ts, lag(x) over (partition by asset_id order by ts) from a",
            None,
            0,
        ),
        ("select asset_id, ts, lag(x) over (partition by asset_id, x > 0 order by ts) from t", None, 0),
        ("select asset_id, ts, lag(x) over (order by ts) from t", 1, 0),  # coarser: still 1 row
        # joins and subqueries, relative to the row's time
        ("select p.asset_id, p.ts, q.x from t p join t q on q.asset_id = p.asset_id and q.ts = p.ts", 0, 0),
        ("select p.asset_id, p.ts, q.x from t p join t q using (asset_id, ts)", 0, 0),
        (
            "select p.asset_id, p.ts, q.x from t p left join t q"
            " on q.asset_id = p.asset_id and q.ts = p.ts + interval 1 day",
            0,
            None,
        ),
        (
            "select p.asset_id, p.ts, avg(q.x) from t p join t q on q.asset_id = p.asset_id"
            " and q.ts between p.ts - interval 3 day and p.ts group by all",
            None,
            0,
        ),
        (
            "select p.asset_id, p.ts, q.x from t p asof left join t q on q.asset_id = p.asset_id and p.ts > q.ts",
            None,
            0,
        ),
        ("select p.asset_id, p.ts, q.x from t p join t q on q.asset_id = p.asset_id", None, None),
        ("select p.asset_id, p.ts, (select max(q.x) from t q where q.ts = p.ts) from t p", 0, 0),
        (
            "select asset_id, ts from t p where exists (select 1 from t q"
            " where q.asset_id = p.asset_id and q.ts > p.ts)",
            0,
            None,
        ),
        ("select asset_id, ts from t where asset_id in (select asset_id from dim_symbol)", 0, 0),
        ("select asset_id, ts from t where asset_id in (select asset_id from t where x > 1)", None, None),
        # aggregation and row picking
        ("select asset_id, ts, sum(x) from t group by 1, 2", 0, 0),
        ("select asset_id, ts, sum(x) from t group by all", 0, 0),
        ("select asset_id, ts, sum(x) from t group by rollup (asset_id, ts)", None, None),
        (
            "with m as (select ts, avg(x) as m from t group by ts)"
            " select t.asset_id, t.ts, t.x / m.m from t join m on m.ts = t.ts",
            0,
            0,
        ),
        (
            "with m as (select asset_id, avg(x) as m from t group by asset_id)"
            " select t.asset_id, t.ts, t.x / m.m from t join m using (asset_id)",
            None,
            None,
        ),
        ("select distinct on (asset_id, ts) asset_id, ts, x from t", 0, 0),
        ("select distinct on (asset_id) asset_id, ts, x from t order by asset_id, ts desc", None, None),
        ("select asset_id, ts, x from t order by ts desc limit 10", None, None),
        ("select asset_id, ts, x from t using sample 10%", None, None),
        # dimensions and the time column itself
        ("select p.asset_id, p.ts, d.symbol from t p join dim_symbol d on d.asset_id = p.asset_id", 0, 0),
        ("select p.asset_id, p.ts, s.sector from t p join sectors s using (asset_id)", 0, 0),
        ("select asset_id, ts + interval 1 day as ts from t", None, None),
        ("select asset_id, day as ts, lag(x) over (partition by asset_id order by day) from t", 1, 0),
        ("with recursive r as (select 1 as n) select asset_id, ts from t", None, None),
    ],
)
def test_reads_around_the_row(sql: str, back: int | None, ahead: int | None) -> None:
    extent = query_extent(sqlglot.parse_one(sql, read="duckdb"), "ts", P)
    assert (extent.back, extent.ahead) == (back, ahead)


@pytest.mark.parametrize(
    ("sql", "partitions", "problem"),
    [
        ("select asset_id, ts, x / (select avg(x) from t) from t", P, "(SELECT AVG(x) FROM t)"),
        ("select asset_id, ts, x / (select avg(x) from t) from t", (), ""),  # one partition: all recomputed
        ("select asset_id, ts, lead(x) over (order by ts) from t", P, "LEAD(x) OVER (ORDER BY ts)"),
        ("select asset_id, ts, lag(x) over (order by ts) from t", P, ""),  # reads back only
        ("select asset_id, ts, lead(x) over (partition by asset_id order by ts) from t", P, ""),
        ("select p.asset_id, p.ts, q.x from t p join t q on q.ts = p.ts and q.asset_id = 0", P, ""),
        (
            "select p.asset_id, p.ts, q.x from t p join t q on q.ts > p.ts and q.asset_id = 0",
            P,
            "JOIN t AS q",
        ),
        ("select p.asset_id, p.ts, q.x from t p join t q on q.ts > p.ts and q.asset_id = p.asset_id", P, ""),
        (
            "with m as (select asset_id, avg(x) as m from t group by asset_id)"
            " select t.asset_id, t.ts, t.x / m.m from t join m using (asset_id)",
            P,
            "",
        ),
        (
            "with m as (select symbol, avg(x) as m from t group by symbol)"
            " select t.asset_id, t.ts, t.x / m.m from t join m using (symbol)",
            P,
            "JOIN m USING (symbol)",
        ),
        ("select asset_id, ts from t where asset_id in (select asset_id from t where x > 1)", P, ""),
        ("select asset_id, ts + interval 1 day as ts from t", (), "its time column `ts` is computed"),
        ("with r as (select asset_id, ts::date as ts from t) select asset_id, ts from r", P, "computed"),
    ],
)
def test_sql_no_refresh_by_rows_can_follow(sql: str, partitions: tuple[str, ...], problem: str) -> None:
    reach = analyse(sqlglot.parse_one(sql, read="duckdb"), "ts", partitions)
    assert (problem in reach.problem) if problem else reach.problem == ""
    if problem:
        assert reach.problem.endswith("as a table")


def test_the_dimension_tables_are_fstores():
    from features.dimension import DIM_TABLES

    assert set(DIM_TABLES) == DIMENSIONS


# ---------------------------------------------------------------------- a property, checked on DuckDB

_MARKET: list[duckdb.DuckDBPyConnection] = []
_FIRST, _LAST = day(45), day(49)


def _market() -> duckdb.DuckDBPyConnection:
    if not _MARKET:
        con = market()
        con.execute(
            "create table __target as select asset_id, min(rn) as lo, max(rn) as hi from __prices_all"
            " where ts between ? and ? group by asset_id",
            [_FIRST, _LAST],
        )
        _MARKET.append(con)
    return _MARKET[0]


def _values(con: duckdb.DuckDBPyConnection, sql: str, where: str) -> dict:
    show_prices(con, where)
    try:
        rows = keyed(con, sql)
    finally:
        show_prices(con, "true")
    return {k: v for k, v in rows.items() if _FIRST <= k[1] <= _LAST}


def _kept(back: int | None, ahead: int | None) -> str:
    """Each asset's rows from ``back`` before its first target row to ``ahead`` after its last (None:
    all of them; -1: all but its first, or last, row)."""
    low = "true" if back is None else "p.rn >= 2" if back == -1 else f"p.rn >= g.lo - {back}"
    high = "true" if ahead is None else "p.rn <= p.n - 1" if ahead == -1 else f"p.rn <= g.hi + {ahead}"
    return f"exists (select 1 from __target g where g.asset_id = p.asset_id and {low} and {high})"


def _fewer(rows: int | None) -> int:
    return -1 if rows is None else rows - 1


def _bound(offset: int) -> str:
    if abs(offset) == 99:
        return "unbounded " + ("preceding" if offset < 0 else "following")
    return "current row" if offset == 0 else f"{abs(offset)} {'preceding' if offset < 0 else 'following'}"


@st.composite
def _windows(draw: st.DrawFn) -> str:
    """A LAG / LEAD of any offset, or a ROWS frame (either end unbounded or not), over time
    ascending or descending."""
    order = draw(st.sampled_from(["ts", "ts desc"]))
    if draw(st.booleans()):
        func = draw(st.sampled_from(["lag", "lead"]))
        return f"{func}(close, {draw(st.integers(-4, 4))}) over (partition by asset_id order by {order})"
    start = draw(st.one_of(st.just(-99), st.integers(-4, 4)))
    end = draw(st.one_of(st.just(99), st.integers(max(start, -4), 4)))
    frame = f"rows between {_bound(start)} and {_bound(end)}"
    return f"sum(close) over (partition by asset_id order by {order} {frame})"


@settings(max_examples=60, deadline=None)
@given(window=_windows())
def test_offsets_frames_and_directions_are_sufficient_and_tight(window: str) -> None:
    """Any LAG/LEAD offset (either sign) or ROWS frame, over time ascending or descending: the rows
    derived back and ahead of the target days reproduce the full values on DuckDB, and one row fewer
    on a side that reads any (for an unbounded side: every row but the first, or last) changes some."""
    sql = f"select asset_id, ts, {window} as v from prices"
    extent = query_extent(sqlglot.parse_one(sql, read="duckdb"), "ts", P)
    con = _market()
    full = _values(con, sql, "true")

    def same(where: str) -> bool:  # floats within 1e-9: a shorter frame may add in another order
        part = _values(con, sql, where)
        return part.keys() == full.keys() and all(same_row(full[k], part[k]) for k in full)

    assert same(_kept(extent.back, extent.ahead))
    if extent.back != 0:
        assert not same(_kept(_fewer(extent.back), extent.ahead)), "back is longer than needed"
    if extent.ahead != 0:
        assert not same(_kept(extent.back, _fewer(extent.ahead))), "ahead is longer than needed"


# --------------------------------------------------------------------------- through the real engine

GOLDEN = load_cases(FIXTURES / "lookback.sql", ("lookback", "lookahead", "tight", "run"))
HEADER = "-- materialized: incremental\n"

# Models only this test runs: patterns whose data here show their reach only day by day.
EXTRA = {
    "thinned_by_volume": (
        "-- time_column: ts\n-- partition_by: asset_id\n"
        "select asset_id, ts, close / lag(close, 2) over (partition by asset_id order by ts) - 1 as ret\n"
        "from prices where volume > 5000"
    ),
    "lag_in_a_cte_over_a_filter": (
        "-- time_column: ts\n-- partition_by: asset_id\n"
        "with busy as (select asset_id, ts, close from prices where volume > 3000)\n"
        "select asset_id, ts, avg(close) over (partition by asset_id order by ts rows 2 preceding) as ma\n"
        "from busy"
    ),
    "prior_count_by_self_join": (
        "-- time_column: ts\n-- partition_by: asset_id\n"
        "select p.asset_id, p.ts, count(q.ts) as n_before\nfrom prices p\n"
        "left join prices q on q.asset_id = p.asset_id and q.ts < p.ts\ngroup by p.asset_id, p.ts"
    ),
    "exists_a_later_high": (
        "-- time_column: ts\n-- partition_by: asset_id\n-- label: true\n"
        "select asset_id, ts, close from prices p\nwhere exists (select 1 from prices q"
        " where q.asset_id = p.asset_id and q.ts > p.ts and q.close > p.close * 1.03)"
    ),
    "whole_table_mean_in_one_partition": (
        "-- time_column: ts\n-- label: true\n"
        "select asset_id, ts, close / (select avg(close) from prices) as rel_to_all_time_mean from prices"
    ),
    "market_lead_per_asset": (
        "-- time_column: ts\n-- partition_by: asset_id\n-- label: true\n"
        "select asset_id, ts, lead(close) over (order by ts, asset_id) as next_in_market from prices"
    ),
}

# What lookback.py derived before these rules (commit b8bdf78). Planned with these, each of these
# models refreshes to rows a full rebuild does not give. (A LAG(1) over rows its own WHERE or inner
# join thinned survives: the refresh starts from the model's latest row, which is the row it needs.)
BEFORE = {
    "lag with a negative offset reads later rows": Extent(None, 0),
    "lag over time descending reads later rows": Extent(2, 0),
    "a preceding frame over time descending reads later rows": Extent(3, 0),
    "a rank within an asset by price reads the whole partition": Extent(None, 0),
    "a correlated subquery over earlier rows reads the whole history": Extent(0, 0),
    "a self-join on the previous day reads the whole history": Extent(0, 0),
    "a lag per asset in a model without partition_by reads the whole history": Extent(1, 0),
    "row_number over time descending reads the whole future": Extent(None, 0),
    "a group by without the time column reads every row": Extent(0, 0),
    "an asof join on earlier dates reads the whole history": Extent(0, 0),
    "an in subquery over prices reads every row": Extent(0, 0),
    "thinned_by_volume": Extent(2, 0),
    "lag_in_a_cte_over_a_filter": Extent(2, 0),
    "prior_count_by_self_join": Extent(0, 0),
    "exists_a_later_high": Extent(0, 0),
    "whole_table_mean_in_one_partition": Extent(0, 0),
}

# SQL no refresh by rows can follow: refused as incremental models (validate), and with the refusal
# lifted they do refresh to wrong rows, with the extents derived now.
REFUSED = {
    "a whole-table scalar aggregate reads every row": "reads later rows of other partitions",
    "a time column computed from another reads everything": "its time column `ts` is computed",
    "market_lead_per_asset": "reads later rows of other partitions",
}


def _write_project(root: Path) -> dict[str, str]:
    """Every golden lookback case and EXTRA as an incremental model, each case in BEFORE once more as
    ``before_<name>``: model name -> the case's title."""
    (root / "config").mkdir(parents=True)
    (root / "config" / "project.toml").write_text('[paths]\nwarehouse = "data/warehouse.duckdb"\n')
    (root / "sql").mkdir()
    sql = {case.name: (case.title, case.sql) for case in GOLDEN} | {n: (n, s) for n, s in EXTRA.items()}
    titles = {}
    for name, (title, text) in sql.items():
        copies = [name, f"before_{name}"] if title in BEFORE else [name]
        for copy in copies:
            titles[copy] = title
            (root / "sql" / f"{copy}.sql").write_text(HEADER + text + "\n")
    assert set(BEFORE) | set(REFUSED) <= set(titles.values()), "a title names no case"
    return titles


def _dag(root: Path, con: duckdb.DuckDBPyConnection, titles: Mapping[str, str]) -> tuple[Project, Dag]:
    """The project's DAG, refusals lifted and ``before_`` models planned with their BEFORE extents."""
    project = load_project(root, search=False)
    found = discover(project)
    for name, model in found.models.items():
        title = titles[name]
        forced = BEFORE[title] if name.startswith("before_") else Extent(model.back, model.ahead)
        found.models[name] = dataclasses.replace(
            model, back=forced.back, ahead=forced.ahead, refresh_problem=""
        )
    return project, validate(found, relations(con))


def _load(con: duckdb.DuckDBPyConnection, rows: list[tuple[int, date, float, float]]) -> None:
    con.execute("create table if not exists prices (asset_id integer, ts date, close double, volume double)")
    con.executemany("insert into prices values (?, ?, ?, ?)", rows)
    con.execute(
        "create table if not exists dim_symbol as select * from (values (0, 'AAA', 'equity'),"
        " (1, 'BBB', 'equity'), (2, 'CCC', 'crypto'), (3, 'DDD', 'crypto')) v(asset_id, symbol, asset_class)"
    )


def _build(con: duckdb.DuckDBPyConnection, root: Path, titles: Mapping[str, str]) -> dict[str, str]:
    project, dag = _dag(root, con, titles)
    result = build_models(con, project, dag, run_tests=False)
    return {r.model: r.action for r in result.runs}


@pytest.fixture(scope="module")
def day_by_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], set[str]]:
    """Build days 0-63 of the golden market in full, then add days 64-76 one by one and 77-79 at
    once, refreshing incrementally: asset 1 skips every 5th day, asset 3 delists after day 75, label
    models rewrite their last rows. Returns the models' titles and the models whose rows differed
    from a full rebuild at any of three checkpoints."""
    root = tmp_path_factory.mktemp("lookback_engine")
    titles = _write_project(root)
    by_day: dict[date, list[tuple[int, date, float, float]]] = {}
    for row in price_rows():
        by_day.setdefault(row[1], []).append(row)
    days = sorted(by_day)
    inc = duckdb.connect()
    _load(inc, [r for d in days[:64] for r in by_day[d]])
    _build(inc, root, titles)
    differ: set[str] = set()
    steps = [[d] for d in days[64:77]] + [days[77:80]]
    for i, step in enumerate(steps, start=1):
        _load(inc, [r for d in step for r in by_day[d]])
        actions = _build(inc, root, titles)
        assert set(actions.values()) == {"incremental"}, actions
        if i in (5, 10, len(steps)):
            full = duckdb.connect()
            _load(full, inc.execute("select * from prices").fetchall())
            _build(full, root, titles)
            differ |= {n for n in actions if not same_bag(_rows(inc, n), _rows(full, n))}
            full.close()
    inc.close()
    return titles, differ


def _rows(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    return con.execute(f"select * from {name}").fetchall()


def test_incremental_refresh_equals_a_full_rebuild_with_the_derived_extents(day_by_day) -> None:
    """Every golden case and EXTRA, refreshed day by day with the extents derived now, equals a full
    rebuild (floats within 1e-9: sliding sums add in another order)."""
    titles, differ = day_by_day
    planned_now = {n for n, t in titles.items() if not n.startswith("before_") and t not in REFUSED}
    assert planned_now & differ == set()


def test_the_extents_derived_before_break_the_refresh(day_by_day) -> None:
    """The comparison can fail: planned with what lookback.py derived before, every model in BEFORE
    refreshes to rows a full rebuild does not give."""
    titles, differ = day_by_day
    assert {n for n in titles if n.startswith("before_")} <= differ


def test_sql_no_refresh_can_follow_is_refused_and_would_break_it(day_by_day, tmp_path: Path) -> None:
    """Reads of later rows of other partitions, and a computed time column: validation refuses them
    as incremental models, naming why; with the refusal lifted they refresh to wrong rows."""
    titles, differ = day_by_day
    refused = {n for n, t in titles.items() if t in REFUSED}
    assert refused <= differ
    root = tmp_path / "p"
    _write_project(root)
    with pytest.raises(ValidationErrors) as info:
        validate(discover(load_project(root, search=False)), ("prices", "dim_symbol"))
    named = {e.model: str(e) for e in info.value.errors}
    assert set(named) == refused
    for name in refused:
        assert REFUSED[titles[name]] in named[name]
        assert "cannot be refreshed exactly" in named[name]


def test_a_model_read_differently_is_rebuilt_in_full(tmp_path: Path) -> None:
    """Rows refreshed with one extent are not trusted under another: when the derivation changes (an
    fstore upgrade that reads the same SQL differently), the next build rebuilds the model in full."""
    root = tmp_path / "p"
    (root / "config").mkdir(parents=True)
    (root / "config" / "project.toml").write_text('[paths]\nwarehouse = "data/warehouse.duckdb"\n')
    (root / "sql").mkdir()
    (root / "sql" / "m.sql").write_text(HEADER + EXTRA["thinned_by_volume"] + "\n")
    by_day: dict[date, list[tuple[int, date, float, float]]] = {}
    for row in price_rows():
        by_day.setdefault(row[1], []).append(row)
    days = sorted(by_day)
    con = duckdb.connect()

    def build(day: int, back: int | None) -> str:
        _load(con, by_day[days[day]])
        project = load_project(root, search=False)
        found = discover(project)
        found.models["m"] = dataclasses.replace(found.models["m"], back=back)
        (run,) = build_models(con, project, validate(found, relations(con)), run_tests=False).runs
        return run.action

    assert [build(d, back) for d, back in enumerate([2, 2, 2, None, None, 2])] == [
        "full",
        "incremental",
        "incremental",
        "full",
        "incremental",
        "full",
    ]


def test_a_parse_cache_entry_missing_a_key_is_parsed_again(tmp_path: Path) -> None:
    """An entry written by an fstore that did not know a key (another branch, an older release at the
    same cache version) is parsed again rather than read as "no problem"."""
    import hashlib
    import json

    from features.models.discovery import CACHE_FILE, CACHE_VERSION

    root = tmp_path / "p"
    (root / "config").mkdir(parents=True)
    (root / "config" / "project.toml").write_text('[paths]\nwarehouse = "data/warehouse.duckdb"\n')
    (root / "sql").mkdir()
    text = HEADER + GOLDEN[0].sql.replace("lag(close)", "lag(close, -1)") + "\n"
    (root / "sql" / "m.sql").write_text(text)
    project = load_project(root, search=False)
    stale = {"refs": [["prices", 5, 1]], "hash": "x", "back": 1, "ahead": 0, "leaks": []}
    key = "sql:" + hashlib.sha256(text.encode()).hexdigest()
    cache = project.path(project.paths.target) / CACHE_FILE
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"version": CACHE_VERSION, "entries": {key: stale}}))
    model = discover(project).models["m"]
    assert (model.lookback, model.ahead) == (0, 1)
