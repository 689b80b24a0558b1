"""``raw_prices`` and ``raw_prices_rejected`` from the price files (or the synthetic market): the build's
ingest step, and the same check on a scratch database for `fstore ingest`. See :mod:`features.ingest`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

import features.ingest.checks as checks
import features.ingest.scan as scan
from features.config import Project
from features.errors import MappingError, UnknownSymbolError
from features.ingest.files import files_version, price_files, rel
from features.warehouse import record_source_version, source_version, table_exists

SOURCE_NAME = "raw_prices"


@dataclass(frozen=True)
class IngestSummary:
    """What one refresh of ``raw_prices`` did (or, for a preview, would do)."""

    rows: int  # rows in raw_prices
    symbols: int  # distinct symbols in raw_prices
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> rows in raw_prices_rejected
    duplicates_dropped: int = 0  # identical duplicate rows dropped
    source: str = ""  # "synthetic market (...)" or "N files in data/raw"
    files: tuple[str, ...] = ()  # files read (empty for the synthetic market)
    unchanged: bool = False  # True when the input version matched and nothing was rewritten
    version: str = ""
    adjusted_filled: int = 0  # blank adjusted closes filled ([ingest] missing_adjusted_close = "fill")
    # symbols outside the universe whose rows were quarantined -> (rows, files holding them)
    unknown: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    unsynced: tuple[str, ...] = ()  # (preview) symbols in config/symbols.json that have no asset ID yet

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def line(self) -> str:
        """One line for the build log."""
        if self.unchanged:
            return f"raw_prices unchanged ({self.source})"
        text = f"raw_prices: {self.rows:,} rows, {self.symbols} symbols from {self.source}"
        if self.rejected:
            detail = ", ".join(f"{n:,} {reason}" for reason, n in sorted(self.rejected.items()))
            text += f"; {self.rejected_total:,} rows rejected ({detail}) → raw_prices_rejected"
        if self.duplicates_dropped:
            text += f"; {self.duplicates_dropped:,} identical duplicates dropped"
        if self.adjusted_filled:
            text += f"; {self.adjusted_filled:,} blank adjusted closes filled from their neighbours"
        return text

    def warnings(self) -> list[str]:
        """Lines a person must read: symbols quarantined for being outside the universe, or unsynced."""
        out = []
        if self.unknown:
            shown = [
                f"{symbol} ({n:,} rows in {', '.join(files[:2])}{' …' if len(files) > 2 else ''})"
                for symbol, (n, files) in list(self.unknown.items())[:8]
            ]
            more = f", and {len(self.unknown) - 8} more" if len(self.unknown) > 8 else ""
            out.append(
                f"warning: {len(self.unknown)} symbol(s) in price files are not in the universe, so their rows "
                f"were quarantined in raw_prices_rejected (reason 'symbol not in universe'): "
                f"{', '.join(shown)}{more}. To use them, add them to config/symbols.json and run "
                "`fstore symbols sync` (or map a file's name to a universe symbol with [ingest] symbol_map); "
                '[ingest] unknown_symbols = "error" makes this an error'
            )
        if self.unsynced:
            out.append(
                f"note: {len(self.unsynced)} symbol(s) are in config/symbols.json but have no asset ID yet: "
                f"{', '.join(self.unsynced[:10])}{' …' if len(self.unsynced) > 10 else ''}; run "
                "`fstore symbols sync` before `fstore build`"
            )
        return out


# --------------------------------------------------------------------------------------------- checks


def _say(console: Any, message: str) -> None:
    if console is None:
        print(message)
    elif hasattr(console, "print"):
        console.print(message, highlight=False, markup=False)
    else:
        console(message)


def check_symbols(con: duckdb.DuckDBPyConnection, symbols: Sequence[str], source: str) -> None:
    """Stop with the asset-ID contract's error when a symbol has no asset ID in ``dim_symbol``."""
    from features.dimension import check_symbols_known

    if not _has_tables(con, "dim_symbol"):
        raise MappingError(
            "the warehouse has no dim_symbol yet, so prices cannot be given asset IDs",
            hint="run `fstore build`: it creates the asset-ID dimension before ingesting",
        )
    check_symbols_known(con, sorted(symbols), source=source)


def _has_tables(con: duckdb.DuckDBPyConnection, *names: str) -> bool:
    return all(table_exists(con, name, views=False) for name in names)


@dataclass(frozen=True)
class _Checked:
    """What the shared check found, beyond the rows themselves (in the checked table)."""

    scanned: checks.Scanned
    duplicates: int | None  # identical duplicate rows to drop; None: keys proven unique
    filled: int
    unknown: dict[str, tuple[int, tuple[str, ...]]]


