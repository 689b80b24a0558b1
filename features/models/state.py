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

# fstore's own tables: name -> (column, type) in order, and the primary key. A warehouse written by an
# older fstore lacks later columns: ensure_tables adds them (NULL in old rows); one written by a newer
# fstore may have more: every insert names its columns, so they stay NULL here.
_SCHEMAS: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    MODELS_TABLE: (
        (
            ("model", "varchar"),
            ("kind", "varchar"),
            ("materialized", "varchar"),
            ("fingerprint", "varchar"),
            ("definition", "varchar"),
            ("static_inputs", "varchar"),
            ("build_id", "varchar"),
            ("built_at", "timestamp"),
            ("rows", "bigint"),
            ("input_stats", "varchar"),
        ),
        "model",
    ),
    TESTS_TABLE: ((("model", "varchar"), ("test", "varchar"), ("fingerprint", "varchar")), "model, test"),
    "build_runs": (
        (
            ("build_id", "varchar"),
            ("started_at", "timestamp"),
            ("ended_at", "timestamp"),
            ("status", "varchar"),
            ("selected", "varchar"),
            ("full_refresh", "boolean"),
            ("models_built", "integer"),
            ("models_up_to_date", "integer"),
            ("models_failed", "integer"),
            ("models_skipped", "integer"),
            ("tests_failed", "integer"),
            ("message", "varchar"),
        ),
        "build_id",
    ),
    "build_models": (
        (
            ("build_id", "varchar"),
            ("model", "varchar"),
            ("kind", "varchar"),
            ("materialized", "varchar"),
            ("action", "varchar"),
            ("status", "varchar"),
            ("rows", "bigint"),
            ("seconds", "double"),
            ("fingerprint", "varchar"),
            ("error", "varchar"),
        ),
        "",
    ),
    "build_tests": (
        (
            ("build_id", "varchar"),
            ("model", "varchar"),
            ("test", "varchar"),
            ("severity", "varchar"),
            ("status", "varchar"),
            ("failures", "bigint"),
        ),
        "",
    ),
}


def columns_of(table: str) -> str:
    """``a, b, c``: the columns of one of fstore's own tables, for an insert that names them."""
    return ", ".join(name for name, _ in _SCHEMAS[table][0])


def _ddl(table: str) -> list[str]:
    """Create ``table`` if missing, then add any column a warehouse of an older fstore lacks."""
    columns, key = _SCHEMAS[table]
    body = ", ".join(f"{name} {kind}" for name, kind in columns) + (f", primary key ({key})" if key else "")
    return [f"create table if not exists {table} ({body})"] + [
        f"alter table {table} add column if not exists {name} {kind}" for name, kind in columns
    ]


@dataclass(frozen=True)
class ModelState:
    """What a relation in the warehouse was last built from."""

    fingerprint: str
    definition: str
    static_inputs: str
    materialized: str
    input_stats: str = "{}"  # JSON: windowed input -> [max time, row-hash sum, tail, generation]


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the bookkeeping tables, and add the columns a warehouse of an older fstore lacks; one
    catalog query when nothing is missing (every build starts here, a no-op one too)."""
    wanted = [f"{table}.{name}" for table, (columns, _) in _SCHEMAS.items() for name, _ in columns]
    present = scalar(
        con,
        "select count(*) from duckdb_columns() where schema_name = 'main' and database_name = current_database()"
        " and list_contains(?, table_name || '.' || column_name)",
        [wanted],
    )
    if present == len(wanted):
        return
    for table in _SCHEMAS:
        for ddl in _ddl(table):
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
        con.execute(
            f"insert into {TESTS_TABLE} ({columns_of(TESTS_TABLE)}) values (?, ?, ?)",
            [model, test, fingerprint],
        )


def passed_tests(con: duckdb.DuckDBPyConnection, existing: dict[str, str]) -> set[tuple[str, str, str]]:
    """(model, test, fingerprint) of tests that passed on that fingerprint."""
    if TESTS_TABLE not in existing:
        return set()
    return {tuple(r) for r in con.execute(f"select model, test, fingerprint from {TESTS_TABLE}").fetchall()}  # type: ignore[misc]


__all__ = [
    "MODELS_TABLE",
    "TESTS_TABLE",
    "ModelState",
    "columns_of",
    "ensure_tables",
    "load_states",
    "passed_tests",
    "record_test",
    "relations",
    "save_state",
]
