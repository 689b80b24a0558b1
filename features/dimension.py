"""The asset-ID dimension in the warehouse, rebuilt from ``config/asset_id_mapping.json``.

Tables (plain names, documented in the README):

    dim_symbol          current mapping: asset_id, symbol, category, subcategory, indices,
                        is_active, first_version, retired_version, mapping_version
    dim_symbol_history  SCD type 2: one row per symbol per validity span
    mapping_versions    one row per mapping version
    asset_ids_at(v)     table macro: the mapping as it was at version v

The JSON file is the durable record and the warehouse a disposable copy: every table here can be
rebuilt from the JSON alone, so deleting the warehouse and building again gives the same IDs and
the same history. When the warehouse is *behind* the JSON (a sync was interrupted after the JSON
was written) it is caught up and we say so; when the two *disagree*, that is an error, never a
silent re-numbering. Symbols only ever reach SQL as bound parameters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from features.errors import MappingError, UnknownSymbolError
from features.mapping import AssetMapping, SyncPlan, load_mapping, plan_sync, unknown_symbols_error
from features.symbols import Universe, load_universe
from features.warehouse import (
    connect,
    first_row,
    quote_ident,
    record_source_version,
    scalar,
    source_version,
    table_exists,
    transaction,
)

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


def _ts(value: str) -> str | None:
    return value.replace("Z", "").replace("T", " ") if value else None


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
        record_source_version(con, "dim_symbol", _digest(mapping, universe))
        record_source_version(con, "dim_symbol_history", _digest(mapping, None))
        record_source_version(con, "mapping_versions", _digest(mapping, None))


def _digest(mapping: AssetMapping, universe: Universe | None) -> str:
    h = hashlib.sha256()
    h.update(repr(mapping.to_json()["history"]).encode())
    if universe is not None:
        h.update(universe.sha256.encode())
    return h.hexdigest()[:32]


# --------------------------------------------------------------------------- reading the warehouse


def _tables_exist(con: duckdb.DuckDBPyConnection) -> bool:
    return all(table_exists(con, table, views=False) for table in DIM_TABLES)


def _check_agrees(con: duckdb.DuckDBPyConnection, mapping: AssetMapping, where: Path) -> bool:
    """Compare the warehouse with the JSON. Returns True when the warehouse must catch up."""
    versions = [r[0] for r in con.execute("select version from mapping_versions order by seq").fetchall()]
    json_versions = [e.version for e in mapping.history]
    hint = (
        "the JSON file is the durable record: run `fstore symbols restore` to rebuild the warehouse's "
        "mapping tables from it (or restore the JSON from git if it is the one that is wrong)"
    )
    if versions != json_versions[: len(versions)]:
        raise MappingError(
            f"the warehouse and {where.name} disagree: the warehouse has mapping versions "
            f"{', '.join(versions) or 'none'}, the file has {', '.join(json_versions)}",
            file=where,
            hint=hint,
        )
    if not versions:
        return True
    at = mapping.at_version(versions[-1])
    expected = {(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in history_rows(at)}
    actual = set(
        con.execute(
            "select asset_id, symbol, category, subcategory, is_active, valid_from_version, valid_to_version "
            "from dim_symbol_history"
        ).fetchall()
    )
    current = con.execute("select asset_id, symbol from dim_symbol order by asset_id").fetchall()
    if actual != expected or current != [(e.asset_id, e.symbol) for e in at.entries]:
        wrong = sorted(
            {r[1] for r in actual ^ expected}
            | {s for _, s in set(current) ^ {(e.asset_id, e.symbol) for e in at.entries}}
        )
        raise MappingError(
            f"the warehouse and {where.name} disagree at version {versions[-1]} for "
            f"{', '.join(wrong[:10]) or 'some rows'}",
            file=where,
            symbols=wrong,
            hint=hint,
        )
    return len(versions) < len(json_versions)


# --------------------------------------------------------------------------- the build step


@dataclass(frozen=True)
class DimensionState:
    version: str
    num_embeddings: int
    caught_up: bool = False
    created: bool = False
    rewritten: bool = False


def _pending_error(plan: SyncPlan, project: Any) -> MappingError:
    parts = []
    if plan.added:
        err = unknown_symbols_error(
            [e.symbol for e in plan.added],
            source=str(project.paths.symbols),
            next_id=plan.added[0].asset_id,
            version=plan.old_version,
        )
        parts.append(err.message)
    if plan.retired:
        parts.append(
            f"{len(plan.retired)} symbol(s) left {project.paths.symbols} but are still active: {', '.join(plan.retired)}"
        )
    if plan.reactivated:
        parts.append(
            f"{len(plan.reactivated)} retired symbol(s) are back in the config: {', '.join(plan.reactivated)}"
        )
    if plan.changed:
        parts.append(
            f"{len(plan.changed)} symbol(s) changed category: "
            + ", ".join(
                f"{a.symbol} ({b.category}.{b.subcategory} → {a.category}.{a.subcategory})"
                for b, a in plan.changed
            )
        )
    symbols = (
        [e.symbol for e in plan.added]
        + list(plan.retired)
        + list(plan.reactivated)
        + [a.symbol for _, a in plan.changed]
    )
    cls = UnknownSymbolError if plan.added else MappingError
    return cls(
        "; ".join(parts) + "; the mapping never changes silently, so nothing was built",
        file=project.symbols_path,
        symbols=symbols,
        hint=f"review with `fstore symbols diff`, then run `fstore symbols sync` (version {plan.new_version})",
    )


def ensure_dimension(con: duckdb.DuckDBPyConnection, project: Any, *, console: Any = None) -> DimensionState:
    """Build step: validate config + mapping, create the first mapping, refresh the warehouse copy.

    Stops (raising) when the config names symbols without IDs, drops symbols or changes their
    category: those need an explicit `fstore symbols sync`.
    """
    universe = load_universe(project.symbols_path)
    created = False
    if project.mapping_path.exists():
        mapping = load_mapping(project.mapping_path)
        plan = plan_sync(mapping, universe, source_config=project.symbols_path.name)
        if plan.changed_anything:
            raise _pending_error(plan, project)
    else:
        plan = plan_sync(None, universe, source_config=project.symbols_path.name)
        mapping = plan.mapping
        assert mapping is not None
        mapping.save(project.mapping_path)
        created = True
        _say(
            console,
            f"created {project.paths.mapping}: {mapping.num_embeddings} symbols, IDs 0–{mapping.num_embeddings - 1}, version 1.0",
        )
    caught_up = rewritten = False
    if _tables_exist(con):
        behind = _check_agrees(con, mapping, project.mapping_path)
        if behind:
            caught_up = True
            _say(
                console,
                f"warehouse mapping tables were behind {project.paths.mapping}; caught up to version {mapping.version}",
            )
        if behind or source_version(con, "dim_symbol") != _digest(mapping, universe):
            write_dimension(con, mapping, universe)
            rewritten = True
    else:
        write_dimension(con, mapping, universe)
        rewritten = True
    return DimensionState(mapping.version, mapping.num_embeddings, caught_up, created, rewritten)


def _say(console: Any, text: str) -> None:
    if console is None:
        return
    if hasattr(console, "print"):
        console.print(text, highlight=False, markup=False)
    else:
        console(text)


# --------------------------------------------------------------------------- commands


def preview_sync(project: Any, *, regenerate: bool = False) -> SyncPlan:
    """What `fstore symbols sync` would do (`fstore symbols diff`). Writes nothing."""
    universe = load_universe(project.symbols_path)
    current = load_mapping(project.mapping_path) if project.mapping_path.exists() else None
    return plan_sync(current, universe, regenerate=regenerate, source_config=project.symbols_path.name)


def sync_symbols(project: Any, *, regenerate: bool = False, db: Path | None = None) -> SyncPlan:
    """Apply a sync: JSON first (atomically; the durable record), then the warehouse tables.

    The warehouse's write lock is taken first, so two syncs (or a sync and a build) never
    interleave. If the process dies between the two writes, the next command catches the
    warehouse up from the JSON.
    """
    con = connect(db or project.warehouse_path)
    try:
        universe = load_universe(project.symbols_path)
        current = load_mapping(project.mapping_path) if project.mapping_path.exists() else None
        if current is not None and _tables_exist(con):
            _check_agrees(con, current, project.mapping_path)
        plan = plan_sync(current, universe, regenerate=regenerate, source_config=project.symbols_path.name)
        if plan.changed_anything:
            assert plan.mapping is not None
            plan.mapping.save(project.mapping_path)
            write_dimension(con, plan.mapping, universe)
        elif current is not None:
            write_dimension(con, current, universe)
        return plan
    finally:
        con.close()


def restore_warehouse(project: Any, *, db: Path | None = None) -> str:
    """Rebuild the dimension tables from the JSON alone (the JSON wins)."""
    mapping = load_mapping(project.mapping_path)
    try:
        universe: Universe | None = load_universe(project.symbols_path)
    except MappingError:
        universe = None
    con = connect(db or project.warehouse_path)
    try:
        write_dimension(con, mapping, universe)
    finally:
        con.close()
    return mapping.version


def check_symbols_known(con: duckdb.DuckDBPyConnection, symbols: Iterable[str], *, source: str) -> None:
    """Raise UnknownSymbolError listing every symbol with no asset ID in ``dim_symbol``."""
    wanted = sorted(set(symbols))
    if not wanted:
        return
    missing = [
        r[0]
        for r in con.execute(
            "select s from unnest(?::varchar[]) t(s) where s not in (select symbol from dim_symbol) order by s",
            [wanted],
        ).fetchall()
    ]
    if missing:
        row = first_row(con, "select count(*), max(mapping_version) from dim_symbol")
        raise unknown_symbols_error(missing, source=source, next_id=row[0], version=row[1])


def current_version(con: duckdb.DuckDBPyConnection, *, required: bool = True) -> str | None:
    """The current mapping version: the ``mapping_versions`` row with the largest seq.

    A warehouse without one is an error, or None when not ``required`` (the training loader also
    reads bare warehouses that hold only a ``training_set``).
    """
    version = None
    if table_exists(con, "mapping_versions"):
        version = scalar(con, "select version from mapping_versions order by seq desc limit 1")
    if version is None and required:
        raise MappingError("the warehouse has no mapping version yet", hint="run `fstore build`")
    return None if version is None else str(version)


def num_embeddings(con: duckdb.DuckDBPyConnection, *, fallback: str | None = None) -> int:
    """``max(asset_id) + 1`` over ``dim_symbol`` (every ID ever issued): the rows an nn.Embedding needs.

    Without ``dim_symbol`` (a bare warehouse) the same over the relation named ``fallback``, else 0.
    """
    if table_exists(con, "dim_symbol"):
        source = "dim_symbol"
    elif fallback is not None and table_exists(con, fallback):
        source = quote_ident(fallback)
    else:
        return 0
    return int(scalar(con, f"select coalesce(max(asset_id), -1) + 1 from {source}"))


@dataclass(frozen=True)
class Rows:
    """A small result set (columns + rows) for printing."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def mapping_rows(project: Any, *, version: str | None = None) -> Rows:
    """`fstore symbols list`: the mapping now or at ``version``, read from the JSON record."""
    mapping = load_mapping(project.mapping_path)
    if version is not None:
        mapping = mapping.at_version(version)
    return Rows(
        ["asset_id", "symbol", "category", "subcategory", "is_active", "version"],
        [
            (e.asset_id, e.symbol, e.category, e.subcategory, e.active, mapping.version)
            for e in mapping.entries
        ],
    )
