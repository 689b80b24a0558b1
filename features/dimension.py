"""The asset-ID dimension: the build step and the `fstore symbols` commands, each comparing the
mapping file (``config/asset_id_mapping.json``, the durable record) with the warehouse's tables (a
disposable copy, :mod:`features.asset_tables`) before it reads or writes either.

Every table can be rebuilt from the file alone, so deleting the warehouse and building again gives
the same IDs and the same history. The tables can be read back as a history too, so a deleted or
older file is never numbered again from scratch. When the warehouse is *behind* the file (a sync
was interrupted after the file was written) it is caught up and we say so; when the file is
missing or behind, or the two *disagree*, that is an error naming the way out
(:mod:`features.reconcile`), never a silent re-numbering.

    ensure_dimension                   the build step
    sync_symbols, preview_sync         `fstore symbols sync` / `diff`
    restore_warehouse                  `fstore symbols restore`: the tables rebuilt from the file
    recover_file                       `fstore symbols recover`: the file written from the tables
    current_mapping, mapping_rows      the mapping for commands that only read it (`list`, training)
    check_symbols_known, current_version, num_embeddings    lookups in the tables
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb

from features.asset_tables import DIM_TABLES, dimension_digest, read_warehouse, write_dimension
from features.errors import (
    FstoreError,
    MappingError,
    UnknownSymbolError,
    WarehouseError,
    WarehouseLockedError,
)
from features.mapping import AssetMapping, SyncPlan, load_mapping, plan_sync, unknown_symbols_error
from features.reconcile import Verdict, WarehouseCopy, mapping_lock, reconcile, unknown_labels
from features.symbols import Universe, load_universe
from features.warehouse import (
    connect,
    first_row,
    is_disk_full,
    quote_ident,
    scalar,
    source_version,
    table_exists,
)

# --------------------------------------------------------------------------- the two copies, reconciled


def _load_file(project: Any) -> AssetMapping | None:
    """The mapping file, checked; None when it does not exist."""
    return load_mapping(project.mapping_path) if project.mapping_path.exists() else None


def verdict_for(con: duckdb.DuckDBPyConnection, project: Any, *, path: Path | None = None) -> Verdict:
    """How the project's mapping file and the warehouse open on ``con`` stand to each other."""
    return reconcile(project.mapping_path, _load_file(project), read_warehouse(con, path=path))


def _read_only_verdict(project: Any, db: Path | None, warn: Any = None) -> Verdict:
    """The verdict for a command that only reads. A busy warehouse (a build holds it) is said, and the
    file is read alone (without a file, the lock error is raised); a missing warehouse is absent."""
    db = db or project.warehouse_path
    if not db.exists():
        return reconcile(project.mapping_path, _load_file(project), WarehouseCopy(db))
    try:
        con = connect(db, read_only=True)
    except WarehouseLockedError as exc:
        file = _load_file(project)
        if file is None:  # whether the warehouse has a history is unknown: say nothing rather than "fresh"
            raise
        _say(
            warn, f"warning: {exc.message}; the mapping file is read without comparing it with the warehouse"
        )
        return reconcile(project.mapping_path, file, WarehouseCopy(None))
    try:
        return verdict_for(con, project, path=db)
    finally:
        con.close()


def current_mapping(project: Any, *, db: Path | None = None, warn: Any = None) -> AssetMapping:
    """The project's mapping for a command that reads it (``symbols list``, training): the file,
    after checking that it and the warehouse agree (or that the warehouse is only behind).

    Raises the refusal (MappingError naming the way out) when they disagree, when the file is missing
    while the warehouse has a history, and when neither exists.
    """
    verdict = _read_only_verdict(project, db, warn)
    if verdict.state == "fresh":
        raise MappingError(
            "there is no asset-ID mapping yet",
            file=project.mapping_path,
            hint="`fstore build` or `fstore symbols sync` creates it",
        )
    if not verdict.usable:
        raise verdict.error()
    assert verdict.mapping is not None
    return verdict.mapping


# --------------------------------------------------------------------------- writing, with clear failures


