"""The symbol universe: every unique symbol of ``config/symbols.json`` with its category.

The file holds groups ``sectors``, ``etfs`` and ``crypto`` (each a dict sub-category → list of
symbols) and optionally ``indices`` (index name → symbols), which only repeats symbols of the
other groups and is recorded as membership, never as new symbols.

Symbols are taken exactly as written. Lower-case or padded symbols are *rejected* (with the
normalised form suggested), not silently normalised: ``aapl`` and ``AAPL`` would otherwise
become one asset without anyone deciding so. A symbol is 1–32 characters of upper-case letters,
digits and ``. - _ / ^ =`` (``BRK.B``, ``BTC-USD``, ``^GSPC``), so no symbol can carry SQL.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from features.errors import SymbolsConfigError

SYMBOL_GROUPS = ("sectors", "etfs", "crypto")
INDEX_GROUP = "indices"
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9^][A-Z0-9.\-_/^=]{0,31}$")


@dataclass(frozen=True)
class SymbolInfo:
    """One symbol of the universe and where the config lists it."""

    symbol: str
    category: str  # the group: sectors | etfs | crypto
    subcategory: str  # e.g. Technology, Market, DeFi
    indices: tuple[str, ...] = ()  # index memberships from the `indices` group


@dataclass(frozen=True)
class Universe:
    """The parsed symbol universe, sorted by symbol."""

    path: Path
    sha256: str
    symbols: tuple[SymbolInfo, ...]

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.by_symbol

    @property
    def by_symbol(self) -> dict[str, SymbolInfo]:
        return {s.symbol: s for s in self.symbols}

    def names(self) -> list[str]:
        return [s.symbol for s in self.symbols]


def validate_symbol(value: object) -> str | None:
    """Return a problem description for a bad symbol, or None when it is fine."""
    if not isinstance(value, str):
        return f"must be a string, got {json.dumps(value)}"
    if value == "" or value.strip() == "":
        return "is empty"
    if value != value.strip():
        return f"has surrounding spaces (write {value.strip()!r})"
    if (
        value != value.upper()
        and value.upper() == value.upper().strip()
        and SYMBOL_PATTERN.match(value.upper())
    ):
        return f"must be upper-case (write {value.upper()!r})"
    if not SYMBOL_PATTERN.match(value):
        return "may only hold A-Z, 0-9 and . - _ / ^ = (at most 32 characters)"
    return None


class _Locator:
    """Finds the line of a JSON value for error messages (json gives no positions)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, *needles: str, after: int = 0) -> int | None:
        start = after
        for needle in needles:
            found = None
            for number in range(start, len(self.lines)):
                if needle in self.lines[number]:
                    found = number
                    break
            if found is None:
                return start + 1 if start else None
            start = found
        return start + 1


# (resolved path, sha256 of the bytes) -> the universe parsed from them. A build reads symbols.json in
# several steps (dimension, synthetic market); the cache makes that one parse. Keyed by content, not
# mtime: a file rewritten within one timestamp tick must never return the old universe.
_PARSED: dict[tuple[str, str], Universe] = {}
_PARSED_MAX = 8


def load_universe(path: str | Path) -> Universe:
    """Parse and validate a symbols file; every problem is reported at once.

    The same bytes at the same path are parsed once per process: later calls return the same
    (immutable) :class:`Universe`.
    """
    path = Path(path)
    raw_bytes = _read_symbols_file(path)
    sha256 = hashlib.sha256(raw_bytes).hexdigest()
    key = (str(path.resolve()), sha256)
    cached = _PARSED.get(key)
    if cached is None:
        cached = _parse_bytes(raw_bytes, path, sha256)
        while len(_PARSED) >= _PARSED_MAX:
            del _PARSED[next(iter(_PARSED))]  # the oldest entry
        _PARSED[key] = cached
    return cached if cached.path == path else replace(cached, path=path)


def _read_symbols_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SymbolsConfigError(
            "symbols file not found",
            file=path,
            hint='create it: {"sectors": {"Technology": ["AAPL", ...]}, "etfs": {...}, "crypto": {...}}',
        ) from None
    except OSError as exc:
        raise SymbolsConfigError(f"cannot read symbols file: {exc.strerror}", file=path) from None


def _parse_bytes(raw_bytes: bytes, path: Path, sha256: str) -> Universe:
    from features.jsonfile import decode_json

    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise SymbolsConfigError("not UTF-8 text", file=path) from None
    # strict: a key given twice (a merge) would silently keep the last group; deep nesting is a message
    data = decode_json(text, path, SymbolsConfigError).data
    return parse_universe(data, path=path, text=text, sha256=sha256)


# --------------------------------------------------------------------------- validation steps


