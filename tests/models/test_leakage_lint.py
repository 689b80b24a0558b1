"""The leakage lint against what the SQL really does.

Every query below runs on a small price table twice, the second time with every close after a cutoff
date changed. A query *leaks* when a value at or before the cutoff moved; that is checked by running
it, independently of the lint. The lint must reject each leaking query in a feature model (file:line
of the leaking construct) and accept it in a label model, and must accept every query that does not
leak. Hypothesis draws window functions, frames and orders and holds the lint to the same rule.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st

from features.config import load_project
from features.errors import ModelError
from features.models.discovery import discover, parse_sql
from features.models.state import relations
from features.models.validate import validate

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
]


def _prices(factor: float) -> duckdb.DuckDBPyConnection:
    """3 assets × 30 days of closes near 100, every close after the cutoff times ``factor``."""
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (3, DAYS)), axis=1))
    close[:, CUTOFF + 1 :] *= factor
    con = duckdb.connect()
    con.execute("create table raw_prices (asset_id integer, ts date, close double)")
    con.executemany(
        "insert into raw_prices values (?, ?, ?)",
        [(a, START + timedelta(days=d), float(close[a, d])) for a in range(3) for d in range(DAYS)],
    )
    return con


def _reads_the_future(sql: str) -> bool:
    """Whether any value at or before the cutoff changes when later closes change, by running it: the
    later closes ×1000 and ÷1000 (so a later row becomes any frame's maximum, then its minimum)."""
    query = f"select asset_id, ts, v::double from ({sql}) where ts <= ? order by all"
    cutoff = START + timedelta(days=CUTOFF)
    base, up, down = (_prices(f).execute(query, [cutoff]).fetchall() for f in (1.0, 1000.0, 0.001))
    assert len(base) == len(up) == len(down) > 0
    return base != up or base != down


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
