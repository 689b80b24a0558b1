"""Lookback / lookahead derived from window functions (golden SQL → rows)."""

from __future__ import annotations

import pytest
import sqlglot

from features.models.lookback import query_extent

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
        ("select percent_rank() over (partition by ts order by x) from t", 0, 0),
        ("select rank() over w from t window w as (partition by ts, g order by x)", 0, 0),
        ("select lag(x) over (partition by ts order by a) from t", 0, 0),
        (
            "select percent_rank() over (partition by day order by x) from t",
            None,
            None,
        ),  # not the time column
        (
            "with c as (select lag(x, 3) over (partition by a order by ts) as y, ts from t)"
            " select rank() over (partition by ts order by y) from c",
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
