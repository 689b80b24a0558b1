"""The warehouse's asset-ID tables: written from a mapping, and read back as one.

    dim_symbol          current mapping: asset_id, symbol, category, subcategory, indices,
                        is_active, first_version, retired_version, mapping_version
    dim_symbol_history  SCD type 2: one row per symbol per validity span
    mapping_versions    one row per mapping version
    asset_ids_at(v)     table macro: the mapping as it was at version v

:func:`write_dimension` replaces all of them from a mapping in one transaction. :func:`read_warehouse`
rebuilds the mapping's history from ``mapping_versions`` and ``dim_symbol_history`` alone, then
checks every row of the three tables against what writing that history would give: tables edited
by hand, dropped or half-written are reported as *damaged* (with the version labels they still
mention), never read as another history. That is what lets a deleted or older mapping file be
recovered instead of numbered again (:mod:`features.dimension`, :mod:`features.reconcile`).
Symbols only ever reach SQL as bound parameters.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from features.errors import MappingError
from features.mapping import AssetMapping, Entry, Event, normalise_time, parse_version, replay, utc_datetime
from features.reconcile import WarehouseCopy
from features.symbols import Universe
from features.warehouse import quote_ident, record_source_version, scalar, transaction

DIM_TABLES = ("dim_symbol", "dim_symbol_history", "mapping_versions")

_DDL = {
    "dim_symbol": """
        asset_id integer not null, symbol varchar not null, category varchar, subcategory varchar,
        indices varchar[], is_active boolean not null, first_version varchar, retired_version varchar,
        mapping_version varchar not null""",
    "dim_symbol_history": """
        asset_id integer not null, symbol varchar not null, category varchar, subcategory varchar,
        is_active boolean not null, valid_from_version varchar not null, valid_to_version varchar,
        valid_from_seq integer not null, valid_to_seq integer, valid_from timestamp, valid_to timestamp,
        is_current boolean not null""",
    "mapping_versions": """
        version varchar not null, seq integer not null, major integer not null, minor integer not null,
        kind varchar not null, created_at timestamp, source_config varchar, source_sha256 varchar,
        total_symbols integer not null, active_symbols integer not null, added integer not null,
        retired integer not null, added_symbols varchar[], retired_symbols varchar[]""",
}

_MACRO = """
create or replace macro asset_ids_at(v) as table
    select h.asset_id, h.symbol, h.category, h.subcategory, h.is_active
    from dim_symbol_history h
    join (select seq from mapping_versions where version = v) mv
      on h.valid_from_seq <= mv.seq and (h.valid_to_seq is null or h.valid_to_seq > mv.seq)
    order by h.asset_id
"""


# --------------------------------------------------------------------------- rows from the JSON


def _ts(value: str) -> datetime | None:
    """An event's time (UTC, "…Z") as the naive UTC timestamp the tables hold."""
    return utc_datetime(value)


def history_rows(mapping: AssetMapping) -> list[tuple[Any, ...]]:
    """dim_symbol_history rows: one per symbol per span, derived by replaying the events."""
    open_spans: dict[str, dict[str, Any]] = {}
    rows: list[tuple[Any, ...]] = []

    def close(symbol: str, version: str, seq: int, at: str) -> dict[str, Any]:
        span = open_spans.pop(symbol)
        rows.append(
            (
                span["asset_id"], symbol, span["category"], span["subcategory"], span["is_active"],
                span["from_version"], version, span["from_seq"], seq, span["from_ts"], _ts(at), False,
            )
        )  # fmt: skip
        return span

    def open_(
        symbol: str, asset_id: int, category: str, sub: str, active: bool, version: str, seq: int, at: str
    ):
        open_spans[symbol] = {
            "asset_id": asset_id, "category": category, "subcategory": sub, "is_active": active,
            "from_version": version, "from_seq": seq, "from_ts": _ts(at),
        }  # fmt: skip

    for seq, event in enumerate(mapping.history, start=1):
        v, at = event.version, event.created_at
        if event.kind == "regenerate":
            for symbol in list(open_spans):
                close(symbol, v, seq, at)
        for e in event.added:
            open_(e.symbol, e.asset_id, e.category, e.subcategory, True, v, seq, at)
        for symbol in event.retired:
            span = close(symbol, v, seq, at)
            open_(symbol, span["asset_id"], span["category"], span["subcategory"], False, v, seq, at)
        for symbol in event.reactivated:
            span = close(symbol, v, seq, at)
            open_(symbol, span["asset_id"], span["category"], span["subcategory"], True, v, seq, at)
        for e in event.changed:
            span = close(e.symbol, v, seq, at)
            open_(e.symbol, span["asset_id"], e.category, e.subcategory, span["is_active"], v, seq, at)
    for symbol, span in open_spans.items():
        rows.append(
            (
                span["asset_id"], symbol, span["category"], span["subcategory"], span["is_active"],
                span["from_version"], None, span["from_seq"], None, span["from_ts"], None, True,
            )
        )  # fmt: skip
    rows.sort(key=lambda r: (r[7], r[0], r[1]))
    return rows


