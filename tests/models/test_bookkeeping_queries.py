"""The bookkeeping read in bulk must say what the one-at-a-time reads say.

A plan reads every source's data version in one query (:func:`data_versions`) and a build creates the
bookkeeping tables only when one is missing (:func:`ensure_tables`); both are speed-ups of reads that
used to run one statement per source or per table, so they are checked against those reads.
"""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from features.models.fingerprint import data_version, data_versions
from features.models.state import MODELS_TABLE, ensure_tables
from features.warehouse import record_source_version

NAMES = ("prices", "dim", "odd name", "events")


@settings(max_examples=40, deadline=None)
@given(
    recorded=st.dictionaries(st.sampled_from(NAMES), st.text(min_size=1, max_size=8), max_size=4),
    rows=st.dictionaries(st.sampled_from(NAMES), st.lists(st.integers(-5, 5), max_size=4), max_size=4),
    asked=st.lists(st.sampled_from(NAMES), unique=True, max_size=4),
)
def test_data_versions_equal_data_version_one_by_one(
    recorded: dict[str, str], rows: dict[str, list[int]], asked: list[str]
) -> None:
    con = duckdb.connect()
    for name in NAMES:  # every relation exists; some hold rows, some have a recorded version
        con.execute(f'create table "{name}" (x integer)')
        for value in rows.get(name, []):
            con.execute(f'insert into "{name}" values (?)', [value])
    for name, version in recorded.items():
        record_source_version(con, name, version)
    expected = {name: data_version(con, name) for name in asked}
    assert data_versions(con, asked) == expected
    assert all(expected[n].startswith("recorded:" if n in recorded else "content:") for n in asked)


def test_ensure_tables_restores_a_missing_table_or_column() -> None:
    con = duckdb.connect()
    ensure_tables(con)
    con.execute("insert into build_runs (build_id) values ('b1')")
    ensure_tables(con)  # all present: nothing replaced, the row stays
    assert con.execute("select build_id from build_runs").fetchall() == [("b1",)]
    con.execute("drop table build_tests")
    con.execute(f"alter table {MODELS_TABLE} drop column input_stats")
    ensure_tables(con)
    tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    assert "build_tests" in tables
    columns = {
        r[0]
        for r in con.execute(
            f"select column_name from duckdb_columns() where table_name = '{MODELS_TABLE}'"
        ).fetchall()
    }
    assert "input_stats" in columns