def _save_file(mapping: AssetMapping, path: Path) -> None:
    """Replace the mapping file whole; a failure (read-only folder, full disk) leaves the old one."""
    try:
        mapping.save(path)
    except OSError as exc:
        why = "the disk is full" if is_disk_full(exc) else exc.strerror or str(exc)
        raise MappingError(
            f"cannot write the mapping file ({why}); it and the warehouse are unchanged",
            file=path,
            hint=f"make {path.parent} writable or free some space, then run the command again",
        ) from None


def _write_warehouse(
    con: duckdb.DuckDBPyConnection, mapping: AssetMapping, universe: Universe | None, *, file_written: bool
) -> None:
    """:func:`write_dimension`, with a database failure (full disk) turned into a clear error."""
    try:
        write_dimension(con, mapping, universe)
    except duckdb.Error as exc:
        why = "the disk is full" if is_disk_full(exc) else str(exc).splitlines()[0]
        done = (
            f"the mapping file now holds version {mapping.version}, and the next command catches the "
            "warehouse up from it"
            if file_written
            else "the warehouse's tables are unchanged"
        )
        raise WarehouseError(
            f"cannot write the asset-ID tables ({why}); {done}",
            hint="free some space (or fix the warehouse), then run the command again",
        ) from None


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


def _create_first(
    con: duckdb.DuckDBPyConnection, project: Any, universe: Universe, console: Any
) -> AssetMapping | None:
    """Neither copy exists: make version 1.0 (under the file's lock; None if another process made one
    meanwhile, and the caller compares again)."""
    with mapping_lock(project.mapping_path):
        if project.mapping_path.exists():
            return None
        mapping = plan_sync(None, universe, source_config=project.symbols_path.name).mapping
        assert mapping is not None
        _save_file(mapping, project.mapping_path)
    _say(
        console,
        f"created {project.paths.mapping}: {mapping.num_embeddings} symbols, IDs 0–{mapping.num_embeddings - 1}, version 1.0",
    )
    return mapping


def ensure_dimension(con: duckdb.DuckDBPyConnection, project: Any, *, console: Any = None) -> DimensionState:
    """Build step: compare the mapping file with the warehouse, create the first mapping when neither
    exists, catch a warehouse that is behind up, and refresh the warehouse's tables.

    Stops (raising) when the two copies disagree (see :mod:`features.reconcile`), and when the
    config names symbols without IDs, drops symbols or changes their category: those need an
    explicit `fstore symbols sync`.
    """
    universe = load_universe(project.symbols_path)
    verdict = verdict_for(con, project)
    created = False
    if verdict.state == "fresh":
        mapping = _create_first(con, project, universe, console)
        if mapping is None:
            return ensure_dimension(con, project, console=console)
        created = True
    elif not verdict.usable:
        raise verdict.error()
    else:
        mapping = verdict.mapping
        assert mapping is not None
        plan = plan_sync(mapping, universe, source_config=project.symbols_path.name)
        if plan.changed_anything:
            raise _pending_error(plan, project)
    caught_up = verdict.state == "warehouse_behind" and not verdict.warehouse.absent
    if caught_up:
        _say(
            console,
            f"warehouse mapping tables were behind {project.paths.mapping}; caught up to version {mapping.version}",
        )
    rewritten = verdict.state != "agree" or source_version(con, "dim_symbol") != dimension_digest(
        mapping, universe
    )
    if rewritten:
        _write_warehouse(con, mapping, universe, file_written=created)
    return DimensionState(mapping.version, mapping.num_embeddings, caught_up, created, rewritten)


def _say(console: Any, text: str) -> None:
    if console is None:
        return
    if hasattr(console, "print"):
        console.print(text, highlight=False, markup=False)
    else:
        console(text)


# --------------------------------------------------------------------------- commands


def preview_sync(
    project: Any, *, regenerate: bool = False, db: Path | None = None, warn: Any = None
) -> SyncPlan:
    """What `fstore symbols sync` would do (`fstore symbols diff`). Writes nothing; refuses, like sync,
    when the file and the warehouse disagree."""
    universe = load_universe(project.symbols_path)
    verdict = _read_only_verdict(project, db, warn)
    if not verdict.usable:
        raise verdict.error()
    return plan_sync(
        verdict.mapping, universe, regenerate=regenerate, source_config=project.symbols_path.name
    )