def version_rows(mapping: AssetMapping) -> list[tuple[Any, ...]]:
    rows = []
    for seq, event in enumerate(mapping.history, start=1):
        state = mapping.at_version(event.version)
        major, minor = (int(x) for x in event.version.split("."))
        rows.append(
            (
                event.version, seq, major, minor, event.kind, _ts(event.created_at), event.source_config,
                event.source_sha256, len(state.entries), len(state.active_symbols), len(event.added),
                len(event.retired), [e.symbol for e in event.added], list(event.retired),
            )
        )  # fmt: skip
    return rows


def symbol_rows(mapping: AssetMapping, universe: Universe | None) -> list[tuple[Any, ...]]:
    indices = {s.symbol: list(s.indices) for s in universe.symbols} if universe else {}
    first: dict[str, str] = {}
    retired_at: dict[str, str | None] = {}
    for event in mapping.history:
        if event.kind == "regenerate":
            first, retired_at = {}, {}
        for e in event.added:
            first[e.symbol] = event.version
        for s in event.retired:
            retired_at[s] = event.version
        for s in event.reactivated:
            retired_at[s] = None
    return [
        (
            e.asset_id, e.symbol, e.category, e.subcategory, indices.get(e.symbol, []), e.active,
            first.get(e.symbol), None if e.active else retired_at.get(e.symbol), mapping.version,
        )
        for e in mapping.entries
    ]  # fmt: skip


# --------------------------------------------------------------------------- writing


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Bulk insert with every value bound as a parameter (zipped UNNEST of one list per column)."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    types = [
        r[1]
        for r in con.execute(
            "select column_name, data_type from duckdb_columns() where table_name = ? and schema_name = 'main' "
            "order by column_index",
            [table],
        ).fetchall()
    ]
    select = ", ".join(f"unnest(?::{t}[])" for t in types)
    con.execute(f"insert into {quote_ident(table)} select {select}", [list(c) for c in columns])


def write_dimension(con: duckdb.DuckDBPyConnection, mapping: AssetMapping, universe: Universe | None) -> None:
    """Replace the three dimension tables and the macro in one transaction."""
    with transaction(con):
        for table, ddl in _DDL.items():
            con.execute(f"create or replace table {quote_ident(table)} ({ddl})")
        _insert(con, "dim_symbol", symbol_rows(mapping, universe))
        _insert(con, "dim_symbol_history", history_rows(mapping))
        _insert(con, "mapping_versions", version_rows(mapping))
        con.execute(_MACRO)
        record_source_version(con, "dim_symbol", dimension_digest(mapping, universe))
        record_source_version(con, "dim_symbol_history", dimension_digest(mapping, None))
        record_source_version(con, "mapping_versions", dimension_digest(mapping, None))


def dimension_digest(mapping: AssetMapping, universe: Universe | None) -> str:
    h = hashlib.sha256()
    h.update(repr(mapping.to_json()["history"]).encode())
    if universe is not None:
        h.update(universe.sha256.encode())
    return h.hexdigest()[:32]


# --------------------------------------------------------------------------- reading the warehouse back


class _Damaged(Exception):
    """The warehouse's tables cannot be read as one history (the message says why)."""


