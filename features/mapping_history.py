"""The asset-ID mapping's history: issued IDs, versions, and replaying versions into a mapping.

    Entry          one issued ID (symbol, asset_id, category, sub-category, active)
    Event          one version: what it added, retired, reactivated or re-categorised
    AssetMapping   the mapping at its latest version, with every event that led there
    replay         events → mapping, refusing an impossible history: a history starts with its one
                   ``initial`` version; a sync bumps the minor version and appends contiguous IDs; a
                   regeneration bumps the major version and numbers from 0; nothing else
    history_key    what an event decides (two copies of a history agree when their keys do)
    normalise_time any ISO-8601 time, in any offset, as UTC ``YYYY-MM-DDTHH:MM:SSZ``

:mod:`features.mapping` re-exports all of it, with reading and writing the JSON file and planning
the next version; this module needs nothing but the standard library and the symbol rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from features.errors import MappingError, UnknownSymbolError

EVENT_KINDS = ("initial", "sync", "regenerate")
VERSION_PATTERN = re.compile(r"^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$")


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
    created_at: str  # ISO-8601 UTC ("2026-01-31T09:30:00Z"); "" when unknown
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


def history_key(event: Event) -> tuple[Any, ...]:
    """What an event *decides* (version, kind, IDs, retirements, categories), order-free.

    Two copies of a history agree when their events have equal keys; when and from which config
    file a version was made (``created_at``, ``source_*``) is metadata and is not compared.
    """
    return (
        event.version,
        event.kind,
        tuple(sorted((e.asset_id, e.symbol, e.category, e.subcategory) for e in event.added)),
        tuple(sorted(event.retired)),
        tuple(sorted(event.reactivated)),
        tuple(sorted((e.symbol, e.category, e.subcategory) for e in event.changed)),
    )


def parse_version(version: str) -> tuple[int, int]:
    """``"1.10"`` → ``(1, 10)``; anything but MAJOR.MINOR (plain decimal numbers) is a MappingError."""
    match = VERSION_PATTERN.match(version) if isinstance(version, str) else None
    if match is None:
        raise MappingError(f"bad mapping version {version!r}: expected MAJOR.MINOR such as 1.0")
    return int(match.group(1)), int(match.group(2))


def normalise_time(value: str) -> str:
    """An ISO-8601 date or time in any offset (``Z``, ``+05:30``, none = UTC, ``T`` or space) as UTC
    ``YYYY-MM-DDTHH:MM:SSZ`` (microseconds kept when present); ``""`` stays ``""``.

    Raises ValueError for anything else. fstore writes UTC; this accepts what a person or another
    tool may have written, so a time zone never makes two equal times disagree.
    """
    if value == "":
        return ""
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def utc_datetime(value: str) -> datetime | None:
    """A normalised time (see :func:`normalise_time`) as a naive UTC datetime (None for ``""``)."""
    return datetime.fromisoformat(value[:-1]) if value else None


def now_utc() -> str:
    """The current time as UTC ``YYYY-MM-DDTHH:MM:SSZ`` (whatever the machine's time zone)."""
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


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
        folder, fsync, rename, fsync of the folder), first removing temps a killed writer left.

        Commands write it under :func:`features.reconcile.mapping_lock`, so two writers never
        interleave; a failed write (read-only folder, full disk) leaves the old file as it was. A
        mapping that is a symbolic link (one file shared by several clones) is replaced where it
        lives and the link stays, so every clone reading it sees the new version.
        """
        from features.warehouse import atomic_write

        path = Path(path)
        if path.is_symlink():
            path = path.resolve()
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

# Raises the error for a problem at a JSON path of the file being loaded (("history", 3, "added")).
Fail = Callable[..., MappingError]


def _plain_fail(where: str) -> Fail:
    def fail(message: str, *_path: Any, symbols: Iterable[str] = (), hint: str | None = None) -> MappingError:
        return MappingError(message, file=where, symbols=list(symbols), hint=hint)

    return fail


def _check_version_step(previous: Event | None, event: Event, n: int, fail: Fail) -> None:
    """A history starts with its one ``initial`` version; a sync bumps the minor version, a
    regeneration the major one (to MAJOR.0), and nothing else."""
    major, minor = parse_version(event.version)
    if previous is None:
        if event.kind != "initial":
            raise fail(
                f"history starts with a {event.kind!r} version; the first must be 'initial'", n, "kind"
            )
        return
    if event.kind == "initial":
        raise fail(
            f"history version {event.version} is 'initial', which only the first version is", n, "kind"
        )
    before = parse_version(previous.version)
    expected = (before[0] + 1, 0) if event.kind == "regenerate" else (before[0], before[1] + 1)
    if (major, minor) != expected:
        raise fail(
            f"history jumps from version {previous.version} to {event.version} (a {event.kind} "
            f"makes {expected[0]}.{expected[1]})",
            n,
            "version",
        )


def _apply_added(state: dict[str, Entry], event: Event, n: int, fail: Fail) -> None:
    next_id = len(state)
    for entry in sorted(event.added, key=lambda e: e.asset_id):
        if entry.symbol in state:
            raise fail(
                f"history version {event.version} adds {entry.symbol!r} twice (it already has ID "
                f"{state[entry.symbol].asset_id})",
                n,
                "added",
                symbols=[entry.symbol],
            )
        if entry.asset_id != next_id:
            raise fail(
                f"history version {event.version} gives {entry.symbol!r} ID {entry.asset_id}, "
                f"but the next free ID is {next_id} (IDs are contiguous and never reused)",
                n,
                "added",
                symbols=[entry.symbol],
            )
        state[entry.symbol] = replace(entry, active=True)
        next_id += 1


def _apply_flags(state: dict[str, Entry], event: Event, n: int, fail: Fail) -> None:
    for key, symbols, was, becomes in (
        ("retired", event.retired, True, False),
        ("reactivated", event.reactivated, False, True),
    ):
        for symbol in symbols:
            if symbol not in state or state[symbol].active is not was:
                status = "active" if was else "retired"
                raise fail(
                    f"history version {event.version} {'retires' if becomes is False else 'reactivates'} "
                    f"{symbol!r}, which is not {status}",
                    n,
                    key,
                    symbols=[symbol],
                )
            state[symbol] = replace(state[symbol], active=becomes)


def _apply_changed(state: dict[str, Entry], event: Event, n: int, fail: Fail) -> None:
    for change in event.changed:
        known = state.get(change.symbol)
        if known is None:
            raise fail(f"history version {event.version} changes unknown {change.symbol!r}", n, "changed")
        if change.asset_id != known.asset_id:
            raise fail(
                f"history version {event.version} changes {change.symbol!r} with ID {change.asset_id}, "
                f"but its ID is {known.asset_id} (a category change never changes an ID)",
                n,
                "changed",
                symbols=[change.symbol],
            )
        if (change.category, change.subcategory) == (known.category, known.subcategory):
            raise fail(
                f"history version {event.version} changes {change.symbol!r} to the category it "
                f"already has ({known.category}.{known.subcategory})",
                n,
                "changed",
                symbols=[change.symbol],
            )
        state[change.symbol] = replace(known, category=change.category, subcategory=change.subcategory)


def replay(events: Iterable[Event], *, created_date: str = "", path: Path | None = None) -> AssetMapping:
    """Apply events in order and return the resulting mapping (raises on an impossible history)."""
    return replay_checked(
        events, _plain_fail(str(path) if path else "asset_id_mapping.json"), created_date, path
    )


def replay_checked(events: Iterable[Event], fail: Fail, created_date: str, path: Path | None) -> AssetMapping:
    state: dict[str, Entry] = {}
    history: list[Event] = []
    for n, event in enumerate(events):
        _check_version_step(history[-1] if history else None, event, n, fail)
        if event.kind in ("initial", "regenerate"):
            state = {}
        _apply_added(state, event, n, fail)
        _apply_flags(state, event, n, fail)
        _apply_changed(state, event, n, fail)
        history.append(event)
    entries = tuple(sorted(state.values(), key=lambda e: e.asset_id))
    return AssetMapping(entries=entries, history=tuple(history), created_date=created_date, path=path)


__all__ = [
    "EVENT_KINDS",
    "VERSION_PATTERN",
    "AssetMapping",
    "Entry",
    "Event",
    "Fail",
    "history_key",
    "normalise_time",
    "now_utc",
    "parse_version",
    "remove_stale_temps",
    "replay",
    "replay_checked",
    "unknown_symbols_error",
    "utc_datetime",
]
