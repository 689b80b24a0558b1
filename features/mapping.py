"""The asset-ID mapping: stable integer IDs, versioned, kept in ``config/asset_id_mapping.json``.

The contract (DESIGN.md):
- the first mapping sorts the universe and numbers it 0..N-1 at version "1.0";
- a sync appends new symbols with the next free IDs (sorted among themselves), retires removed
  ones (ID kept, never reused; a symbol that comes back gets its old ID), bumps the minor version;
- ``--regenerate`` re-sorts the active universe from scratch under a new major version;
- nothing changes without a sync; a sync with nothing to change creates no version.

The JSON file is the durable record. Besides the seed format (``metadata``, ``symbol_to_id``,
``id_to_symbol`` with string keys) it holds ``symbols`` (category, sub-category, active flag)
and ``history``: one event per version, from which the whole history (and so the warehouse's
history tables) can be rebuilt. Loading checks every field's type (a hand-edited file gets a
:class:`~features.errors.MappingError` naming the file, the field and its line, never a
traceback), reads every time in any offset as UTC, replays the history and refuses a file whose
parts disagree.

    load_mapping   the JSON file, checked (``AssetMapping.save`` replaces it whole)
    plan_sync      the next version for a universe (append / retire / reactivate / regenerate)
    carry_rows     how a run's embedding rows move to another mapping: through symbols, never by
                   position, and only when both mappings give every shared symbol the same ID

The history model (Entry, Event, AssetMapping, replay, …) lives in :mod:`features.mapping_history`
and is re-exported here; reconciling the JSON with the warehouse's copy is :mod:`features.reconcile`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from features.errors import MappingError
from features.jsonfile import JsonDocument, field_name, read_json
from features.mapping_history import (
    EVENT_KINDS,
    VERSION_PATTERN,
    AssetMapping,
    Entry,
    Event,
    history_key,
    normalise_time,
    now_utc,
    parse_version,
    remove_stale_temps,
    replay,
    replay_checked,
    unknown_symbols_error,
    utc_datetime,
)
from features.symbols import Universe, validate_symbol

# --------------------------------------------------------------------------- load

_TOP_KEYS = ("metadata", "symbol_to_id", "id_to_symbol", "symbols", "history")
_METADATA_TYPES: dict[str, type] = {
    "created_date": str,
    "updated_date": str,
    "total_symbols": int,
    "active_symbols": int,
    "num_embeddings": int,
    "source_config": str,
    "version": str,
}
_EVENT_KEYS = ("version", "kind", "created_at", "source_config", "source_sha256", "added", "retired")
_EVENT_KEYS += ("reactivated", "changed")
_ENTRY_KEYS = ("symbol", "asset_id", "category", "subcategory")
_SYMBOL_KEYS = ("category", "subcategory", "active")
_TIME_HINT = "write an ISO-8601 date or time such as 2026-01-31T09:30:00Z (a missing offset means UTC)"


class _Source:
    """A mapping file being loaded: a :class:`~features.jsonfile.JsonDocument`, and how a problem at
    a JSON path becomes a MappingError naming the file, the field's line and what to do."""

    def __init__(self, document: JsonDocument) -> None:
        self.document = document
        self.path, self.data = document.path, document.data

    @classmethod
    def read(cls, path: Path) -> _Source:
        try:
            return cls(read_json(path, MappingError))
        except FileNotFoundError:
            raise MappingError(
                "asset-ID mapping not found",
                file=path,
                hint="`fstore build` or `fstore symbols sync` creates it",
            ) from None

    def fail(
        self, message: str, *path: Any, symbols: Iterable[str] = (), hint: str | None = None
    ) -> MappingError:
        return MappingError(
            message,
            file=self.path,
            line=self.document.line_of(tuple(path)) if path else None,
            symbols=list(symbols),
            hint=hint
            or "fix that field, or restore the file from git (`git checkout config/asset_id_mapping.json`)",
        )