def sync_symbols(
    project: Any, *, regenerate: bool = False, db: Path | None = None, console: Any = None
) -> SyncPlan:
    """Apply a sync: the file first (atomically; the durable record), then the warehouse tables.

    The file's lock is taken first (a second writer of the file is refused, on any warehouse), then
    the warehouse's write lock (a second sync or a build on it is refused). The two copies are
    compared before anything is planned: the next version extends the whole recorded history, so no
    recorded ID is issued again. If the process dies between the two writes, the next command
    catches the warehouse up from the file.
    """
    with mapping_lock(project.mapping_path):
        universe = load_universe(project.symbols_path)
        con = connect(db or project.warehouse_path)
        try:
            verdict = verdict_for(con, project, path=db or project.warehouse_path)
            if not verdict.usable:
                raise verdict.error()
            plan = plan_sync(
                verdict.mapping, universe, regenerate=regenerate, source_config=project.symbols_path.name
            )
            if verdict.state == "warehouse_behind" and not verdict.warehouse.absent:
                _say(console, f"warehouse mapping tables were behind {project.paths.mapping}; caught up")
            if plan.changed_anything:
                assert plan.mapping is not None
                _save_file(plan.mapping, project.mapping_path)
                _write_warehouse(con, plan.mapping, universe, file_written=True)
            elif verdict.mapping is not None:
                _write_warehouse(con, verdict.mapping, universe, file_written=False)
            return plan
        finally:
            con.close()


@dataclass(frozen=True)
class Repair:
    """What `symbols restore` / `symbols recover` did: the version now in both copies, the versions
    discarded (only ever with ``--discard-newer``) and whether anything was written."""

    version: str
    discarded: tuple[str, ...] = ()
    written: bool = True


def _universe_or_none(project: Any) -> Universe | None:
    try:
        return load_universe(project.symbols_path)
    except FstoreError:
        return None


_KEEP_HINTS = {
    "restore": "to keep them, `fstore symbols recover` rewrites the file from the warehouse's history; to lose "
    "them on purpose, `fstore symbols restore --discard-newer`",
    "recover": "the warehouse is only behind: any command (`fstore symbols restore`, `fstore build`) catches "
    "it up from the file; to lose them on purpose, `fstore symbols recover --discard-newer`",
}


def _discard_refusal(lost: Sequence[str], verdict: Verdict, command: str) -> MappingError:
    """The refusal of a restore / recover that would lose versions only the other copy records."""
    if verdict.state == "diverged":
        return verdict.error()  # names the first difference and both ways out
    keeper = "the warehouse" if command == "restore" else "the file"
    hint = _KEEP_HINTS[command]
    if verdict.state == "warehouse_damaged":
        hint = f"to lose them on purpose, `fstore symbols {command} --discard-newer`"
    return MappingError(
        f"{'rebuilding the warehouse from the file' if command == 'restore' else 'rewriting the file from the warehouse'} "
        f"would lose version(s) {', '.join(lost)} that only {keeper} records; nothing was changed",
        file=verdict.file_path,
        hint=hint,
    )


def restore_warehouse(project: Any, *, db: Path | None = None, discard_newer: bool = False) -> Repair:
    """Rebuild the warehouse's asset-ID tables from the mapping file (the file wins).

    Refuses to drop a version only the warehouse records (an older file checked out of git, a
    diverged history) unless ``discard_newer`` says to.
    """
    universe = _universe_or_none(project)
    con = connect(db or project.warehouse_path)
    try:
        verdict = verdict_for(con, project, path=db or project.warehouse_path)
        if verdict.file is None:
            if verdict.state == "file_missing":
                raise verdict.error()
            raise MappingError(
                "asset-ID mapping not found: there is nothing to restore the warehouse from",
                file=project.mapping_path,
                hint="`fstore build` or `fstore symbols sync` creates it",
            )
        lost = (
            unknown_labels(verdict) if verdict.state == "warehouse_damaged" else verdict.newer_in_warehouse()
        )
        if lost and not discard_newer:
            raise _discard_refusal(lost, verdict, "restore")
        _write_warehouse(con, verdict.file, universe, file_written=False)
        return Repair(verdict.file.version, tuple(lost))
    finally:
        con.close()