def _check_files(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[Path],
    project: Project,
    known: set[str],
    *,
    without_ids: set[str],
    refuse: Any,
) -> _Checked:
    """The one check a build and `fstore ingest` share: scan, fill, refuse, symbol policy, duplicates.

    ``without_ids``: universe symbols that have no asset ID (prices for them stop everything, whatever
    the policy); ``refuse(symbols, files)`` raises the error for symbols outside the universe when
    ``[ingest] unknown_symbols = "error"``.
    """
    scan.stage(con, files, project, known)
    filled = checks.fill_adjusted(con) if project.ingest.missing_adjusted_close == "fill" else 0
    scanned = checks.scan_stats(con)
    checks.refuse_unusable_files(con, files, scanned)
    unknown = checks.unknown_symbols(con)
    contract = sorted(s for s in unknown if s in without_ids)
    if contract:
        refuse(contract, [f for s in contract for f in unknown[s][1]])
    if unknown and project.ingest.unknown_symbols == "error":
        refuse(sorted(unknown), [f for _, paths in unknown.values() for f in paths])
    duplicates = checks.find_duplicates(con, scanned)
    shown = {s: (n, tuple(rel(Path(p), project.root) for p in paths)) for s, (n, paths) in unknown.items()}
    return _Checked(scanned, duplicates, filled, shown)


def _drop_temps(con: duckdb.DuckDBPyConnection) -> None:
    for table in (*scan.TEMP_TABLES, *checks.TEMP_TABLES):
        con.execute(f"drop table if exists {table}")


def _files_shown(files: Sequence[str], project: Project) -> str:
    unique = sorted(set(files))
    shown = ", ".join(rel(Path(f), project.root) for f in unique[:5])
    return shown + (f" and {len(unique) - 5} more files" if len(unique) > 5 else "")


def _universe_without_ids(project: Project, known: set[str]) -> set[str]:
    """Symbols of config/symbols.json that ``known`` (the warehouse's IDs) lacks."""
    from features.errors import FstoreError
    from features.symbols import load_universe

    try:
        return set(load_universe(project.symbols_path).names()) - known
    except FstoreError:
        return set()


# --------------------------------------------------------------------------------------------- steps


def ingest_files(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], project: Project, version: str
) -> IngestSummary:
    """Parse, check and swap in ``files``; raises IngestError / UnknownSymbolError first."""
    raw_dir = project.path(project.paths.raw)
    if not _has_tables(con, "dim_symbol"):
        check_symbols(con, [], source=str(raw_dir))  # raises: no dimension yet
    known = {r[0] for r in con.execute("select symbol from dim_symbol").fetchall()}

    def refuse(symbols: list[str], paths: list[str]) -> None:
        check_symbols(con, symbols, source=_files_shown(paths, project))

    try:
        found = _check_files(
            con, files, project, known, without_ids=_universe_without_ids(project, known), refuse=refuse
        )
        checks.swap_in(con, version, source_name=SOURCE_NAME, duplicates=found.duplicates is not None)
    finally:
        _drop_temps(con)
    # with duplicates, conflicts may have dropped every row of a symbol: count again
    known_count = None if found.duplicates is not None else found.scanned.symbols
    rows, n_symbols, rejected = _counts(con, symbols=known_count)
    return IngestSummary(
        rows=rows,
        symbols=n_symbols,
        rejected=rejected,
        duplicates_dropped=found.duplicates or 0,
        source=f"{len(files)} file(s) in {rel(raw_dir, project.root)}",
        files=tuple(rel(p, project.root) for p in files),
        version=version,
        adjusted_filled=found.filled,
        unknown=found.unknown,
    )


def _counts(con: duckdb.DuckDBPyConnection, *, symbols: int | None = None) -> tuple[int, int, dict[str, int]]:
    """(rows, distinct symbols, reason -> rows); ``symbols`` when already known (saves a scan)."""
    if symbols is None:
        rows, symbols = con.execute("select count(*), count(distinct symbol) from raw_prices").fetchone()
    else:
        rows = con.execute("select count(*) from raw_prices").fetchone()[0]
    rejected = dict(
        con.execute(
            "select reason, count(*) from raw_prices_rejected group by reason order by reason"
        ).fetchall()
    )
    return int(rows), int(symbols), {str(k): int(v) for k, v in rejected.items()}


def declared_symbols(project: Project) -> tuple[set[str], set[str]]:
    """(symbols with an asset ID in the mapping JSON, universe symbols of config/symbols.json)."""
    from features.mapping import load_mapping
    from features.symbols import load_universe

    universe = set(load_universe(project.symbols_path).names())
    with_ids = (
        set(load_mapping(project.mapping_path).symbol_to_id) if project.mapping_path.exists() else set()
    )
    return with_ids, universe


