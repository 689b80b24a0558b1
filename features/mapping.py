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
history tables) can be rebuilt. Loading replays the history and refuses a file whose parts
disagree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from features.errors import MappingError, UnknownSymbolError
from features.symbols import Universe, validate_symbol

EVENT_KINDS = ("initial", "sync", "regenerate")


@dataclass(frozen=True)
class Entry:
    """One issued ID in the current major version."""

    symbol: str
    asset_id: int
    category: str
    subcategory: str
    active: bool = True


@dataclass(frozen=True)
class Event:
    """One mapping version: what changed relative to the version before it."""

    version: str
    kind: str  # initial | sync | regenerate
    created_at: str  # ISO-8601 UTC
    source_config: str = "symbols.json"
    source_sha256: str = ""
    added: tuple[Entry, ...] = ()  # new IDs (regenerate: the complete new numbering)
    retired: tuple[str, ...] = ()
    reactivated: tuple[str, ...] = ()
    changed: tuple[Entry, ...] = ()  # category / sub-category changes (ID unchanged)

    def to_json(self) -> dict[str, Any]:
        def entry(e: Entry) -> dict[str, Any]:
            return {
                "symbol": e.symbol,
                "asset_id": e.asset_id,
                "category": e.category,
                "subcategory": e.subcategory,
            }

        return {
            "version": self.version,
            "kind": self.kind,
            "created_at": self.created_at,
            "source_config": self.source_config,
            "source_sha256": self.source_sha256,
            "added": [entry(e) for e in self.added],
            "retired": list(self.retired),
            "reactivated": list(self.reactivated),
            "changed": [entry(e) for e in self.changed],
        }


