"""Data tests: each kind fails on bad rows with a sample, warn severity, custom SQL, `fstore test`."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from features.config import load_project
from features.errors import DataTestError, ModelError
from features.models.checks import check_sql, parse_test, run_check
from features.models.runner import run_tests
from tests.models.conftest import add_prices, load_dag


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute(
        "create table m as select * from (values (1, 'a', 5.0, 0), (2, 'b', 50.0, 1), (2, 'b', null, 2),"
        " (null, 'c', 150.0, 1)) v(id, name, x, flag)"
    )
    c.execute("create table dim as select 1 as id union all select 2")
    return c


@pytest.mark.parametrize(
    ("spec", "failures"),
    [
        ("not_null(id)", 1),
        ("not_null(id, x)", 2),
        ("unique(id)", 1),  # id 2 twice (nulls are grouped too, but occur once)
        ("unique(id, name)", 1),
        ("unique(name, flag)", 0),
        ("accepted_range(x, 0, 100)", 1),
        ("accepted_range(x, 10, )", 1),
        ("accepted_values(flag, 0, 1)", 1),
        ("accepted_values(name, 'a', b, \"c\")", 0),
        ("relationships(id, dim.id)", 0),
    ],
)
def test_each_kind(con, spec: str, failures: int) -> None:
    result = run_check(con, parse_test(spec, "m"))
    assert result.error is None
    assert result.failures == failures
    assert result.status == ("pass" if failures == 0 else "fail")
    if failures:
        assert len(result.sample[1]) == min(failures, 5)


def test_relationships_failure_and_sample(con) -> None:
    con.execute("delete from dim where id = 2")
    result = run_check(con, parse_test("relationships(id, dim.id)", "m", "sql/m.sql", 4))
    assert result.failures == 2
    assert result.sample[0] == ("id", "name", "x", "flag")


def test_warn_severity(con) -> None:
    result = run_check(con, parse_test("warn accepted_range(x, 0, 100)", "m"))
    assert (result.status, result.test.severity) == ("warn", "warn")


def test_custom_sql_test_file(con, tmp_path: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "neg.sql").write_text("select * from m where x > 100;\n")
    test = parse_test("sql checks/neg.sql", "m")
    assert check_sql(test, tmp_path) == "select * from m where x > 100"
    assert run_check(con, test, tmp_path).failures == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("not_null()", "expects one or more column names"),
        ("accepted_range(x, 0)", "expects (column, min, max)"),
        ("accepted_range(x, low, 1)", "min and max must be numbers"),
        ("relationships(id, dim)", "expects (column, relation.column)"),
        ("uniq(id)", "unknown test `uniq`"),
        ("not null", "cannot read test"),
    ],
)
def test_malformed_tests_name_file_and_line(spec: str, message: str) -> None:
    with pytest.raises(ModelError) as info:
        parse_test(spec, "m", "sql/m.sql", 7)
    assert str(info.value).startswith("sql/m.sql:7: ")
    assert message in str(info.value)


def test_failing_test_in_build_prints_model_test_and_rows(build, mini: Path) -> None:
    path = mini / "sql" / "marts" / "feat.sql"
    path.write_text(
        path.read_text().replace("accepted_range(ma_4, 0, 100000)", "accepted_range(ma_4, 0, 50)")
    )
    con = duckdb.connect()
    add_prices(con, range(5))
    with pytest.raises(DataTestError) as info:
        build(con)
    text = str(info.value)
    assert "sql/marts/feat.sql:9: feat: test accepted_range(ma_4, 0, 50) failed (12 failing row(s))" in text
    assert "asset_id | ts | close | ret_2 | ma_4" in text
    result = info.value.result
    assert set(result.built) >= {"feat", "dataset"}  # models are built; only tests failed
    logged = con.execute(
        "select status, failures from build_tests where test = 'accepted_range(ma_4, 0, 50)'"
    )
    assert logged.fetchall() == [("fail", 12)]


def test_fstore_test_reruns_every_test(build, mini: Path) -> None:
    con = duckdb.connect()
    add_prices(con, range(5))
    first = build(con)
    assert len(first.tests) == 9 and not first.failed_tests
    project = load_project(mini)
    again = run_tests(con, project, load_dag(project, con), select=("feat",))
    assert [t.test.name for t in again.tests] == [
        "not_null(asset_id, ts)",
        "unique(asset_id, ts)",
        "accepted_range(ma_4, 0, 100000)",
    ]
