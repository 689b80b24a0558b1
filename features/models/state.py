"""Warehouse bookkeeping: per-model state (``_fstore_models``), test cache and the build log.

User-facing, queryable with SQL (documented in docs/models.md):

    build_runs    build_id, started_at, ended_at, status, selected, full_refresh,
                  models_built, models_up_to_date, models_failed, models_skipped, tests_failed, message
    build_models  build_id, model, kind, materialized, action, status, rows, seconds, fingerprint, error
    build_tests   build_id, model, test, severity, status, failures

Internal: ``_fstore_models`` (the fingerprint each relation was built from) and ``_fstore_tests``
(the fingerprint a test last passed on, so an unchanged model is not re-tested every build).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from features.warehouse import scalar

if TYPE_CHECKING:
    import duckdb

MODELS_TABLE = "_fstore_models"
TESTS_TABLE = "_fstore_tests"

_DDL = (
    f"create table if not exists {MODELS_TABLE} (model varchar primary key, kind varchar, materialized varchar,"
    " fingerprint varchar, definition varchar, static_inputs varchar, build_id varchar, built_at timestamp,"
    " rows bigint, input_stats varchar)",
    f"alter table {MODELS_TABLE} add column if not exists input_stats varchar",
    f"create table if not exists {TESTS_TABLE} (model varchar, test varchar, fingerprint varchar,"
    " primary key (model, test))",
    "create table if not exists build_runs (build_id varchar primary key, started_at timestamp,"
    " ended_at timestamp, status varchar, selected varchar, full_refresh boolean, models_built integer,"
    " models_up_to_date integer, models_failed integer, models_skipped integer, tests_failed integer,"
    " message varchar)",
    "create table if not exists build_models (build_id varchar, model varchar, kind varchar,"
    " materialized varchar, action varchar, status varchar, rows bigint, seconds double,"
    " fingerprint varchar, error varchar)",
    "create table if not exists build_tests (build_id varchar, model varchar, test varchar,"
    " severity varchar, status varchar, failures bigint)",
)


@dataclass(frozen=True)
class ModelState:
    """What a relation in the warehouse was last built from."""

    fingerprint: str
    definition: str
    static_inputs: str
    materialized: str
    input_stats: str = "{}"  # JSON: windowed input -> [max time, row-hash sum, tail, generation]


_TABLES = (MODELS_TABLE, TESTS_TABLE, "build_runs", "build_models", "build_tests")


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the bookkeeping tables (and later columns) that are missing; one catalog query when
    none is (every build starts here, a no-op one too)."""
    present = scalar(
        con,
        "select (select count(*) from duckdb_tables() where schema_name = 'main' and not temporary"
        " and database_name = current_database() and list_contains(?, table_name))"
        " + (select count(*) from duckdb_columns() where schema_name = 'main'"
        " and database_name = current_database() and table_name = ? and column_name = 'input_stats')",
        [list(_TABLES), MODELS_TABLE],
    )
    if present == len(_TABLES) + 1:
        return
    for ddl in _DDL:
        con.execute(ddl)


def relations(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every table and view in the warehouse's main schema: name -> 'table' | 'view'."""
    rows = con.execute(
        "select table_name, 'table' from duckdb_tables() where schema_name = 'main'"
        " and database_name = current_database() and not temporary"
        " union all select view_name, 'view' from duckdb_views() where schema_name = 'main'"
        " and database_name = current_database() and not internal and not temporary"
    ).fetchall()
    return dict(rows)


def load_states(con: duckdb.DuckDBPyConnection, existing: dict[str, str]) -> dict[str, ModelState]:
    if MODELS_TABLE not in existing:
        return {}
    rows = con.execute(
        f"select model, fingerprint, definition, static_inputs, materialized, input_stats from {MODELS_TABLE}"
    ).fetchall()
    return {r[0]: ModelState(r[1], r[2], r[3], r[4], r[5] or "{}") for r in rows}


def save_state(
    con: duckdb.DuckDBPyConnection,
    model: str,
    kind: str,
    materialized: str,
    state: ModelState,
    build_id: str,
    rows: int | None,
) -> None:
    values = [
        kind,
        materialized,
        state.fingerprint,
        state.definition,
        state.static_inputs,
        build_id,
        rows,
        state.input_stats,
        model,
    ]
    # an update first: cheaper than `insert or replace` on the primary key, and the usual case
    updated = scalar(
        con,
        f"update {MODELS_TABLE} set kind = ?, materialized = ?, fingerprint = ?, definition = ?,"
        " static_inputs = ?, build_id = ?, built_at = now()::timestamp, rows = ?, input_stats = ?"
        " where model = ?",
        values,
    )
    if not updated:
        con.execute(
            f"insert into {MODELS_TABLE} (kind, materialized, fingerprint, definition, static_inputs,"
            " build_id, built_at, rows, input_stats, model) values (?, ?, ?, ?, ?, ?, now()::timestamp, ?, ?, ?)",
            values,
        )


def record_test(
    con: duckdb.DuckDBPyConnection, model: str, test: str, fingerprint: str, *, passed: bool
) -> None:
    """Remember that ``test`` of ``model`` passed on ``fingerprint``; forget an older pass otherwise."""
    con.execute(f"delete from {TESTS_TABLE} where model = ? and test = ?", [model, test])
    if passed and fingerprint:
        con.execute(f"insert into {TESTS_TABLE} values (?, ?, ?)", [model, test, fingerprint])


def passed_tests(con: duckdb.DuckDBPyConnection, existing: dict[str, str]) -> set[tuple[str, str, str]]:
    """(model, test, fingerprint) of tests that passed on that fingerprint."""
    if TESTS_TABLE not in existing:
        return set()
    return {tuple(r) for r in con.execute(f"select model, test, fingerprint from {TESTS_TABLE}").fetchall()}  # type: ignore[misc]


__all__ = [
    "MODELS_TABLE",
    "TESTS_TABLE",
    "ModelState",
    "ensure_tables",
    "load_states",
    "passed_tests",
    "record_test",
    "relations",
    "save_state",
]