# -- field checks ---------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _object(source: _Source, value: Any, path: tuple[Any, ...], allowed: Iterable[str]) -> dict[str, Any]:
    """``value`` must be a JSON object whose keys are among ``allowed``."""
    if not isinstance(value, dict):
        raise source.fail(
            f"{field_name(path) or 'the file'} must be an object, got {_describe(value)}", *path
        )
    allowed = tuple(allowed)
    for key in value:
        if key not in allowed:
            raise source.fail(
                f"{field_name((*path, key))} is not a field fstore knows (fields: {', '.join(allowed)})",
                *path,
                key,
            )
    return value


def _typed(source: _Source, obj: dict[str, Any], key: str, kind: type, path: tuple[Any, ...]) -> Any:
    """``obj[key]`` (None when absent) if it has type ``kind`` (ints exclude booleans)."""
    value = obj.get(key)
    if value is None and key not in obj:
        return None
    ok = _is_int(value) and value >= 0 if kind is int else isinstance(value, kind)
    if not ok:
        wanted = {int: "a non-negative integer", str: "a string", bool: "true or false", list: "a list"}
        raise source.fail(
            f"{field_name((*path, key))} must be {wanted.get(kind, kind.__name__)}, got {_describe(value)}",
            *path,
            key,
        )
    return value


def _symbol(source: _Source, value: Any, path: tuple[Any, ...]) -> str:
    problem = validate_symbol(value)
    if problem:
        raise source.fail(f"{field_name(path)}: symbol {_describe(value)} {problem}", *path)
    return value


def _time(source: _Source, value: str, path: tuple[Any, ...]) -> str:
    try:
        return normalise_time(value)
    except ValueError:
        raise source.fail(
            f"{field_name(path)} is not a date or time: {_describe(value)}", *path, hint=_TIME_HINT
        ) from None


def _metadata(source: _Source) -> dict[str, Any]:
    raw = source.data.get("metadata", {})
    metadata = _object(source, raw, ("metadata",), _METADATA_TYPES)
    for key, kind in _METADATA_TYPES.items():
        _typed(source, metadata, key, kind, ("metadata",))
    if "version" in metadata:
        _version(source, metadata["version"], ("metadata", "version"))
    for key in ("created_date", "updated_date"):
        if key in metadata:
            _time(source, metadata[key], ("metadata", key))
    return metadata


def _version(source: _Source, value: Any, path: tuple[Any, ...]) -> str:
    if not isinstance(value, str) or not VERSION_PATTERN.match(value):
        raise source.fail(
            f'{field_name(path)} must be a version MAJOR.MINOR such as "1.0", got {_describe(value)}', *path
        )
    return value


def _check_directions(source: _Source) -> dict[str, int]:
    """symbol_to_id and id_to_symbol: the right types, unique contiguous IDs, inverse directions."""
    data = source.data
    for key in ("symbol_to_id", "id_to_symbol"):
        if not isinstance(data.get(key), dict):
            raise source.fail(
                f"must hold objects symbol_to_id and id_to_symbol ({key} is {_describe(data.get(key))})",
                key,
            )
    s2i, i2s = data["symbol_to_id"], data["id_to_symbol"]
    for symbol, asset_id in s2i.items():
        _symbol(source, symbol, ("symbol_to_id", symbol))
        if not _is_int(asset_id) or asset_id < 0:
            raise source.fail(
                f"symbol_to_id[{symbol!r}] must be a non-negative integer, got {_describe(asset_id)}",
                "symbol_to_id",
                symbol,
            )
    _check_unique_contiguous(source, s2i)
    for key, symbol in i2s.items():
        if not (key.isascii() and key.isdigit() and str(int(key)) == key):
            raise source.fail(f"id_to_symbol key {key!r} is not a decimal ID", "id_to_symbol", key)
        if not isinstance(symbol, str) or s2i.get(symbol) != int(key):
            raise source.fail(
                f"symbol_to_id and id_to_symbol disagree: id_to_symbol[{key!r}] = {_describe(symbol)} but "
                f"symbol_to_id[{_describe(symbol)}] = {s2i.get(symbol) if isinstance(symbol, str) else None!r}",
                "id_to_symbol",
                key,
                symbols=[symbol] if isinstance(symbol, str) else [],
                hint="the two directions must be inverses; restore the file from git",
            )
    if len(i2s) != len(s2i):
        missing = sorted(set(s2i) - set(i2s.values()))
        raise source.fail(
            f"id_to_symbol lacks {', '.join(missing[:10])} that symbol_to_id has",
            "id_to_symbol",
            symbols=missing,
        )
    return s2i


