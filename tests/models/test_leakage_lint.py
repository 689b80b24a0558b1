"""The leakage lint against what the SQL really does.

Every query below runs on a small price table, then again with every close after a cutoff date changed
and again with every other later row gone. A query *leaks* when a value at or before the cutoff moved
(or a row appeared or vanished); that is checked by running it, independently of the lint. The lint
must reject each leaking query in a feature model (file:line of the leaking construct) and accept it in
a label model, and must accept every query that does not leak. Hypothesis draws window functions,
frames and orders and holds the lint to the same rule. And the lint reports only what the lookback
derivation counts as reading ahead: one analysis, not two that could disagree.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
import sqlglot
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from features.config import load_project
from features.errors import ModelError
from features.models.discovery import discover, parse_sql
from features.models.headers import parse_header
from features.models.lookback import analyse
from features.models.state import relations
from features.models.validate import validate
from tests.golden._golden import load_cases

REPO = Path(__file__).resolve().parents[2]
START, DAYS, CUTOFF = date(2024, 1, 1), 30, 15

# (name, SQL, the text on the line the error must point at); every query returns (asset_id, ts, v)
LEAKS = [
    (
        "lag with a negative offset",
        "select asset_id, ts,\n  lag(close, -1) over (partition by asset_id order by ts) as v\nfrom raw_prices",
        "lag(close, -1)",
    ),
    (
        "descending time order",
        "select asset_id, ts,\n  avg(close) over (partition by asset_id order by ts desc"
        " rows between 3 preceding and current row) as v\nfrom raw_prices",
        "order by ts desc",
    ),
    (
        "descending order in a named window",
        "select asset_id, ts,\n  lag(close) over w as v\nfrom raw_prices\n"
        "window w as (partition by asset_id order by ts desc)",
        "lag(close) over w",
    ),
    (
        "aggregate window without ORDER BY",
        "select asset_id, ts,\n  close / max(close) over (partition by asset_id) as v\nfrom raw_prices",
        "max(close) over (partition by asset_id)",
    ),
    (
        "correlated subquery on later dates",
        "select a.asset_id, a.ts,\n  (select avg(b.close) from raw_prices b\n"
        "   where b.asset_id = a.asset_id and b.ts > a.ts) as v\nfrom raw_prices a",
        "b.ts > a.ts",
    ),
    (
        "correlated subquery, unqualified inner column",
        "select a.asset_id, a.ts,\n  (select close from raw_prices\n"
        "   where asset_id = a.asset_id and ts = a.ts + 1) as v\nfrom raw_prices a",
        "ts = a.ts + 1",
    ),
    (
        "whole-table scalar aggregate",
        "select asset_id, ts,\n  close / (select avg(close) from raw_prices) as v\nfrom raw_prices",
        "(select avg(close) from raw_prices)",
    ),
    (
        "whole-table aggregate through a CTE, cross joined",
        "with m as (select avg(close) as mu from raw_prices)\nselect asset_id, ts, close / m.mu as v\n"
        "from raw_prices\ncross join m",
        "cross join m",
    ),
    (
        "join on a window reaching forward",
        "select a.asset_id, a.ts, sum(b.close) as v\nfrom raw_prices a\njoin raw_prices b\n"
        "  on b.asset_id = a.asset_id and b.ts between a.ts and a.ts + 3\ngroup by all",
        "b.ts between a.ts and a.ts + 3",
    ),
    (
        "window ordered by a value",
        "select asset_id, ts,\n  rank() over (partition by asset_id order by close) as v\nfrom raw_prices",
        "rank() over",
    ),
    (
        "percent_rank over time",
        "select asset_id, ts,\n  percent_rank() over (partition by asset_id order by ts) as v\nfrom raw_prices",
        "percent_rank()",
    ),
    (
        "per-asset aggregate joined back",
        "select p.asset_id, p.ts, p.close / a.m as v\nfrom raw_prices p\n"
        "join (select asset_id, avg(close) as m from raw_prices group by asset_id) a using (asset_id)",
        "join (select",
    ),
    (
        "join on the asset alone, aggregated",
        "select a.asset_id, a.ts, max(b.close) as v\nfrom raw_prices a\njoin raw_prices b\n"
        "  on b.asset_id = a.asset_id\ngroup by all",
        "join raw_prices b",
    ),
    (
        "assets kept by their whole history's row count",
        "select asset_id, ts, close as v\nfrom raw_prices\n"
        "where asset_id in (select asset_id from raw_prices group by asset_id having count(*) > 25)",
        "in (select",
    ),
    (
        "comma join on the next day",
        "select a.asset_id, a.ts, b.close as v\nfrom raw_prices a, raw_prices b\n"
        "where b.asset_id = a.asset_id and b.ts = a.ts + 1",
        "b.ts = a.ts + 1",
    ),
]

CLEAN = [
    "select asset_id, ts, lag(close, 1) over (partition by asset_id order by ts) as v from raw_prices",
    "select asset_id, ts, avg(close) over (partition by asset_id order by ts"
    " rows between 4 preceding and current row) as v from raw_prices",
    "select asset_id, ts, max(close) over (partition by asset_id order by ts) as v from raw_prices",
    "select asset_id, ts, percent_rank() over (partition by ts order by close desc) as v from raw_prices",
    "select asset_id, ts, close / avg(close) over (partition by ts) as v from raw_prices",
    "select asset_id, ts, ts - min(ts) over (partition by asset_id) as v from raw_prices",
    "select asset_id, ts, lag(close) over w as v from raw_prices window w as (partition by asset_id order by ts)",
    "select a.asset_id, a.ts, sum(b.close) as v from raw_prices a join raw_prices b"
    " on b.asset_id = a.asset_id and b.ts between a.ts - 3 and a.ts group by all",
    "select a.asset_id, a.ts, sum(b.close) as v from raw_prices a join raw_prices b"
    " on b.asset_id = a.asset_id and b.ts > a.ts - 4 and b.ts <= a.ts group by all",
    "select a.asset_id, a.ts, (select avg(b.close) from raw_prices b"
    " where b.asset_id = a.asset_id and b.ts <= a.ts) as v from raw_prices a",
    "select a.asset_id, a.ts, a.close / (select avg(b.close) from raw_prices b where b.ts = a.ts) as v"
    " from raw_prices a",
    "select a.asset_id, a.ts, b.close as v from raw_prices a"
    " join raw_prices b on b.asset_id = a.asset_id and b.ts = a.ts - 1",
    "select asset_id, ts, close as v from raw_prices where ts >= (select min(ts) from raw_prices)",
    "select asset_id, ts, lead(close, -1) over (partition by asset_id order by ts) as v from raw_prices",
    "select asset_id, ts, rank() over (partition by ts order by close) as v from raw_prices",
    "select p.asset_id, p.ts, p.ts - f.t0 as v from raw_prices p"
    " join (select asset_id, min(ts) as t0 from raw_prices group by asset_id) f using (asset_id)",
    "select p.asset_id, p.ts, p.close / m.mean_close as v from raw_prices p"
    " join (select ts, avg(close) as mean_close from raw_prices group by ts) m using (ts)",
]


def _prices(factor: float, drop: tuple[int, ...] = ()) -> duckdb.DuckDBPyConnection:
    """3 assets × 30 days of closes near 100, every close after the cutoff times ``factor``, and the
    days after it whose parity (day % 2) is in ``drop`` gone."""
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (3, DAYS)), axis=1))
    close[:, CUTOFF + 1 :] *= factor
    days = [d for d in range(DAYS) if not (d > CUTOFF and d % 2 in drop)]
    con = duckdb.connect()
    con.execute("create table raw_prices (asset_id integer, ts date, close double)")
    con.executemany(
        "insert into raw_prices values (?, ?, ?)",
        [(a, START + timedelta(days=d), float(close[a, d])) for a in range(3) for d in days],
    )
    return con


def _reads_the_future(sql: str) -> bool:
    """Whether any value at or before the cutoff changes when later rows change, by running it: the
    later closes ×1000 and ÷1000 (so a later row becomes any frame's maximum, then its minimum), and
    every other later row dropped, then every later row (so a count of later rows, or of the next row
    alone, changes)."""
    query = f"select asset_id, ts, v::double from ({sql}) where ts <= ? order by all"
    cutoff = START + timedelta(days=CUTOFF)
    runs = [(1.0, ()), (1000.0, ()), (0.001, ()), (1.0, (1,)), (1.0, (0, 1))]
    base, *others = (_prices(f, drop).execute(query, [cutoff]).fetchall() for f, drop in runs)
    assert len(base) == len(others[0]) == len(others[1]) > 0
    return any(base != other for other in others)


def _leaks(sql: str, time_column: str | None = None) -> list[tuple[int | None, str]]:
    return [tuple(leak) for leak in parse_sql(sql, "sql/feat.sql", time_column)["leaks"]]


def _validate(root: Path) -> None:
    con = duckdb.connect()
    con.execute("create table raw_prices (asset_id integer, ts date, close double)")
    validate(discover(load_project(root)), relations(con))


def _project(tmp_path: Path, sql: str) -> Path:
    root = tmp_path
    (root / "config").mkdir(parents=True)
    (root / "config" / "project.toml").write_text('[paths]\npython_models = ["models"]\n')
    (root / "sql").mkdir()
    (root / "sql" / "feat.sql").write_text(sql)
    return root


@pytest.mark.parametrize(("name", "sql", "marker"), LEAKS, ids=[c[0] for c in LEAKS])
def test_each_leak_is_real_and_rejected_at_its_line(tmp_path: Path, name: str, sql: str, marker: str) -> None:
    assert _reads_the_future(sql), f"{name}: the example must really look ahead"
    expected_line = next(i for i, text in enumerate(sql.splitlines(), start=1) if marker in text)
    with pytest.raises(ModelError) as info:
        _validate(_project(tmp_path / "feature", sql))
    err = info.value
    assert "possible look-ahead leakage in `feat`" in str(err)
    assert (err.file, err.line) == ("sql/feat.sql", expected_line), str(err)
    assert str(err).startswith(f"sql/feat.sql:{expected_line}: ")
    _validate(_project(tmp_path / "label", "-- label: true\n" + sql))  # a label model may look ahead


@pytest.mark.parametrize("sql", CLEAN)
def test_clean_patterns_do_not_leak_and_pass(sql: str) -> None:
    assert not _reads_the_future(sql)
    assert _leaks(sql) == []


def _model_files() -> list[Path]:
    """The SQL models fstore ships or copies: the default project, the template, the mini fixture."""
    roots = [REPO / "sql", REPO / "features" / "templates", REPO / "tests" / "fixtures" / "projects"]
    return sorted(p for root in roots for p in root.rglob("*.sql"))


def test_no_false_positive_on_shipped_models() -> None:
    files = _model_files()
    assert len(files) >= 10
    for path in files:
        text = path.read_text()
        if "-- label: true" in text or path.parent.name == "checks":
            continue
        time_column = next(
            (
                line.split(":", 1)[1].strip()
                for line in text.splitlines()
                if line.startswith("-- time_column:")
            ),
            None,
        )
        assert _leaks(text, time_column) == [], path


WINDOWS = st.fixed_dictionaries(
    {
        "func": st.sampled_from(
            ["avg(close)", "sum(close)", "max(close)", "min(close)", "stddev_samp(close)"]
        ),
        "partition": st.sampled_from(["partition by asset_id", ""]),
        "order": st.sampled_from(["asc", "desc"]),
        "back": st.integers(1, 6),
        "ahead": st.integers(0, 3),
    }
)


@settings(max_examples=60, deadline=None)
@given(WINDOWS)
def test_window_frames_are_flagged_exactly_when_they_read_later_dates(w: dict) -> None:
    end = "current row" if w["ahead"] == 0 else f"{w['ahead']} following"
    sql = (
        f"select asset_id, ts, {w['func']} over ({w['partition']} order by ts {w['order']}, asset_id"
        f" rows between {w['back']} preceding and {end}) as v from raw_prices"
    )
    leaks = bool(_leaks(sql))
    assert leaks == _reads_the_future(sql), sql
    assert leaks == (w["order"] == "desc" or w["ahead"] > 0), sql


@settings(max_examples=30, deadline=None)
@given(st.integers(-4, 4).filter(lambda k: k != 0), st.sampled_from(["lag", "lead"]))
def test_offsets_are_flagged_exactly_when_they_read_later_rows(offset: int, func: str) -> None:
    sql = f"select asset_id, ts, {func}(close, {offset}) over (partition by asset_id order by ts) as v from raw_prices"
    leaks = bool(_leaks(sql))
    reads_later = (func == "lead") == (offset > 0)
    assert _reads_the_future(sql) == reads_later, sql
    assert leaks == reads_later, sql  # lead(x, -1) is a lag, lag(x, -1) a lead
    sqlglot.parse_one(sql, read="duckdb")  # both spellings parse as written


# the window functions drawn below, each with how it takes a window: an aggregate over a frame, a rank
# (no frame) or an offset (``{k}``: a signed row count)
CALLS = {
    "avg(close)": "frame",
    "sum(close)": "frame",
    "max(close)": "frame",
    "count(close)": "frame",
    "row_number()": "rank",
    "rank()": "rank",
    "percent_rank()": "rank",
    "cume_dist()": "rank",
    "ntile(3)": "rank",
    "lag(close, {k})": "offset",
    "lead(close, {k})": "offset",
}
WINDOW_CALLS = st.fixed_dictionaries(
    {
        "func": st.sampled_from(sorted(CALLS)),
        "k": st.integers(-3, 3).filter(bool),
        "partition": st.sampled_from(["partition by asset_id", "partition by ts", ""]),
        "order": st.sampled_from(["ts", "ts desc", "close", "close desc", ""]),
        "frame": st.one_of(st.none(), st.tuples(st.integers(0, 4), st.integers(0, 2))),
    }
)


@settings(max_examples=150, deadline=None)
@given(WINDOW_CALLS)
def test_window_calls_are_flagged_exactly_when_they_read_later_dates(w: dict) -> None:
    kind = CALLS[w["func"]]
    assume(w["order"] or kind == "frame")  # an offset or a rank without ORDER BY picks rows arbitrarily
    if w["func"] == "max(close)" and w["order"] in ("close", "close desc"):
        back, ahead = w["frame"] or (None, 0)  # no frame: unbounded preceding .. current row
        # a frame holding only rows whose closes are not above this one's: the max is this close, read
        # from no other row (the lint still flags the value order, conservatively)
        assume(not (ahead == 0 if w["order"] == "close" else back == 0))
    order = f"order by {w['order']}, asset_id" if w["order"] else ""
    frame = ""
    if kind == "frame" and order and w["frame"] is not None:
        back, ahead = w["frame"]
        frame = f"rows between {back} preceding and " + (f"{ahead} following" if ahead else "current row")
    call = w["func"].format(k=w["k"])
    sql = f"select asset_id, ts, {call} over ({w['partition']} {order} {frame}) as v from raw_prices"
    assert bool(_leaks(sql)) == _reads_the_future(sql), sql


def _golden_cases() -> list[tuple[str, str, str | None]]:
    """(where, SQL, header time column) of every golden leakage and lookback case."""
    out = []
    for file in ("leakage.sql", "lookback.sql"):
        for case in load_cases(file, ("expect", "message", "line", "run", "lookback", "lookahead", "tight")):
            out.append((f"{file}:{case.line}", case.sql, parse_header(case.sql, file).time_column))
    return out


GOLDEN = _golden_cases()


@pytest.mark.parametrize(("where", "sql", "time_column"), GOLDEN, ids=[where for where, _, _ in GOLDEN])
def test_the_lint_reports_only_what_the_derivation_reads_ahead(
    where: str, sql: str, time_column: str | None
) -> None:
    query = sqlglot.parse_one(sql, read="duckdb")
    leaks = _leaks(sql, time_column)
    ahead = analyse(query, time_column or "ts", None).extent.ahead
    if leaks:
        assert ahead != 0, f"{where}: flagged {leaks}, yet the derivation reads nothing ahead"