def _present(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Which of the three tables exist (as tables) in the connection's own main schema: one query."""
    found = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'"
            " and table_catalog = current_database() and table_type = 'BASE TABLE'"
            " and table_name in (select unnest(?::varchar[]))",
            [list(DIM_TABLES)],
        ).fetchall()
    }
    return [t for t in DIM_TABLES if t in found]


def tables_exist(con: duckdb.DuckDBPyConnection) -> bool:
    return len(_present(con)) == len(DIM_TABLES)


def _labels(con: duckdb.DuckDBPyConnection, present: Sequence[str]) -> tuple[str, ...]:
    """Every version label the tables mention (each column read only if it can be)."""
    columns = {
        "mapping_versions": ("version",),
        "dim_symbol_history": ("valid_from_version", "valid_to_version"),
        "dim_symbol": ("mapping_version", "first_version", "retired_version"),
    }
    found: set[str] = set()
    for table in present:
        for column in columns[table]:
            with contextlib.suppress(duckdb.Error):
                rows = con.execute(
                    f"select distinct {quote_ident(column)}::varchar from {quote_ident(table)}"
                ).fetchall()
                found.update(r[0] for r in rows if r[0] is not None)

    def order(label: str) -> tuple[int, int, str]:
        try:
            return (*parse_version(label), "")
        except MappingError:
            return (1 << 30, 0, label)

    return tuple(sorted(found, key=order))


@dataclass(frozen=True)
class _Span:
    asset_id: int
    category: str
    subcategory: str
    active: bool
    from_seq: int
    to_seq: int | None


def _spans(con: duckdb.DuckDBPyConnection) -> dict[str, list[_Span]]:
    spans: dict[str, list[_Span]] = {}
    for symbol, *rest in con.execute(
        "select symbol, asset_id, coalesce(category, ''), coalesce(subcategory, ''), is_active,"
        " valid_from_seq, valid_to_seq from dim_symbol_history order by valid_from_seq, asset_id"
    ).fetchall():
        spans.setdefault(symbol, []).append(_Span(*rest))
    return spans


def _event_at(seq: int, row: tuple[Any, ...], spans: dict[str, list[_Span]]) -> Event:
    """Version ``seq`` rebuilt from its ``mapping_versions`` row and the spans that open or close there."""
    version, kind, created_at, source_config, source_sha256, added_symbols, retired_symbols = row
    added, reactivated, changed = [], [], []
    for symbol in sorted(spans):
        chain = sorted(
            (s for s in spans[symbol] if s.from_seq == seq), key=lambda s: (s.to_seq != seq, s.to_seq or 0)
        )
        if not chain:
            continue
        before = next((s for s in spans[symbol] if s.to_seq == seq and s.from_seq < seq), None)
        after = chain[-1]
        if symbol in (added_symbols or []):
            first = chain[0]
            added.append(Entry(symbol, first.asset_id, first.category, first.subcategory))
            active, category = True, (first.category, first.subcategory)
        elif before is None:
            raise _Damaged(
                f"dim_symbol_history opens a row for {symbol} at version {version} that mapping_versions does "
                "not add"
            )
        else:
            active, category = before.active, (before.category, before.subcategory)
        if symbol in (retired_symbols or []):
            active = False
        if not active and after.active:
            reactivated.append(symbol)
        if category != (after.category, after.subcategory):
            changed.append(Entry(symbol, after.asset_id, after.category, after.subcategory))
    return Event(
        version=version,
        kind=kind,
        created_at=normalise_time(created_at.isoformat()) if created_at else "",
        source_config=source_config or "",
        source_sha256=source_sha256 or "",
        added=tuple(sorted(added, key=lambda e: e.asset_id)),
        retired=tuple(sorted(retired_symbols or [])),
        reactivated=tuple(reactivated),
        changed=tuple(sorted(changed, key=lambda e: e.asset_id)),
    )