def recover_file(project: Any, *, db: Path | None = None, discard_newer: bool = False) -> Repair:
    """Write the mapping file from the warehouse's history (the warehouse wins): after the file was
    deleted, or an older one checked out. Refuses to drop a version only the file records (or to
    replace a file it cannot read) unless ``discard_newer`` says to."""
    db = db or project.warehouse_path
    with mapping_lock(project.mapping_path):
        warehouse = _warehouse_to_recover_from(db)
        assert warehouse.mapping is not None
        try:
            file = _load_file(project)
        except MappingError as exc:
            if not discard_newer:
                raise MappingError(
                    f"the mapping file cannot be read ({exc.message}), so what only it records is unknown; "
                    "nothing was changed",
                    file=project.mapping_path,
                    hint=f"{_GIT_HINT_RECOVER}, or run `fstore symbols recover --discard-newer` to replace it",
                ) from None
            file = None
        verdict = reconcile(project.mapping_path, file, warehouse)
        lost = verdict.newer_in_file()
        if lost and not discard_newer:
            raise _discard_refusal(lost, verdict, "recover")
        if verdict.state == "agree":
            return Repair(warehouse.mapping.version, written=False)
        _save_file(replace(warehouse.mapping, path=project.mapping_path), project.mapping_path)
        return Repair(warehouse.mapping.version, tuple(lost))


_GIT_HINT_RECOVER = "restore it from git (`git checkout -- config/asset_id_mapping.json`)"


def _warehouse_to_recover_from(db: Path) -> WarehouseCopy:
    if not db.exists():
        raise MappingError(
            f"there is no warehouse at {db} to recover the mapping file from",
            hint=f"{_GIT_HINT_RECOVER}; name another warehouse with --db",
        )
    con = connect(db, read_only=True)
    try:
        warehouse = read_warehouse(con, path=db)
    finally:
        con.close()
    if warehouse.absent:
        raise MappingError(
            f"the warehouse {db} holds no asset-ID history to recover the mapping file from",
            hint=f"{_GIT_HINT_RECOVER}; name another warehouse with --db",
        )
    if warehouse.mapping is None:
        raise MappingError(
            f"the asset-ID tables of the warehouse {db} are damaged ({warehouse.problem}), so the mapping "
            "file cannot be recovered from them",
            hint=_GIT_HINT_RECOVER,
        )
    return warehouse


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


def _one_copy(project: Any, source: str, db: Path | None) -> AssetMapping:
    """The mapping as one copy alone holds it (``symbols list --from``), without comparing."""
    if source == "file":
        return load_mapping(project.mapping_path)
    db = db or project.warehouse_path
    if not db.exists():
        raise WarehouseError(f"warehouse {db} does not exist yet", hint="run `fstore build` first")
    con = connect(db, read_only=True)
    try:
        warehouse = read_warehouse(con, path=db)
    finally:
        con.close()
    if warehouse.mapping is None:
        why = warehouse.problem or "it holds no asset-ID history"
        raise MappingError(f"the asset-ID tables of the warehouse {db} cannot be read: {why}")
    return warehouse.mapping


def mapping_rows(
    project: Any,
    *,
    version: str | None = None,
    source: str | None = None,
    db: Path | None = None,
    warn: Any = None,
) -> Rows:
    """`fstore symbols list`: the mapping now or at ``version``; by default the file after comparing
    it with the warehouse, or one copy alone (``source`` = "file" or "warehouse")."""
    mapping = current_mapping(project, db=db, warn=warn) if source is None else _one_copy(project, source, db)
    if version is not None:
        mapping = mapping.at_version(version)
    return Rows(
        ["asset_id", "symbol", "category", "subcategory", "is_active", "version"],
        [
            (e.asset_id, e.symbol, e.category, e.subcategory, e.active, mapping.version)
            for e in mapping.entries
        ],
    )


__all__ = [
    "DIM_TABLES",
    "DimensionState",
    "Repair",
    "Rows",
    "check_symbols_known",
    "current_mapping",
    "current_version",
    "ensure_dimension",
    "mapping_rows",
    "num_embeddings",
    "preview_sync",
    "read_warehouse",
    "recover_file",
    "restore_warehouse",
    "sync_symbols",
    "verdict_for",
    "write_dimension",
]