def parse_version(version: str) -> tuple[int, int]:
    try:
        major, minor = version.split(".")
        return int(major), int(minor)
    except (ValueError, AttributeError):
        raise MappingError(f"bad mapping version {version!r}: expected MAJOR.MINOR such as 1.0") from None


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class AssetMapping:
    """The mapping at its latest version, plus every event that led there."""

    entries: tuple[Entry, ...]  # sorted by asset_id, contiguous from 0
    history: tuple[Event, ...]
    created_date: str = ""
    source_config: str = "symbols.json"
    path: Path | None = None

    # -- views ---------------------------------------------------------------------------
    @property
    def version(self) -> str:
        return self.history[-1].version if self.history else "0.0"

    @property
    def symbol_to_id(self) -> dict[str, int]:
        return {e.symbol: e.asset_id for e in self.entries}

    @property
    def id_to_symbol(self) -> dict[int, str]:
        return {e.asset_id: e.symbol for e in self.entries}

    @property
    def by_symbol(self) -> dict[str, Entry]:
        return {e.symbol: e for e in self.entries}

    @property
    def num_embeddings(self) -> int:
        """Rows an ``nn.Embedding`` needs: max(asset_id) + 1 == IDs ever issued in this major version."""
        return len(self.entries)

    @property
    def active_symbols(self) -> list[str]:
        return [e.symbol for e in self.entries if e.active]

    def ids_for(self, symbols: Iterable[str], *, source: str = "the input") -> list[int]:
        """Asset IDs for ``symbols``; unknown symbols raise one error listing them all."""
        table = self.symbol_to_id
        symbols = list(symbols)
        missing = sorted({s for s in symbols if s not in table})
        if missing:
            raise unknown_symbols_error(
                missing, source=source, next_id=self.num_embeddings, version=self.version
            )
        return [table[s] for s in symbols]

    def at_version(self, version: str) -> AssetMapping:
        """The mapping as it was right after ``version``."""
        for position, event in enumerate(self.history):
            if event.version == version:
                return replay(self.history[: position + 1], created_date=self.created_date, path=self.path)
        known = ", ".join(e.version for e in self.history)
        raise MappingError(f"no mapping version {version!r} (versions: {known})")

    # -- serialisation -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "metadata": {
                "created_date": self.created_date,
                "updated_date": self.history[-1].created_at[:10] if self.history else self.created_date,
                "total_symbols": len(self.entries),
                "active_symbols": len(self.active_symbols),
                "num_embeddings": self.num_embeddings,
                "source_config": self.source_config,
                "version": self.version,
            },
            "symbol_to_id": {e.symbol: e.asset_id for e in self.entries},
            "id_to_symbol": {str(e.asset_id): e.symbol for e in self.entries},
            "symbols": {
                e.symbol: {"category": e.category, "subcategory": e.subcategory, "active": e.active}
                for e in self.entries
            },
            "history": [event.to_json() for event in self.history],
        }

    def save(self, path: str | Path) -> None:
        """Replace the file whole (:func:`features.warehouse.atomic_write`: temp file in the same
        folder, fsync, rename, fsync of the folder), first removing temps a killed writer left."""
        from features.warehouse import atomic_write

        path = Path(path)
        remove_stale_temps(path)
        atomic_write(path, json.dumps(self.to_json(), indent=2) + "\n")


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the temp files a killed writer of ``path`` left: the toolkit's, and the
    ``.{name}.*.tmp`` ones earlier versions of fstore wrote. Returns them."""
    from features import warehouse

    stale = warehouse.remove_stale_temps(path)
    if path.parent.is_dir():
        for old in path.parent.glob(f".{path.name}.*.tmp"):
            old.unlink(missing_ok=True)
            stale.append(old)
    return stale


def unknown_symbols_error(
    symbols: list[str], *, source: str, next_id: int | None = None, version: str | None = None
) -> UnknownSymbolError:
    shown = ", ".join(symbols[:10]) + (f", … ({len(symbols) - 10} more)" if len(symbols) > 10 else "")
    hint = "add them to config/symbols.json, then run `fstore symbols sync` to give them IDs"
    if next_id is not None and version is not None:
        major, minor = parse_version(version)
        last = next_id + len(symbols) - 1
        ids = f"ID {next_id}" if last == next_id else f"IDs {next_id}–{last}"
        hint += f" ({ids}, version {major}.{minor + 1})"
    return UnknownSymbolError(
        f"{len(symbols)} symbol(s) in {source} have no asset ID: {shown}",
        symbols=symbols,
        hint=hint,
    )


# --------------------------------------------------------------------------- replay


def replay(events: Iterable[Event], *, created_date: str = "", path: Path | None = None) -> AssetMapping:
    """Apply events in order and return the resulting mapping (raises on an impossible history)."""
    state: dict[str, Entry] = {}
    history: list[Event] = []
    where = str(path) if path else "asset_id_mapping.json"
    previous: tuple[int, int] | None = None
    for event in events:
        major, minor = parse_version(event.version)
        if previous is not None:
            expected = {(previous[0], previous[1] + 1), (previous[0] + 1, 0)}
            if (major, minor) not in expected:
                raise MappingError(
                    f"history jumps from version {previous[0]}.{previous[1]} to {event.version}", file=where
                )
        if event.kind == "regenerate" or previous is None:
            state = {}
        next_id = len(state)
        for entry in sorted(event.added, key=lambda e: e.asset_id):
            if entry.symbol in state:
                raise MappingError(
                    f"history version {event.version} adds {entry.symbol!r} twice (it already has ID "
                    f"{state[entry.symbol].asset_id})",
                    file=where,
                )
            if entry.asset_id != next_id:
                raise MappingError(
                    f"history version {event.version} gives {entry.symbol!r} ID {entry.asset_id}, "
                    f"but the next free ID is {next_id} (IDs are contiguous and never reused)",
                    file=where,
                )
            state[entry.symbol] = replace(entry, active=True)
            next_id += 1
        for symbol in event.retired:
            if symbol not in state or not state[symbol].active:
                raise MappingError(
                    f"history version {event.version} retires {symbol!r}, which is not active", file=where
                )
            state[symbol] = replace(state[symbol], active=False)
        for symbol in event.reactivated:
            if symbol not in state or state[symbol].active:
                raise MappingError(
                    f"history version {event.version} reactivates {symbol!r}, which is not retired",
                    file=where,
                )
            state[symbol] = replace(state[symbol], active=True)
        for change in event.changed:
            if change.symbol not in state:
                raise MappingError(
                    f"history version {event.version} changes unknown {change.symbol!r}", file=where
                )
            state[change.symbol] = replace(
                state[change.symbol], category=change.category, subcategory=change.subcategory
            )
        history.append(event)
        previous = (major, minor)
    entries = tuple(sorted(state.values(), key=lambda e: e.asset_id))
    return AssetMapping(entries=entries, history=tuple(history), created_date=created_date, path=path)


# --------------------------------------------------------------------------- load


def _entry_from(raw: Any, where: str, context: str) -> Entry:
    if not isinstance(raw, dict):
        raise MappingError(f"{context}: each entry must be an object", file=where)
    try:
        symbol, asset_id = raw["symbol"], raw["asset_id"]
    except KeyError as exc:
        raise MappingError(f"{context}: entry lacks {exc.args[0]!r}", file=where) from None
    if validate_symbol(symbol) or isinstance(asset_id, bool) or not isinstance(asset_id, int):
        raise MappingError(f"{context}: bad entry {json.dumps(raw)}", file=where)
    return Entry(symbol, asset_id, str(raw.get("category", "")), str(raw.get("subcategory", "")))


def _event_from(raw: Any, where: str, position: int) -> Event:
    if not isinstance(raw, dict) or "version" not in raw:
        raise MappingError(f"history[{position}] must be an object with a version", file=where)
    version = str(raw["version"])
    kind = raw.get("kind", "sync")
    if kind not in EVENT_KINDS:
        raise MappingError(f"history[{position}] (version {version}) has unknown kind {kind!r}", file=where)
    context = f"history version {version}"

    def symbols(key: str) -> tuple[str, ...]:
        values = raw.get(key, [])
        if not isinstance(values, list) or any(validate_symbol(v) for v in values):
            raise MappingError(f"{context}: {key} must be a list of symbols", file=where)
        return tuple(values)

    return Event(
        version=version,
        kind=kind,
        created_at=str(raw.get("created_at", "")),
        source_config=str(raw.get("source_config", "symbols.json")),
        source_sha256=str(raw.get("source_sha256", "")),
        added=tuple(_entry_from(e, where, context) for e in raw.get("added", [])),
        retired=symbols("retired"),
        reactivated=symbols("reactivated"),
        changed=tuple(_entry_from(e, where, context) for e in raw.get("changed", [])),
    )


def _check_directions(data: dict[str, Any], where: str) -> dict[str, int]:
    s2i, i2s = data.get("symbol_to_id"), data.get("id_to_symbol")
    if not isinstance(s2i, dict) or not isinstance(i2s, dict):
        raise MappingError("must hold objects symbol_to_id and id_to_symbol", file=where)
    for symbol, asset_id in s2i.items():
        if isinstance(asset_id, bool) or not isinstance(asset_id, int) or asset_id < 0:
            raise MappingError(
                f"symbol_to_id[{symbol!r}] must be a non-negative integer, got {asset_id!r}", file=where
            )
    by_id: dict[int, list[str]] = {}
    for symbol, asset_id in s2i.items():
        by_id.setdefault(asset_id, []).append(symbol)
    repeated = {i: s for i, s in by_id.items() if len(s) > 1}
    if repeated:
        asset_id, symbols = sorted(repeated.items())[0]
        raise MappingError(
            f"ID {asset_id} is given to several symbols in symbol_to_id: {', '.join(sorted(symbols))}",
            file=where,
            symbols=sorted(symbols),
            hint="IDs are unique; restore the file from git (`git checkout config/asset_id_mapping.json`)",
        )
    gaps = sorted(set(range(len(s2i))) - set(by_id))
    if gaps:
        raise MappingError(
            f"asset IDs are not contiguous: missing {', '.join(map(str, gaps[:10]))} "
            f"(IDs must be 0..{len(s2i) - 1})",
            file=where,
            hint="restore the file from git (`git checkout config/asset_id_mapping.json`)",
        )
    for key, symbol in i2s.items():
        if not (isinstance(key, str) and key.isdigit()):
            raise MappingError(f"id_to_symbol key {key!r} is not a decimal ID", file=where)
        if s2i.get(symbol) != int(key):
            raise MappingError(
                f"symbol_to_id and id_to_symbol disagree: id_to_symbol[{key!r}] = {symbol!r} but "
                f"symbol_to_id[{symbol!r}] = {s2i.get(symbol)!r}",
                file=where,
                symbols=[str(symbol)],
                hint="the two directions must be inverses; restore the file from git",
            )
    if len(i2s) != len(s2i):
        missing = sorted(set(s2i) - set(i2s.values()))
        raise MappingError(
            f"id_to_symbol lacks {', '.join(missing[:10])} that symbol_to_id has", file=where, symbols=missing
        )
    return s2i


def _read_mapping_json(path: Path) -> dict[str, Any]:
    """The decoded mapping file (a JSON object), or a MappingError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(
            "asset-ID mapping not found", file=path, hint="`fstore build` or `fstore symbols sync` creates it"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingError(
            f"not valid JSON: {exc.msg}", file=path, line=exc.lineno, column=exc.colno
        ) from None
    if not isinstance(data, dict):
        raise MappingError("must be a JSON object", file=path)
    return data


def _seed_event(data: dict[str, Any], s2i: dict[str, int], metadata: dict[str, Any]) -> Event:
    """The seed format has no history: adopt it as its own first version, IDs exactly as written."""
    symbols_meta = data.get("symbols") or {}

    def attribute(symbol: str, key: str) -> str:
        return str((symbols_meta.get(symbol) or {}).get(key, ""))

    return Event(
        version=str(metadata.get("version", "1.0")),
        kind="initial",
        created_at=str(metadata.get("created_date", "")),
        source_config=str(metadata.get("source_config", "symbols.json")),
        added=tuple(
            Entry(s, i, attribute(s, "category"), attribute(s, "subcategory"))
            for s, i in sorted(s2i.items(), key=lambda kv: kv[1])
        ),
    )


def _history_of(
    data: dict[str, Any], s2i: dict[str, int], metadata: dict[str, Any], path: Path
) -> list[Event]:
    """The file's events: its ``history``, or the seed format adopted as version one."""
    raw_history = data.get("history")
    if raw_history is None:
        return [_seed_event(data, s2i, metadata)]
    if not isinstance(raw_history, list) or not raw_history:
        raise MappingError("history must be a non-empty list of versions", file=path)
    return [_event_from(raw, str(path), n) for n, raw in enumerate(raw_history)]


def _check_replayed(
    mapping: AssetMapping, data: dict[str, Any], s2i: dict[str, int], metadata: dict[str, Any], path: Path
) -> None:
    """The replayed history must agree with the file's own symbol_to_id, version and active flags."""
    if mapping.symbol_to_id != s2i:
        differ = sorted(
            s for s in set(s2i) | set(mapping.symbol_to_id) if s2i.get(s) != mapping.symbol_to_id.get(s)
        )
        raise MappingError(
            f"symbol_to_id disagrees with the file's own history for {', '.join(differ[:10])}",
            file=path,
            symbols=differ,
            hint="IDs never change outside `fstore symbols sync`; restore the file from git",
        )
    if "version" in metadata and str(metadata["version"]) != mapping.version:
        raise MappingError(
            f"metadata.version is {metadata['version']!r} but the history ends at {mapping.version!r}",
            file=path,
        )
    attrs = data.get("symbols")
    if not isinstance(attrs, dict) or data.get("history") is None:
        return
    for entry in mapping.entries:  # the `symbols` block must match the replayed state too
        got = attrs.get(entry.symbol) or {}
        if bool(got.get("active", True)) != entry.active:
            raise MappingError(
                f"symbols[{entry.symbol!r}].active disagrees with the history",
                file=path,
                symbols=[entry.symbol],
            )


def load_mapping(path: str | Path) -> AssetMapping:
    """Load, validate and replay the mapping file. Raises MappingError naming the problem."""
    path = Path(path)
    data = _read_mapping_json(path)
    s2i = _check_directions(data, str(path))
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise MappingError("metadata must be an object", file=path)
    history = _history_of(data, s2i, metadata, path)
    mapping = replay(history, created_date=str(metadata.get("created_date", "")), path=path)
    mapping = replace(mapping, source_config=str(metadata.get("source_config", "symbols.json")))
    _check_replayed(mapping, data, s2i, metadata, path)
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
    """``current`` with one more version, replayed so the result is checked like a loaded file."""
    return replace(
        replay([*current.history, event], created_date=current.created_date), source_config=source_config
    )


def initial_mapping(
    universe: Universe, *, source_config: str = "symbols.json", now: str | None = None
) -> SyncPlan:
    now = now or _now()
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
    """Work out the next mapping version for ``universe`` without writing anything."""
    if current is None:
        return initial_mapping(universe, source_config=source_config, now=now)
    plan = _plan_regenerate if regenerate else _plan_append
    return plan(current, universe, source_config, now or _now())


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
    "SyncPlan",
    "initial_mapping",
    "load_mapping",
    "num_embeddings",
    "parse_version",
    "plan_sync",
    "remove_stale_temps",
    "replay",
    "symbol_to_id",
    "unknown_symbols_error",
]