def _check_unique_contiguous(source: _Source, s2i: dict[str, int]) -> None:
    by_id: dict[int, list[str]] = {}
    for symbol, asset_id in s2i.items():
        by_id.setdefault(asset_id, []).append(symbol)
    repeated = {i: s for i, s in by_id.items() if len(s) > 1}
    if repeated:
        asset_id, symbols = sorted(repeated.items())[0]
        raise source.fail(
            f"ID {asset_id} is given to several symbols in symbol_to_id: {', '.join(sorted(symbols))}",
            "symbol_to_id",
            sorted(symbols)[-1],
            symbols=sorted(symbols),
            hint="IDs are unique; restore the file from git (`git checkout config/asset_id_mapping.json`)",
        )
    gaps = sorted(set(range(len(s2i))) - set(by_id))
    if gaps:
        raise source.fail(
            f"asset IDs are not contiguous: missing {', '.join(map(str, gaps[:10]))} "
            f"(IDs must be 0..{len(s2i) - 1})",
            "symbol_to_id",
            hint="restore the file from git (`git checkout config/asset_id_mapping.json`)",
        )


def _symbols_block(source: _Source, s2i: dict[str, int]) -> dict[str, dict[str, Any]]:
    """The optional ``symbols`` object: symbol → {category, subcategory, active}, one per symbol."""
    if "symbols" not in source.data:
        return {}
    block = source.data["symbols"]
    if not isinstance(block, dict):
        raise source.fail(f"symbols must be an object, got {_describe(block)}", "symbols")
    for symbol, attrs in block.items():
        if symbol not in s2i:
            raise source.fail(
                f"symbols[{symbol!r}] names a symbol that symbol_to_id lacks",
                "symbols",
                symbol,
                symbols=[symbol],
            )
        path = ("symbols", symbol)
        _object(source, attrs, path, _SYMBOL_KEYS)
        for key, kind in (("category", str), ("subcategory", str), ("active", bool)):
            _typed(source, attrs, key, kind, path)
    return block


def _entries(source: _Source, raw: dict[str, Any], key: str, path: tuple[Any, ...]) -> tuple[Entry, ...]:
    values = _typed(source, raw, key, list, path) or []
    entries = []
    for n, item in enumerate(values):
        where = (*path, key, n)
        _object(source, item, where, _ENTRY_KEYS)
        for name in ("symbol", "asset_id"):
            if name not in item:
                raise source.fail(f"{field_name(where)} lacks {name!r}", *where)
        _symbol(source, item["symbol"], (*where, "symbol"))
        asset_id = _typed(source, item, "asset_id", int, where)
        category = _typed(source, item, "category", str, where) or ""
        subcategory = _typed(source, item, "subcategory", str, where) or ""
        entries.append(Entry(item["symbol"], asset_id, category, subcategory))
    return tuple(entries)


def _symbol_list(source: _Source, raw: dict[str, Any], key: str, path: tuple[Any, ...]) -> tuple[str, ...]:
    values = _typed(source, raw, key, list, path) or []
    return tuple(_symbol(source, v, (*path, key, n)) for n, v in enumerate(values))


def _event_from(source: _Source, raw: Any, position: int) -> Event:
    path: tuple[Any, ...] = ("history", position)
    _object(source, raw, path, _EVENT_KEYS)
    if "version" not in raw or "kind" not in raw:
        raise source.fail(f"{field_name(path)} must have a version and a kind", *path)
    version = _version(source, raw["version"], (*path, "version"))
    kind = _typed(source, raw, "kind", str, path)
    if kind not in EVENT_KINDS:
        raise source.fail(
            f"{field_name(path)} (version {version}) has unknown kind {kind!r} (kinds: {', '.join(EVENT_KINDS)})",
            *path,
            "kind",
        )
    created_at = _typed(source, raw, "created_at", str, path) or ""
    return Event(
        version=version,
        kind=kind,
        created_at=_time(source, created_at, (*path, "created_at")),
        source_config=_typed(source, raw, "source_config", str, path) or "symbols.json",
        source_sha256=_typed(source, raw, "source_sha256", str, path) or "",
        added=_entries(source, raw, "added", path),
        retired=_symbol_list(source, raw, "retired", path),
        reactivated=_symbol_list(source, raw, "reactivated", path),
        changed=_entries(source, raw, "changed", path),
    )


