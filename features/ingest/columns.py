"""Which column of a price file is which: names matched against aliases, then ``[ingest] column_map``.

Names are compared lower-cased with every character that is not a letter or a digit removed, so
``Adj Close``, ``adj_close``, ``<CLOSE>``, ``Close/Last`` and ``Vol.`` all match their alias.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

CANONICAL = ("symbol", "ts", "open", "high", "low", "close", "adj_close", "volume")
NUMERIC = ("open", "high", "low", "close", "adj_close", "volume")

# normalised raw name (lower-case letters and digits only) -> canonical column
ALIASES: dict[str, str] = {
    "symbol": "symbol",
    "ticker": "symbol",
    "sym": "symbol",
    "asset": "symbol",
    "date": "ts",
    "ts": "ts",
    "timestamp": "ts",
    "time": "ts",
    "datetime": "ts",
    "day": "ts",
    "observationdate": "ts",  # FRED
    "snappedat": "ts",  # CoinGecko
    "open": "open",
    "o": "open",
    "high": "high",
    "h": "high",
    "low": "low",
    "l": "low",
    "close": "close",
    "c": "close",
    "price": "close",  # Investing.com, CoinGecko
    "last": "close",
    "closelast": "close",  # Nasdaq.com "Close/Last"
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "adjclosing": "adj_close",
    "volume": "volume",
    "vol": "volume",  # Stooq "<VOL>", Investing.com "Vol."
    "v": "volume",
    "totalvolume": "volume",  # CoinGecko
}


def normalise(name: str) -> str:
    """A column name as aliases are keyed: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]+", "", name.strip().lower())


def resolve_columns(columns: Sequence[str], column_map: Mapping[str, str] | None = None) -> dict[str, str]:
    """Map canonical names to a file's raw column names (config ``column_map`` wins over aliases).

    A file with a date column and exactly one other column (FRED's ``DATE,SP500``) is a close-only
    series: that other column is its close.
    """
    aliases = dict(ALIASES)
    for raw, canonical in (column_map or {}).items():
        aliases[normalise(raw)] = canonical
    found: dict[str, str] = {}
    for column in columns:
        canonical = aliases.get(normalise(column))
        if canonical in CANONICAL and canonical not in found:
            found[canonical] = column
    others = [c for c in columns if c not in found.values()]
    if set(found) == {"ts"} and len(others) == 1:
        found["close"] = others[0]
    return found


__all__ = ["ALIASES", "CANONICAL", "NUMERIC", "normalise", "resolve_columns"]