def _events(con: duckdb.DuckDBPyConnection) -> list[Event]:
    rows = con.execute(
        "select seq, version, kind, created_at, source_config, source_sha256, added_symbols, retired_symbols"
        " from mapping_versions order by seq"
    ).fetchall()
    if not rows:
        raise _Damaged("mapping_versions is empty")
    if [r[0] for r in rows] != list(range(1, len(rows) + 1)):
        raise _Damaged("mapping_versions.seq is not 1, 2, 3, …")
    spans = _spans(con)
    return [_event_at(row[0], row[1:], spans) for row in rows]


def _first_mismatch(
    table: str, expected: list[tuple[Any, ...]], actual: list[tuple[Any, ...]], at: int
) -> None:
    """Raise _Damaged naming the first row of ``table`` that does not follow from the history."""
    if sorted(expected, key=repr) == sorted(actual, key=repr):
        return
    missing = [r for r in expected if r not in actual]
    extra = [r for r in actual if r not in expected]
    row = (extra or missing or actual)[0]
    what = "has a row the versions do not explain" if extra else "lacks a row the versions imply"
    raise _Damaged(f"{table} {what}: {row[at]} ({', '.join(map(str, row))})")


def _check_derived(con: duckdb.DuckDBPyConnection, mapping: AssetMapping) -> None:
    """Every row of the three tables must be what writing ``mapping`` would write."""
    history = con.execute(f"select {_HISTORY_COLUMNS} from dim_symbol_history").fetchall()
    _first_mismatch("dim_symbol_history", history_rows(mapping), history, 1)
    versions = con.execute(f"select {_VERSION_COLUMNS} from mapping_versions").fetchall()
    _first_mismatch("mapping_versions", version_rows(mapping), versions, 0)
    current = con.execute(f"select {_SYMBOL_COLUMNS} from dim_symbol").fetchall()
    expected = [r[:4] + r[5:] for r in symbol_rows(mapping, None)]
    _first_mismatch("dim_symbol", expected, current, 1)


_HISTORY_COLUMNS = (
    "asset_id, symbol, category, subcategory, is_active, valid_from_version, valid_to_version, "
    "valid_from_seq, valid_to_seq, valid_from, valid_to, is_current"
)
_VERSION_COLUMNS = (
    "version, seq, major, minor, kind, created_at, source_config, source_sha256, total_symbols, "
    "active_symbols, added, retired, added_symbols, retired_symbols"
)
_SYMBOL_COLUMNS = (
    "asset_id, symbol, category, subcategory, is_active, first_version, retired_version, mapping_version"
)


def read_warehouse(con: duckdb.DuckDBPyConnection, *, path: Path | None = None) -> WarehouseCopy:
    """The mapping history the warehouse holds, read back from ``mapping_versions`` and
    ``dim_symbol_history`` and checked row by row against what writing it would give (so a table
    edited by hand, dropped or half-restored is *damaged*, never read as another history)."""
    path = path if path is not None else _database_path(con)
    present = _present(con)
    if not present:
        return WarehouseCopy(path)
    try:
        if len(present) < len(DIM_TABLES):
            missing = ", ".join(t for t in DIM_TABLES if t not in present)
            raise _Damaged(f"{missing} is missing")
        events = _events(con)
        mapping = replay(events, path=path)
        mapping = replace(
            mapping, created_date=events[0].created_at[:10], source_config=events[-1].source_config
        )
        _check_derived(con, mapping)
    except _Damaged as exc:
        problem = str(exc)
    except MappingError as exc:
        problem = f"mapping_versions and dim_symbol_history describe an impossible history ({exc.message})"
    except duckdb.Error as exc:
        problem = f"its tables cannot be read ({str(exc).splitlines()[0]})"
    else:  # every row follows from the history, so the history's versions are all they mention
        return WarehouseCopy(path, mapping=mapping, labels=tuple(e.version for e in mapping.history))
    return WarehouseCopy(path, problem=problem, labels=_labels(con, present))


def _database_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    found = scalar(con, "select path from duckdb_databases() where database_name = current_database()")
    return Path(found) if found else None


__all__ = [
    "DIM_TABLES",
    "dimension_digest",
    "history_rows",
    "read_warehouse",
    "symbol_rows",
    "tables_exist",
    "version_rows",
    "write_dimension",
]