def _seed_event(s2i: dict[str, int], attrs: dict[str, dict[str, Any]], metadata: dict[str, Any]) -> Event:
    """The seed format has no history: adopt it as its own first version, IDs exactly as written."""

    def attribute(symbol: str, key: str) -> str:
        return str(attrs.get(symbol, {}).get(key, ""))

    return Event(
        version=str(metadata.get("version", "1.0")),
        kind="initial",
        created_at=normalise_time(metadata.get("created_date", "")),
        source_config=str(metadata.get("source_config", "symbols.json")),
        added=tuple(
            Entry(s, i, attribute(s, "category"), attribute(s, "subcategory"))
            for s, i in sorted(s2i.items(), key=lambda kv: kv[1])
        ),
    )


def _history_of(
    source: _Source, s2i: dict[str, int], attrs: dict[str, dict[str, Any]], metadata: dict[str, Any]
) -> list[Event]:
    """The file's events: its ``history``, or the seed format adopted as version one."""
    raw_history = source.data.get("history")
    if "history" not in source.data:
        return [_seed_event(s2i, attrs, metadata)]
    if not isinstance(raw_history, list) or not raw_history:
        raise source.fail(
            f"history must be a non-empty list of versions, got {_describe(raw_history)}", "history"
        )
    return [_event_from(source, raw, n) for n, raw in enumerate(raw_history)]


def _check_replayed(
    mapping: AssetMapping,
    source: _Source,
    s2i: dict[str, int],
    attrs: dict[str, dict[str, Any]],
    metadata: dict[str, Any],
) -> None:
    """The replayed history must agree with the file's own symbol_to_id, symbols, version and counts."""
    if mapping.symbol_to_id != s2i:
        differ = sorted(
            s for s in set(s2i) | set(mapping.symbol_to_id) if s2i.get(s) != mapping.symbol_to_id.get(s)
        )
        raise source.fail(
            f"symbol_to_id disagrees with the file's own history for {', '.join(differ[:10])}",
            "symbol_to_id",
            differ[0],
            symbols=differ,
            hint="IDs never change outside `fstore symbols sync`; restore the file from git",
        )
    if "version" in metadata and metadata["version"] != mapping.version:
        raise source.fail(
            f"metadata.version is {metadata['version']!r} but the history ends at {mapping.version!r}",
            "metadata",
            "version",
        )
    counts = {"total_symbols": len(mapping.entries), "num_embeddings": mapping.num_embeddings}
    counts["active_symbols"] = len(mapping.active_symbols)
    for key, value in counts.items():
        if key in metadata and metadata[key] != value:
            raise source.fail(
                f"metadata.{key} is {metadata[key]} but the mapping has {value}", "metadata", key
            )
    if "history" not in source.data:
        return
    for entry in mapping.entries:  # the `symbols` block must match the replayed state too
        got = attrs.get(entry.symbol)
        if got is None:
            continue
        for key, value in (
            ("category", entry.category),
            ("subcategory", entry.subcategory),
            ("active", entry.active),
        ):
            if key in got and got[key] != value:
                raise source.fail(
                    f"symbols[{entry.symbol!r}].{key} is {_describe(got[key])} but the history says {_describe(value)}",
                    "symbols",
                    entry.symbol,
                    key,
                    symbols=[entry.symbol],
                )