def preview_files(files: Sequence[Path], project: Project) -> IngestSummary:
    """What a build would make of ``files``: the same check on a scratch in-memory database, with
    the symbols of the mapping JSON and config/symbols.json as the universe. Writes nothing.

    Raises what the build would raise (IngestError, UnknownSymbolError with ``unknown_symbols =
    "error"``), so `fstore ingest` refuses exactly what `fstore build` would refuse.
    """
    from features.mapping import unknown_symbols_error

    with_ids, universe = declared_symbols(project)
    known = with_ids | universe

    def refuse(symbols: list[str], paths: list[str]) -> None:
        raise unknown_symbols_error(symbols, source=_files_shown(paths, project))

    con = duckdb.connect()
    try:
        found = _check_files(con, files, project, known, without_ids=set(), refuse=refuse)
        rows, n_symbols, rejected = checks.preview_counts(con, found.scanned, found.duplicates is not None)
        unsynced = tuple(s for s in checks.good_symbols(con) if s not in with_ids)
        return IngestSummary(
            rows=rows,
            symbols=n_symbols,
            rejected=rejected,
            duplicates_dropped=found.duplicates or 0,
            source=f"{len(files)} file(s)",
            files=tuple(str(p) for p in files),
            adjusted_filled=found.filled,
            unknown=found.unknown,
            unsynced=unsynced if project.mapping_path.exists() else (),
        )
    finally:
        con.close()


def ingest_synthetic(con: duckdb.DuckDBPyConnection, project: Project, version: str) -> IngestSummary:
    """Generate the synthetic market for the configured universe and swap it in."""
    from features import synthetic

    universe = synthetic.synthetic_universe(project)
    known = (
        {r[0] for r in con.execute("select symbol from dim_symbol").fetchall()}
        if _has_tables(con, "dim_symbol")
        else None
    )
    extra = sorted(u.symbol for u in universe if u.symbol.startswith("SYN"))
    missing_extra = [s for s in extra if known is not None and s not in known]
    if missing_extra and project.synthetic.extra_symbols:
        raise UnknownSymbolError(
            f"[synthetic] extra_symbols adds {len(missing_extra)} symbol(s) with no asset ID "
            f"({missing_extra[0]} … {missing_extra[-1]})",
            file=project.config_file,
            symbols=missing_extra,
            hint="list them in config/symbols.json under a sectors sub-category (bench/bench_features.py "
            "shows how) and run `fstore symbols sync`, or set extra_symbols = 0",
        )
    check_symbols(con, [u.symbol for u in universe], source="synthetic market")
    table = synthetic.generate_market(universe, project.synthetic)
    con.register("_fstore_synthetic_market", table)
    try:
        select = "select symbol::varchar, ts, open, high, low, close, volume from _fstore_synthetic_market"
        from features.warehouse import transaction

        with transaction(con):
            con.execute(f"create or replace table raw_prices ({checks.RAW_PRICES_DDL})")
            con.execute(f"insert into raw_prices {select}")
            con.execute(f"create or replace table raw_prices_rejected ({checks.REJECTED_DDL})")
            record_source_version(con, SOURCE_NAME, version)
    finally:
        con.unregister("_fstore_synthetic_market")
    rows, n_symbols, rejected = _counts(con)
    cfg = project.synthetic
    return IngestSummary(
        rows=rows,
        symbols=n_symbols,
        rejected=rejected,
        source=f"synthetic market (seed {cfg.seed}, {cfg.years:g} years to {cfg.end_date})",
        version=version,
    )


def refresh_raw_prices(
    con: duckdb.DuckDBPyConnection, project: Project, console: Any = None
) -> IngestSummary:
    """(Re)build ``raw_prices`` and ``raw_prices_rejected`` unless their input is unchanged.

    Prints one summary line, and a warning naming the symbols outside the universe whose rows were
    quarantined.
    """
    raw_dir = project.path(project.paths.raw)
    files = price_files(raw_dir)
    if files:
        version = files_version(files, project)
        source = f"{len(files)} file(s) in {rel(raw_dir, project.root)}"
    else:
        from features import synthetic

        version = synthetic.market_version(project)
        cfg = project.synthetic
        source = f"synthetic market (seed {cfg.seed}, {cfg.years:g} years to {cfg.end_date})"
    if source_version(con, SOURCE_NAME) == version and _has_tables(con, "raw_prices", "raw_prices_rejected"):
        rows, n_symbols, rejected = _counts(con)
        return IngestSummary(rows, n_symbols, rejected, source=source, unchanged=True, version=version)
    if files:
        summary = ingest_files(con, files, project, version)
    else:
        _say(
            console,
            f"no price files in {rel(raw_dir, project.root)}: generating the built-in synthetic market "
            f"(seed {project.synthetic.seed}, {project.synthetic.years:g} years)",
        )
        summary = ingest_synthetic(con, project, version)
    _say(console, summary.line())
    for warning in summary.warnings():
        _say(console, warning)
    return summary


__all__ = [
    "SOURCE_NAME",
    "IngestSummary",
    "check_symbols",
    "declared_symbols",
    "ingest_files",
    "ingest_synthetic",
    "preview_files",
    "refresh_raw_prices",
]
