"""The price sources: what they cover, and the two commands about them.

    coverage(con, project)      per universe symbol: dates, rows, rejected rows, staleness (read-only;
                                also used by the `fstore docs` site)
    register(sub, add_common)          `fstore sources`: coverage, with WARN lines like dbt's source freshness
    register_ingest(sub, add_common)   `fstore ingest`: check files exactly as a build will, copy them in

The commands are registered by the CLI package; importing this module loads nothing heavy (DuckDB
and features.ingest load when a command runs), so `fstore --help` stays fast.

Staleness is measured within a calendar group (crypto trades every day, the others on exchange
days): a symbol is ``stale_days`` behind the newest date any symbol of its group has, or behind a
reference date when one is given. Symbols outside the universe whose rows were quarantined
(``symbol not in universe``) are listed too, so a file of a ticker nobody added is never invisible.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import ConfigError, WarehouseError

if TYPE_CHECKING:
    import duckdb

    from features.config import Project

CRYPTO_CATEGORIES = (
    "crypto",
)  # dim_symbol categories on the every-day calendar; the rest trade on exchange days
DEFAULT_STALE_DAYS = 7  # `fstore sources` warns past this: a long weekend plus holidays is fine
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


def _cmd_sources(args: argparse.Namespace) -> int:
    """`fstore sources`: the coverage report, then WARN lines (exit 1 on warnings with --strict)."""
    from features.config import load_project
    from features.warehouse import connect

    project = load_project(args.project)
    if args.stale_days < 0:
        raise ConfigError(f"--stale-days must be >= 0, got {args.stale_days}")
    as_of = None
    if args.as_of:
        try:
            as_of = dt.date.fromisoformat(args.as_of)
        except ValueError:
            raise ConfigError(f"--as-of must be a date like 2024-01-31, got {args.as_of!r}") from None
    db = Path(args.db).resolve() if getattr(args, "db", None) else project.warehouse_path
    con = connect(db, read_only=True)
    try:
        entries = coverage(con, project, as_of=as_of)
    finally:
        con.close()
    text = render(entries, args.format, args.stale_days)
    if text is not None:
        sys.stdout.write(text)
    found = warnings(entries, args.stale_days)
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(f"{len(entries)} symbol(s): all have prices within {args.stale_days} days", file=sys.stderr)
    return 1 if found and args.strict else 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    """Check price files as the build would and copy them into data/raw; optionally build."""
    from features.config import load_project
    from features.ingest.copy import import_files
    from features.ingest.files import rel

    project = load_project(args.project)
    dry_run = bool(getattr(args, "dry_run", False))
    targets, preview = import_files(project, args.paths, force=args.force, dry_run=dry_run)
    raw_dir = rel(project.path(project.paths.raw), project.root)
    verb = "checked" if dry_run else "copied"
    print(
        f"{verb} {len(targets)} file(s) for {raw_dir}; the next build will read {len(preview.files)} file(s):"
    )
    print(f"  {preview.rows:,} valid rows, {preview.symbols} symbol(s)")
    if preview.rejected:
        detail = ", ".join(f"{n:,} {reason}" for reason, n in sorted(preview.rejected.items()))
        print(f"  {preview.rejected_total:,} row(s) will go to raw_prices_rejected: {detail}")
    if preview.duplicates_dropped:
        print(f"  {preview.duplicates_dropped:,} identical duplicate row(s) will be dropped")
    if preview.adjusted_filled:
        print(f"  {preview.adjusted_filled:,} blank adjusted close(s) will be filled from their neighbours")
    for line in preview.warnings():
        print(line, file=sys.stderr)
    if dry_run:
        print("nothing was copied (--dry-run)")
        return 0
    if getattr(args, "build", False):
        from features.build import run_build

        db = Path(args.db).resolve() if getattr(args, "db", None) else None
        run_build(project, db=db)
        return 0
    print("run `fstore build` to refresh raw_prices and every model")
    return 0


def register(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    """Add ``fstore sources`` to the ``fstore`` parser (same arguments as the other commands' register)."""
    from features.config import OUTPUT_FORMATS

    p = sub.add_parser(
        "sources",
        help="price coverage per symbol: dates, rows, rejected rows, staleness (like dbt source freshness)",
    )
    p.add_argument("--format", choices=OUTPUT_FORMATS, default="table")
    p.add_argument(
        "--stale-days",
        type=int,
        default=DEFAULT_STALE_DAYS,
        metavar="N",
        help=f"warn when a symbol is more than N days behind its calendar group (default {DEFAULT_STALE_DAYS})",
    )
    p.add_argument(
        "--as-of", metavar="DATE", help="measure staleness against this date instead of the newest data"
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when there is any warning (for CI)")
    add_common(p)
    p.set_defaults(handler=_cmd_sources)


def register_ingest(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    """Add ``fstore ingest`` to the ``fstore`` parser (same arguments as :func:`register`)."""
    p = sub.add_parser(
        "ingest", help="check price files (CSV/Parquet) exactly as a build will, then copy them into data/raw"
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="price files or folders of them")
    p.add_argument("--force", action="store_true", help="replace a different file of the same name (whole)")
    p.add_argument(
        "--dry-run", action="store_true", help="check only: print what the build would do, copy nothing"
    )
    p.add_argument("--build", action="store_true", help="run `fstore build` afterwards")
    add_common(p)
    p.set_defaults(handler=_cmd_ingest)


__all__ = [
    "CRYPTO_CATEGORIES",
    "DEFAULT_STALE_DAYS",
    "KEYS",
    "calendar_of",
    "coverage",
    "register",
    "register_ingest",
    "render",
    "status_of",
    "warnings",
]