def load_mapping(path: str | Path) -> AssetMapping:
    """Load, check and replay the mapping file. Any problem is a MappingError naming the file, the
    field and (when it can be found) its line."""
    path = Path(path)
    source = _Source.read(path)
    _object(source, source.data, (), _TOP_KEYS)
    metadata = _metadata(source)
    s2i = _check_directions(source)
    attrs = _symbols_block(source, s2i)
    history = _history_of(source, s2i, attrs, metadata)
    created_date = normalise_time(metadata.get("created_date", ""))[:10]
    mapping = replay_checked(
        history, lambda message, *at, **kw: source.fail(message, "history", *at, **kw), created_date, path
    )
    mapping = replace(mapping, source_config=metadata.get("source_config", "symbols.json"))
    _check_replayed(mapping, source, s2i, attrs, metadata)
    return mapping


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class SyncPlan:
    """What a sync would do; ``mapping`` is the result (equal to the old one when nothing changes)."""

    old_version: str | None
    new_version: str
    added: tuple[Entry, ...] = ()
    retired: tuple[str, ...] = ()
    reactivated: tuple[str, ...] = ()
    changed: tuple[tuple[Entry, Entry], ...] = ()  # (before, after)
    regenerate: bool = False
    moved: tuple[tuple[str, int, int], ...] = ()  # regenerate: (symbol, old id, new id)
    mapping: AssetMapping | None = field(default=None, compare=False)

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.retired or self.reactivated or self.changed or self.moved) or (
            self.old_version is None
        )

    def describe(self, *, dry_run: bool) -> str:
        if not self.changed_anything:
            return f"mapping version {self.old_version} is up to date: nothing to change"
        lines = []
        if self.old_version is None:
            lines.append(
                f"{'would create' if dry_run else 'created'} mapping version {self.new_version} "
                f"with {len(self.added)} symbols (IDs 0–{len(self.added) - 1})"
            )
            return "\n".join(lines)
        head = "regenerate" if self.regenerate else "sync"
        lines.append(
            f"{head} {self.old_version} → {self.new_version}"
            + (" (dry run: nothing changed)" if dry_run else "")
        )
        if self.regenerate:
            lines.append(f"  {len(self.moved)} symbol(s) {'would get' if dry_run else 'got'} a different ID")
            for symbol, old, new in self.moved[:20]:
                lines.append(f"    {symbol}: {old} → {new}")
            if len(self.moved) > 20:
                lines.append(f"    … {len(self.moved) - 20} more")
        for entry in self.added:
            lines.append(
                f"  + {entry.symbol:<10} ID {entry.asset_id:<5} {entry.category}.{entry.subcategory}"
            )
        for symbol in self.retired:
            lines.append(f"  - {symbol:<10} retired (ID kept, never reused)")
        for symbol in self.reactivated:
            lines.append(f"  ↺ {symbol:<10} back in the universe (keeps its old ID)")
        for before, after in self.changed:
            lines.append(
                f"  ~ {after.symbol:<10} {before.category}.{before.subcategory} → {after.category}.{after.subcategory}"
            )
        return "\n".join(lines)


def _numbered_from_scratch(universe: Universe) -> tuple[Entry, ...]:
    """The sorted universe numbered 0..N-1 (the first mapping, and every regeneration)."""
    return tuple(
        Entry(info.symbol, position, info.category, info.subcategory)
        for position, info in enumerate(universe.symbols)
    )


def _append_event(current: AssetMapping, event: Event, source_config: str) -> AssetMapping:
    """``current`` with one more version, replayed so the result is checked like a loaded file (replay
    refuses an ID that is not the next free one, so no version can issue a recorded ID again)."""
    return replace(
        replay([*current.history, event], created_date=current.created_date), source_config=source_config
    )


def initial_mapping(
    universe: Universe, *, source_config: str = "symbols.json", now: str | None = None
) -> SyncPlan:
    now = normalise_time(now) if now else now_utc()
    entries = _numbered_from_scratch(universe)
    event = Event(
        version="1.0",
        kind="initial",
        created_at=now,
        source_config=source_config,
        source_sha256=universe.sha256,
        added=entries,
    )
    mapping = replay([event], created_date=now[:10])
    mapping = replace(mapping, source_config=source_config)
    return SyncPlan(old_version=None, new_version="1.0", added=entries, mapping=mapping)


