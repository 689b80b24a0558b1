"""Golden Spark transpilation, run on Spark itself: the DuckDB SQL of every case on DuckDB and the Spark
SQL fstore makes of it on Spark, over the same generated market, must return the same rows.

This is what the golden text comparison (tests/golden/test_golden_transpile.py) cannot show: that a
Spark function named like DuckDB's computes the same thing (``LOG``, the day of the week, ``list``).
Skipped without pyspark and Java (``make spark-setup``).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal

import duckdb
import pytest
from _golden import Case, load_cases, market, params, price_rows

from features.engines.transpile import UntranspilableError, to_spark

CASES = load_cases("transpile.sql", ("columns", "error", "run"), statements=(1, 2))
CATALOG = "duckdb_columns"  # the engine provides this relation itself (tests/test_spark.py runs it)
RUNS = [c for c in CASES if "error" not in c.meta and CATALOG not in c.sql]


def _columns(case: Case) -> dict[str, list[str]] | None:
    from test_golden_transpile import _columns as columns

    return columns(case)


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed")
    from pyspark.sql.types import DateType, DoubleType, IntegerType, StringType, StructField, StructType

    from features.engines.spark import session

    spark, created = session("local[1]", shuffle_partitions=1)
    prices = StructType(
        [
            StructField("asset_id", IntegerType()),
            StructField("ts", DateType()),
            StructField("close", DoubleType()),
            StructField("volume", DoubleType()),
        ]
    )
    spark.createDataFrame(price_rows(), prices).createOrReplaceTempView("prices")
    dim = StructType([StructField(n, t) for n, t in (("asset_id", IntegerType()), ("symbol", StringType()))])
    rows = [(0, "AAA", "equity"), (1, "BBB", "equity"), (2, "CCC", "crypto"), (3, "DDD", "crypto")]
    dim = StructType([*dim.fields, StructField("asset_class", StringType())])
    spark.createDataFrame(rows, dim).createOrReplaceTempView("dim_symbol")
    yield spark
    if created:
        spark.stop()


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = market()
    yield con
    con.close()


def _value(v: object) -> object:
    """One comparable value: decimals as floats, lists as sorted tuples (their order is unspecified
    in both engines unless an ORDER BY says it), NaN as None, a midnight timestamp as its date (DuckDB's
    date + interval is a timestamp, Spark's a date: the same day)."""
    if isinstance(v, datetime) and v.time() == time(0):
        return v.date()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, list | tuple):
        return tuple(sorted((_value(x) for x in v), key=lambda x: (x is None, type(x).__name__, str(x))))
    return v


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _bag(rows: list[tuple]) -> list[tuple]:
    out = [tuple(_value(v) for v in row) for row in rows]
    return sorted(out, key=lambda r: [(v is None, type(v).__name__, str(v)) for v in r])


@pytest.mark.parametrize("case", params(RUNS, xfail=False))
def test_spark_returns_what_duckdb_returns(case: Case, spark, con: duckdb.DuckDBPyConnection) -> None:
    columns = _columns(case)
    sql = to_spark(case.sql, columns.get if columns is not None else None)
    duck = _bag(con.execute(case.sql).fetchall())
    on_spark = _bag([tuple(r) for r in spark.sql(sql).collect()])  # type: ignore[attr-defined]
    assert duck, "the case must return rows"
    assert len(duck) == len(on_spark)
    wrong = [(d, s) for d, s in zip(duck, on_spark, strict=True) if not all(map(_same, d, s))]
    assert wrong == [], f"{sql}\nDuckDB vs Spark, first differences: {wrong[:3]}"


def test_a_star_whose_columns_are_unknown_at_run_time_is_an_error() -> None:
    """At run time (columns known for the relations built so far) a star fstore cannot expand is an
    error naming it, not Spark's parse error."""
    columns = {"prices": ["asset_id", "ts", "close"]}.get
    for sql in ("select * exclude (volume) from other", "select * replace (1 as a) from other"):
        with pytest.raises(UntranspilableError, match="the columns of `other` are not known"):
            to_spark(sql, columns)
    assert to_spark("select * exclude (close) from prices", columns) == "SELECT asset_id, ts FROM prices"


def test_the_day_of_the_week_agrees_on_every_weekday(spark, con: duckdb.DuckDBPyConnection) -> None:
    """dayofweek / isodow / weekday / extract / date_part / dayname / monthname over two weeks."""
    days = [date(2024, 1, d) for d in range(1, 15)]
    con.execute("create or replace temp table days (d date)")
    con.executemany("insert into days values (?)", [(d,) for d in days])
    spark.createDataFrame([(d,) for d in days], "d date").createOrReplaceTempView("days")  # type: ignore[attr-defined]
    sql = (
        "select d, dayofweek(d), isodow(d), weekday(d), extract(dow from d), extract(isodow from d),"
        " date_part('dow', d), dayname(d), monthname(d), log(day(d) + 1) from days"
    )
    duck = _bag(con.execute(sql).fetchall())
    on_spark = _bag([tuple(r) for r in spark.sql(to_spark(sql)).collect()])  # type: ignore[attr-defined]
    assert [r[0] for r in duck] == days
    assert duck[0][1:3] == (1, 1) and duck[6][1:3] == (0, 7)  # Monday 2024-01-01, Sunday the 7th
    assert all(all(map(_same, d, s)) for d, s in zip(duck, on_spark, strict=True)), (duck, on_spark)
