"""The price sources: what they cover per symbol.

    coverage(con, project)      per universe symbol: dates, rows, rejected rows, staleness (read-only;
                                used by `fstore sources` and the `fstore docs` site)
    render / warnings           the report as text and its WARN lines, like dbt's source freshness

Importing this module loads nothing heavy (DuckDB loads with the connection a caller passes).

Staleness is measured within a calendar group (crypto trades every day, the others on exchange
days): a symbol is ``stale_days`` behind the newest date any symbol of its group has, or behind a
reference date when one is given. Symbols outside the universe whose rows were quarantined
(``symbol not in universe``) are listed too, so a file of a ticker nobody added is never invisible.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from features.choices import DEFAULT_STALE_DAYS
from features.errors import WarehouseError

if TYPE_CHECKING:
    import duckdb

    from features.config import Project

CRYPTO_CATEGORIES = (
    "crypto",
)  # dim_symbol categories on the every-day calendar; the rest trade on exchange days
KEYS = (
    "symbol",
    "asset_id",
    "category",
    "calendar",
    "in_universe",
    "has_data",
    "first_date",
    "last_date",
    "rows",
    "rejected_rows",
    "rejected_reasons",
    "stale_days",
)


def calendar_of(category: str | None) -> str:
    """``crypto`` (every day) or ``exchange`` (weekdays less holidays) for a dim_symbol category."""
    return "crypto" if category in CRYPTO_CATEGORIES else "exchange"


def _universe(
    con: duckdb.DuckDBPyConnection, project: Project
) -> list[tuple[str, int | None, str | None, bool]]:
    """(symbol, asset_id, category, is_active) from dim_symbol, or from config/symbols.json before a build."""
    from features.warehouse import table_exists

    if table_exists(con, "dim_symbol"):
        rows = con.execute(
            "select symbol, asset_id, category, is_active from dim_symbol order by symbol"
        ).fetchall()
        return [(str(s), int(a), c, bool(active)) for s, a, c, active in rows]
    from features.symbols import load_universe

    return [(s.symbol, None, s.category, True) for s in load_universe(project.symbols_path).symbols]


def coverage(
    con: duckdb.DuckDBPyConnection, project: Project, *, as_of: dt.date | None = None
) -> list[dict[str, Any]]:
    """Coverage of ``raw_prices`` per symbol; reads only (a read-only connection is enough).

    One dict per universe symbol (active in ``dim_symbol``), then per retired symbol that still has
    rows, then per symbol outside the universe with quarantined rows, each with the keys:

    - ``symbol`` (str), ``asset_id`` (int, None outside the universe or before a first build),
      ``category`` (``sectors``/``etfs``/``crypto``, None outside the universe), ``calendar``
      (``crypto`` or ``exchange``), ``in_universe`` (bool: an active symbol of the mapping);
    - ``has_data`` (bool: it has rows in ``raw_prices``), ``first_date`` / ``last_date``
      (datetime.date or None: its rows in ``raw_prices``; for a symbol outside the universe, its
      quarantined rows), ``rows`` (int: rows in ``raw_prices``);
    - ``rejected_rows`` (int) and ``rejected_reasons`` (dict reason → rows) in ``raw_prices_rejected``;
    - ``stale_days`` (int or None without data): calendar days from ``last_date`` to ``as_of`` when
      given, else to the newest ``last_date`` of its calendar group.

    Raises WarehouseError when the warehouse has no ``raw_prices`` yet.
    """
    from features.warehouse import table_exists

    if not table_exists(con, "raw_prices"):
        raise WarehouseError("the warehouse has no raw_prices yet", hint="run `fstore build` first")
    prices = {
        str(s): (first, last, int(n))
        for s, first, last, n in con.execute(
            "select symbol, min(ts), max(ts), count(*) from raw_prices group by symbol"
        ).fetchall()
    }
    rejected: dict[str, dict[str, int]] = {}
    outside_dates: dict[str, tuple[dt.date | None, dt.date | None]] = {}
    if table_exists(con, "raw_prices_rejected"):
        for symbol, reason, n, first, last in con.execute(
            "select symbol, reason, count(*), min(ts), max(ts) from raw_prices_rejected "
            "where symbol is not null group by symbol, reason order by symbol, reason"
        ).fetchall():
            rejected.setdefault(str(symbol), {})[str(reason)] = int(n)
            if reason == "symbol not in universe":
                outside_dates[str(symbol)] = (first, last)
    entries = []
    listed: set[str] = set()
    for symbol, asset_id, category, active in _universe(con, project):
        if not active and symbol not in prices:
            continue
        listed.add(symbol)
        entries.append(
            _entry(symbol, asset_id, category, active, prices.get(symbol), rejected.get(symbol, {}))
        )
    for symbol in sorted((set(prices) | set(outside_dates)) - listed):
        first, last = outside_dates.get(symbol, (None, None))
        entry = _entry(symbol, None, None, False, prices.get(symbol), rejected.get(symbol, {}))
        if not entry["has_data"]:
            entry["first_date"], entry["last_date"] = first, last
        entries.append(entry)
    _fill_staleness(entries, as_of)
    return entries


def _entry(
    symbol: str,
    asset_id: int | None,
    category: str | None,
    in_universe: bool,
    prices: tuple[dt.date, dt.date, int] | None,
    reasons: dict[str, int],
) -> dict[str, Any]:
    first, last, rows = prices if prices else (None, None, 0)
    return {
        "symbol": symbol,
        "asset_id": asset_id,
        "category": category,
        "calendar": calendar_of(category),
        "in_universe": in_universe,
        "has_data": rows > 0,
        "first_date": first,
        "last_date": last,
        "rows": rows,
        "rejected_rows": sum(reasons.values()),
        "rejected_reasons": dict(reasons),
        "stale_days": None,
    }


def _fill_staleness(entries: list[dict[str, Any]], as_of: dt.date | None) -> None:
    newest: dict[str, dt.date] = {}
    for e in entries:
        if e["has_data"]:
            newest[e["calendar"]] = max(newest.get(e["calendar"], e["last_date"]), e["last_date"])
    for e in entries:
        if e["has_data"]:
            reference = as_of or newest[e["calendar"]]
            e["stale_days"] = (reference - e["last_date"]).days


# --------------------------------------------------------------------------------------------- report


def status_of(entry: dict[str, Any], stale_after: int) -> str:
    """ok | stale | no data | retired | not in universe (what `fstore sources` prints per symbol)."""
    if entry["asset_id"] is None and not entry["in_universe"] and entry["category"] is None:
        return "not in universe"
    if not entry["in_universe"]:
        return "retired"
    if not entry["has_data"]:
        return "no data"
    return "stale" if entry["stale_days"] > stale_after else "ok"


def warnings(entries: list[dict[str, Any]], stale_after: int) -> list[str]:
    """dbt-style WARN lines: stale symbols, universe symbols with no data, symbols outside the universe."""
    by_status: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_status.setdefault(status_of(e, stale_after), []).append(e)

    def names(items: list[dict[str, Any]], detail: Callable[[dict[str, Any]], str]) -> str:
        shown = ", ".join(f"{e['symbol']} ({detail(e)})" for e in items[:10])
        return shown + (f", … ({len(items) - 10} more)" if len(items) > 10 else "")

    out = []
    if stale := by_status.get("stale"):
        out.append(
            f"WARN {len(stale)} symbol(s) more than {stale_after} days behind: "
            + names(stale, lambda e: f"{e['stale_days']} days, last {e['last_date']}")
        )
    if missing := by_status.get("no data"):
        out.append(
            f"WARN {len(missing)} universe symbol(s) have no prices: "
            + names(missing, lambda e: f"ID {e['asset_id']}" if e["asset_id"] is not None else "no ID yet")
            + " — add their files to data/raw"
        )
    if outside := by_status.get("not in universe"):
        out.append(
            f"WARN {len(outside)} symbol(s) in price files are not in the universe: "
            + names(outside, lambda e: f"{e['rejected_rows']:,} rows quarantined")
            + " — add them to config/symbols.json and run `fstore symbols sync`"
        )
    return out


_COLUMNS = (
    "symbol",
    "asset_id",
    "category",
    "first_date",
    "last_date",
    "rows",
    "rejected_rows",
    "stale_days",
)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def render(entries: list[dict[str, Any]], fmt: str, stale_after: int) -> str | None:
    """csv/json text, or None after printing a table."""
    if fmt == "json":
        rows = [{k: _plain(e[k]) for k in KEYS} | {"status": status_of(e, stale_after)} for e in entries]
        return json.dumps(rows, indent=1) + "\n"
    from features.query import QueryResult, format_result

    columns = [*_COLUMNS, "status", "rejected_reasons"]
    rows = [
        (
            *(e[c] for c in _COLUMNS),
            status_of(e, stale_after),
            "; ".join(f"{r}={n}" for r, n in e["rejected_reasons"].items()),
        )
        for e in entries
    ]
    return format_result(QueryResult(columns, rows), fmt, max_rows=0)


__all__ = [
    "CRYPTO_CATEGORIES",
    "DEFAULT_STALE_DAYS",
    "KEYS",
    "calendar_of",
    "coverage",
    "render",
    "status_of",
    "warnings",
]