class _Problems:
    """Every problem found in a symbols file, each located at its line when the text is known."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.locator = _Locator(text)
        self.found: list[SymbolsConfigError] = []

    def add(self, message: str, *needles: str) -> None:
        line = self.locator.line_of(*needles) if needles else None
        self.found.append(SymbolsConfigError(message, file=self.path, line=line))

    def raise_any(self) -> None:
        """Raise the one problem, or one error listing them all; nothing when there are none."""
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise SymbolsConfigError(
                f"{len(self.found)} problems:\n" + "\n".join(f"  {p}" for p in self.found),
                file=None,
            )


def _check_groups(data: dict[Any, Any], problems: _Problems) -> None:
    """Unknown top-level groups, and a file without any symbol group."""
    for key in sorted(set(data) - {*SYMBOL_GROUPS, INDEX_GROUP}):
        problems.add(
            f"unknown group {key!r} (groups are {', '.join(SYMBOL_GROUPS)} and {INDEX_GROUP})",
            f'"{key}"',
        )
    if not any(group in data for group in SYMBOL_GROUPS):
        problems.add(f"has none of the groups {', '.join(SYMBOL_GROUPS)}; there are no symbols")


def _group_symbols(data: dict[Any, Any], problems: _Problems) -> dict[str, SymbolInfo]:
    """symbol -> its info, from the ``sectors``, ``etfs`` and ``crypto`` groups (each symbol once)."""
    seen: dict[str, str] = {}  # symbol -> "group.subcategory"
    infos: dict[str, SymbolInfo] = {}
    for group in SYMBOL_GROUPS:
        if group not in data:
            continue
        subs = data[group]
        if not isinstance(subs, dict):
            problems.add(
                f"group {group!r} must map sub-categories to lists of symbols, got {type(subs).__name__}",
                f'"{group}"',
            )
            continue
        for sub, symbols in subs.items():
            _sub_symbols(group, sub, symbols, seen, infos, problems)
    return infos


def _sub_symbols(
    group: str,
    sub: Any,
    symbols: Any,
    seen: dict[str, str],
    infos: dict[str, SymbolInfo],
    problems: _Problems,
) -> None:
    """Add the symbols of one sub-category (``sectors.Technology``) to ``infos``."""
    where = f"{group}.{sub}"
    if not isinstance(symbols, list):
        problems.add(
            f"{where} must be a list of symbols, got {type(symbols).__name__}", f'"{group}"', f'"{sub}"'
        )
        return
    for position, symbol in enumerate(symbols):
        bad = validate_symbol(symbol)
        if bad:
            needle = json.dumps(symbol) if isinstance(symbol, str) else f'"{sub}"'
            problems.add(
                f"symbol {json.dumps(symbol)} in {where}[{position}] {bad}", f'"{group}"', f'"{sub}"', needle
            )
            continue
        if symbol in seen:
            first = seen[symbol]
            detail = "twice in" if first == where else f"in both {first} and"
            problems.add(
                f"symbol {symbol!r} is listed {detail} {where}; a symbol has exactly one category — "
                "remove one of them",
                f'"{group}"',
                f'"{sub}"',
                f'"{symbol}"',
            )
            continue
        seen[symbol] = where
        infos[symbol] = SymbolInfo(symbol=symbol, category=group, subcategory=str(sub))


def _index_memberships(
    data: dict[Any, Any], infos: dict[str, SymbolInfo], problems: _Problems
) -> dict[str, list[str]]:
    """symbol -> the indices that list it; an index may only repeat symbols of the other groups."""
    memberships: dict[str, list[str]] = {}
    if INDEX_GROUP not in data:
        return memberships
    indices = data[INDEX_GROUP]
    if not isinstance(indices, dict):
        problems.add(f"group {INDEX_GROUP!r} must map index names to lists of symbols", f'"{INDEX_GROUP}"')
        return memberships
    for index_name, symbols in indices.items():
        if not isinstance(symbols, list):
            problems.add(f"{INDEX_GROUP}.{index_name} must be a list of symbols", f'"{index_name}"')
            continue
        for symbol in symbols:
            bad = validate_symbol(symbol)
            if bad:
                problems.add(
                    f"symbol {json.dumps(symbol)} in {INDEX_GROUP}.{index_name} {bad}", f'"{index_name}"'
                )
            elif symbol not in infos:
                problems.add(
                    f"{INDEX_GROUP}.{index_name} lists {symbol!r}, which is in none of "
                    f"{', '.join(SYMBOL_GROUPS)}; indices may only repeat symbols from those groups",
                    f'"{INDEX_GROUP}"',
                    f'"{symbol}"',
                )
            elif index_name not in memberships.setdefault(symbol, []):
                memberships[symbol].append(str(index_name))
    return memberships


def parse_universe(data: object, *, path: Path, text: str = "", sha256: str = "") -> Universe:
    """Validate the decoded JSON of a symbols file and build the universe (sorted by symbol)."""
    if not isinstance(data, dict):
        raise SymbolsConfigError(
            f"must be a JSON object with groups {', '.join(SYMBOL_GROUPS)}; got a {type(data).__name__}",
            file=path,
        )
    problems = _Problems(path, text)
    _check_groups(data, problems)
    infos = _group_symbols(data, problems)
    if not infos and not problems.found and any(group in data for group in SYMBOL_GROUPS):
        # every sub-category empty: a sync would retire every asset (an emptied file, a bad merge)
        problems.add("lists no symbols (every sub-category is empty); a universe needs at least one symbol")
    memberships = _index_memberships(data, infos, problems)
    problems.raise_any()
    ordered = tuple(
        SymbolInfo(s.symbol, s.category, s.subcategory, tuple(memberships.get(s.symbol, ())))
        for s in sorted(infos.values(), key=lambda info: info.symbol)
    )
    return Universe(path=path, sha256=sha256, symbols=ordered)


__all__ = [
    "INDEX_GROUP",
    "SYMBOL_GROUPS",
    "SYMBOL_PATTERN",
    "SymbolInfo",
    "Universe",
    "load_universe",
    "parse_universe",
    "validate_symbol",
]