def _plan_regenerate(current: AssetMapping, universe: Universe, source_config: str, now: str) -> SyncPlan:
    """Re-number the universe from scratch under the next major version (nothing when identical)."""
    major, _ = parse_version(current.version)
    entries = _numbered_from_scratch(universe)
    old = current.symbol_to_id
    moved = tuple(
        (e.symbol, old[e.symbol], e.asset_id)
        for e in entries
        if e.symbol in old and old[e.symbol] != e.asset_id
    )
    identical = [(e.symbol, e.asset_id, e.category, e.subcategory, True) for e in entries] == [
        (e.symbol, e.asset_id, e.category, e.subcategory, e.active) for e in current.entries
    ]
    if identical:
        return SyncPlan(
            old_version=current.version, new_version=current.version, regenerate=True, mapping=current
        )
    new_version = f"{major + 1}.0"
    event = Event(new_version, "regenerate", now, source_config, universe.sha256, added=entries)
    wanted = universe.by_symbol
    return SyncPlan(
        old_version=current.version,
        new_version=new_version,
        added=tuple(e for e in entries if e.symbol not in old),
        retired=tuple(sorted(s for s in old if s not in wanted)),
        regenerate=True,
        moved=moved,
        mapping=_append_event(current, event, source_config),
    )


def _changed_categories(current: AssetMapping, wanted: dict[str, Any]) -> tuple[tuple[Entry, Entry], ...]:
    """(before, after) for every symbol whose category or sub-category changed in the config."""
    return tuple(
        (e, replace(e, category=wanted[e.symbol].category, subcategory=wanted[e.symbol].subcategory))
        for e in current.entries
        if e.symbol in wanted
        and (e.category, e.subcategory) != (wanted[e.symbol].category, wanted[e.symbol].subcategory)
    )


def _plan_append(current: AssetMapping, universe: Universe, source_config: str, now: str) -> SyncPlan:
    """Append newcomers with the next free IDs, retire and reactivate, under the next minor version."""
    major, minor = parse_version(current.version)
    wanted = universe.by_symbol
    by_symbol = current.by_symbol
    newcomers = sorted(s for s in wanted if s not in by_symbol)
    next_id = current.num_embeddings
    added = tuple(
        Entry(s, next_id + n, wanted[s].category, wanted[s].subcategory) for n, s in enumerate(newcomers)
    )
    retired = tuple(sorted(e.symbol for e in current.entries if e.active and e.symbol not in wanted))
    reactivated = tuple(sorted(e.symbol for e in current.entries if not e.active and e.symbol in wanted))
    changed = _changed_categories(current, wanted)
    if not (added or retired or reactivated or changed):
        return SyncPlan(old_version=current.version, new_version=current.version, mapping=current)
    new_version = f"{major}.{minor + 1}"
    event = Event(
        new_version,
        "sync",
        now,
        source_config,
        universe.sha256,
        added=added,
        retired=retired,
        reactivated=reactivated,
        changed=tuple(after for _, after in changed),
    )
    return SyncPlan(
        old_version=current.version,
        new_version=new_version,
        added=added,
        retired=retired,
        reactivated=reactivated,
        changed=changed,
        mapping=_append_event(current, event, source_config),
    )


def plan_sync(
    current: AssetMapping | None,
    universe: Universe,
    *,
    regenerate: bool = False,
    source_config: str = "symbols.json",
    now: str | None = None,
) -> SyncPlan:
    """Work out the next mapping version for ``universe`` without writing anything.

    ``current`` must be the whole recorded history (the commands pass the JSON and the warehouse
    reconciled, see :mod:`features.reconcile`): the next free ID is counted over every version of
    it, so no recorded ID is ever issued again.
    """
    if current is None:
        return initial_mapping(universe, source_config=source_config, now=now)
    plan = _plan_regenerate if regenerate else _plan_append
    return plan(current, universe, source_config, normalise_time(now) if now else now_utc())


# --------------------------------------------------------------------------- carrying embedding rows


@dataclass(frozen=True)
class RowCarry:
    """How the rows of a trained embedding table move to another mapping's table, symbol by symbol.

    ``moves`` is (symbol, old row, new row) for every symbol both mappings hold; ``initialise`` is
    (symbol, new row) for symbols only the target holds (no trained row: give them a fresh value);
    ``dropped`` is (symbol, old row) for symbols only the run holds. ``num_embeddings`` is the number
    of rows of the target table. Each list is sorted by its row.
    """

    moves: tuple[tuple[str, int, int], ...]
    initialise: tuple[tuple[str, int], ...]
    dropped: tuple[tuple[str, int], ...]
    num_embeddings: int

    @property
    def old_rows(self) -> list[int]:
        """Rows to read from the old table, in the order of :attr:`new_rows`."""
        return [old for _, old, _ in self.moves]

    @property
    def new_rows(self) -> list[int]:
        """Rows to write in the new table: ``new[new_rows] = old[old_rows]``."""
        return [new for _, _, new in self.moves]


