"""Golden leakage lint (tests/fixtures/golden/leakage.sql): model SQL → the verdict ``fstore build`` gives.

Each case is discovered and validated as a model file, so the verdict is the error a user sees (file,
line, "possible look-ahead leakage in …"). The fixture's verdict is checked independently on DuckDB:
re-pricing every row after a cut-off day and dropping every other one must change an output row dated
on or before the cut-off exactly when the model reads the future (a label model reads it by design).
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from _golden import Case, day, differing, discover_cases, keyed, load_cases, market, params, show_prices

from features.models.discovery import Model

CASES = load_cases("leakage.sql", ("expect", "message", "line", "run"))
CUTOFF = day(50)
LEAK = "possible look-ahead leakage"
# later rows re-priced (never by a factor of 1) and every other one gone
LATER_CHANGED = (
    f"close * case when p.ts > date '{CUTOFF}' then 1.7 + (p.rn % 7) / 10 else 1 end as close,"
    f" volume * case when p.ts > date '{CUTOFF}' then 2 + p.rn % 3 else 1 end as volume"
)


@pytest.fixture(scope="module")
def lint(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Model], dict[str, list[str]]]:
    return discover_cases(tmp_path_factory.mktemp("leakage"), CASES)


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = market()
    yield con
    con.close()


def _expects_leak(case: Case) -> bool:
    expect = case.meta.get("expect")
    if expect not in ("clean", "leak"):
        raise AssertionError(f"leakage.sql:{case.line}: `expect` must be clean or leak, got `{expect}`")
    return expect == "leak"


@pytest.mark.parametrize("case", params(CASES))
def test_lint_verdict(case: Case, lint: tuple[dict[str, Model], dict[str, list[str]]]) -> None:
    problems = lint[1].get(case.name, [])
    if not _expects_leak(case):
        assert problems == []
        return
    assert problems, "no look-ahead reported"
    assert all(LEAK in p and "mark the model `-- label: true`" in p for p in problems), problems
    fragment = case.meta.get("message", "")
    assert any(fragment in p for p in problems), f"no error says `{fragment}`: {problems}"
    if "line" in case.meta:
        assert any(p.startswith(f"sql/{case.name}.sql:{case.meta['line']}: ") for p in problems), problems


@pytest.mark.parametrize("case", params([c for c in CASES if c.flag("run", True)], xfail=False))
def test_verdict_agrees_with_perturbing_the_future(
    case: Case, con: duckdb.DuckDBPyConnection, lint: tuple[dict[str, Model], dict[str, list[str]]]
) -> None:
    full = keyed(con, case.sql)
    show_prices(con, f"p.ts <= date '{CUTOFF}' or p.rn % 2 = 0", select=LATER_CHANGED)
    try:
        perturbed = keyed(con, case.sql)
    finally:
        show_prices(con, "true")
    earlier = sorted({k for k in (*full, *perturbed) if k[1] <= CUTOFF}, key=repr)
    assert len(earlier) > 100, "the case must produce rows up to the cut-off"
    reads_future = bool(differing(full, perturbed, earlier))
    is_label = lint[0][case.name].header.label
    assert reads_future == (_expects_leak(case) or is_label), (
        "the model reads later rows" if reads_future else "the model reads no later row"
    )
