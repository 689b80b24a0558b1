"""Golden lookback derivation (tests/fixtures/golden/lookback.sql): model SQL → rows back and ahead.

Each case is discovered as a model file, the way ``fstore build`` reads it, and its derived
``lookback`` / ``ahead`` must equal the fixture's. The fixture's value is itself checked on DuckDB, so a
wrong rule fails here even if someone "fixes" the expectation to match it: recomputing the rows of the
target days from the history an incremental refresh would re-read with that lookback (one time bound,
the earliest any asset needs — as :mod:`features.models.incremental` reads its inputs) must reproduce
the full computation, and one row less for each asset must not.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from _golden import Case, day, differing, discover_cases, keyed, load_cases, market, params, show_prices

from features.models.discovery import Model

CASES = load_cases("lookback.sql", ("lookback", "lookahead", "tight", "run"))
RUNS = [case for case in CASES if case.flag("run", True)]
FIRST, LAST = day(45), day(49)  # the target days an incremental refresh recomputes


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Model]:
    found, problems = discover_cases(tmp_path_factory.mktemp("lookback"), CASES)
    assert problems == {}, "every lookback case must be a valid model (label models say so)"
    return found


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = market()
    # per asset: the positions of its first and last row on the target days
    con.execute(
        "create table __target as select asset_id, min(rn) as lo, max(rn) as hi from __prices_all"
        " where ts between ? and ? group by asset_id",
        [FIRST, LAST],
    )
    yield con
    con.close()


@pytest.mark.parametrize("case", params(CASES))
def test_derived_lookback_and_lookahead(case: Case, models: dict[str, Model]) -> None:
    model = models[case.name]
    assert (model.lookback, model.ahead) == (case.rows("lookback"), case.rows("lookahead"))


def _history(con: duckdb.DuckDBPyConnection, back: int | None, ahead: int | None) -> str:
    """The rows an incremental refresh of the target days reads with this lookback/lookahead, as a
    condition on ``p``: from the earliest time any asset needs to the latest, for every asset."""
    conditions = []
    if back is not None:
        (low,) = con.execute(
            "select min(p.ts) from __prices_all p join __target g using (asset_id) where p.rn >= g.lo - ?",
            [back],
        ).fetchone()
        conditions.append(f"p.ts >= date '{low}'")
    if ahead is not None:
        (high,) = con.execute(
            "select max(p.ts) from __prices_all p join __target g using (asset_id) where p.rn <= g.hi + ?",
            [ahead],
        ).fetchone()
        conditions.append(f"p.ts <= date '{high}'")
    return " and ".join(conditions) or "true"


def _one_row_less(con: duckdb.DuckDBPyConnection, back: int | None, ahead: int | None, side: str) -> str:
    """Each asset's own rows with one fewer on ``side`` than the lookback/lookahead allow (for ``none``:
    all but its first or last row); the other side as an incremental refresh reads it."""
    if side == "back":
        other = _history(con, None, ahead)
        mine = "p.rn >= 2" if back is None else f"p.rn >= g.lo - {back - 1}"
    else:
        other = _history(con, back, None)
        mine = "p.rn <= p.n - 1" if ahead is None else f"p.rn <= g.hi + {ahead - 1}"
    return f"{other} and exists (select 1 from __target g where g.asset_id = p.asset_id and {mine})"


def _changed(con: duckdb.DuckDBPyConnection, sql: str, where: str, full: dict) -> list:
    """Target rows whose values differ when the model sees only the rows matching ``where``."""
    show_prices(con, where)
    try:
        part = keyed(con, sql)
    finally:
        show_prices(con, "true")
    targets = {k for k in (*full, *part) if FIRST <= k[1] <= LAST}
    return differing(full, part, sorted(targets, key=repr))


@pytest.mark.parametrize("case", params(RUNS, xfail=False))
def test_expected_lookback_is_sufficient_and_tight(
    case: Case, con: duckdb.DuckDBPyConnection, models: dict[str, Model]
) -> None:
    assert models[case.name].header.partition_by == "asset_id", "rows are counted per asset here"
    back, ahead = case.rows("lookback"), case.rows("lookahead")
    full = keyed(con, case.sql)
    assert any(FIRST <= k[1] <= LAST for k in full), "the case must produce rows on the target days"
    assert _changed(con, case.sql, _history(con, back, ahead), full) == [], "the lookback is too short"
    if not case.flag("tight", True):
        return
    for side, rows in (("back", back), ("ahead", ahead)):
        if rows != 0:
            assert _changed(con, case.sql, _one_row_less(con, back, ahead, side), full), (
                f"one row less {side} gives the same values: the expected {side} is longer than needed"
            )


def test_every_rule_of_the_readme_has_a_case() -> None:
    """The lookback rules of docs/models.md, each with at least one case (a fixture file trimmed by mistake fails here)."""
    text = "\n".join(c.sql.lower() for c in CASES)
    for construct in (
        "lag(",
        "lead(",
        "preceding",
        "following",
        "unbounded preceding",
        "row_number()",
        "percent_rank()",
        "range between",
        "partition by ts",
        "with ",
        "union all",
        "-- lookback:",
    ):
        assert construct in text, construct