def _symbol_table(mapping: AssetMapping | Mapping[str, int], what: str) -> dict[str, int]:
    table = dict(mapping.symbol_to_id if isinstance(mapping, AssetMapping) else mapping)
    by_id: dict[int, str] = {}
    for symbol, row in table.items():
        if not _is_int(row) or row < 0:
            raise MappingError(f"{what} gives {symbol!r} the row {row!r}; rows are non-negative integers")
        if row in by_id:
            raise MappingError(
                f"{what} gives row {row} to both {by_id[row]} and {symbol}",
                symbols=sorted([by_id[row], symbol]),
            )
        by_id[row] = symbol
    return table


def carry_rows(old_symbol_to_id: Mapping[str, int], new: AssetMapping | Mapping[str, int]) -> RowCarry:
    """How a run's embedding rows move to the mapping ``new``: symbol → old row → new row, never by
    position.

    ``old_symbol_to_id`` is the mapping the run was trained on (every symbol its table has a row for);
    ``new`` the mapping to carry it to. Refuses (MappingError naming the symbols) unless both give
    every shared symbol the same ID: within one major version the contract promises that, so a
    difference means one side was renumbered and no row can be trusted to belong to its symbol.
    A row whose ID was later given to another symbol (after history was discarded) is not carried:
    that symbol is reported in ``initialise``, the old one in ``dropped``.
    """
    old = _symbol_table(old_symbol_to_id, "the run's mapping")
    target = _symbol_table(new, "the target mapping")
    differ = sorted(s for s in old.keys() & target.keys() if old[s] != target[s])
    if differ:
        shown = ", ".join(f"{s} ({old[s]} → {target[s]})" for s in differ[:10])
        more = f", … ({len(differ) - 10} more)" if len(differ) > 10 else ""
        raise MappingError(
            f"the run's embedding rows cannot be carried: {len(differ)} symbol(s) have another ID in "
            f"the target mapping: {shown}{more}",
            symbols=differ,
            hint="IDs only change under a new major version (`fstore symbols sync --regenerate`) or when "
            "a mapping was renumbered from scratch; train from scratch, or restore the mapping the run "
            "was trained on (`fstore symbols recover`)",
        )
    shared = old.keys() & target.keys()
    return RowCarry(
        moves=tuple(sorted(((s, old[s], target[s]) for s in shared), key=lambda m: m[2])),
        initialise=tuple(sorted(((s, r) for s, r in target.items() if s not in old), key=lambda m: m[1])),
        dropped=tuple(sorted(((s, r) for s, r in old.items() if s not in target), key=lambda m: m[1])),
        num_embeddings=max(target.values(), default=-1) + 1,
    )


# --------------------------------------------------------------------------- public helpers


def _current(project: Any = None) -> AssetMapping:
    from features.config import load_project

    project = project if project is not None else load_project()
    return load_mapping(project.mapping_path)


def symbol_to_id(symbols: str | Iterable[str], project: Any = None) -> int | list[int]:
    """Asset ID(s) of the current mapping; an unknown symbol raises UnknownSymbolError."""
    mapping = _current(project)
    if isinstance(symbols, str):
        return mapping.ids_for([symbols], source="the request")[0]
    return mapping.ids_for(symbols, source="the request")


def num_embeddings(project: Any = None) -> int:
    """``num_embeddings`` for ``nn.Embedding``: max(asset_id) + 1 of the current mapping."""
    return _current(project).num_embeddings


__all__ = [
    "EVENT_KINDS",
    "AssetMapping",
    "Entry",
    "Event",
    "RowCarry",
    "SyncPlan",
    "carry_rows",
    "history_key",
    "initial_mapping",
    "load_mapping",
    "normalise_time",
    "now_utc",
    "num_embeddings",
    "parse_version",
    "plan_sync",
    "remove_stale_temps",
    "replay",
    "symbol_to_id",
    "unknown_symbols_error",
    "utc_datetime",
]
