"""Raw prices in: files under ``data/raw`` (or the synthetic market) → ``raw_prices``.

    refresh_raw_prices(con, project)   the build step after the asset-ID step

Files are CSV (optionally ``.gz``) or Parquet, found recursively under ``project.paths.raw``:

* **long format**: a ``symbol`` column (aliases ``ticker``, ``sym``, ``asset``), any number of
  symbols per file;
* **one file per symbol**: no symbol column, the symbol is the file name's stem upper-cased
  (``aapl.csv`` → ``AAPL``), e.g. the common ``Date,Open,High,Low,Close,Adj Close,Volume`` download.

Column names are matched case-insensitively ignoring spaces, ``_`` and ``-`` against the aliases in
:data:`ALIASES`; ``[ingest] column_map`` in config/project.toml adds more (raw name → canonical
name). Only a date and a close column are required: close-only series are valid and their
open/high/low/volume are NULL. When an adjusted close is present (and ``use_adjusted_close`` is on,
the default) it replaces close, and open/high/low are scaled by the same factor (adj / close) so
the bar stays consistent.

Bad rows never reach ``raw_prices``: they go to ``raw_prices_rejected`` with a ``reason``
(:data:`REJECT_REASONS`), and the counts are returned in :class:`IngestSummary`. Identical
duplicate rows are dropped (and counted); rows that disagree on the same (symbol, ts) are all
rejected as ``conflicting duplicate``. A file that cannot be parsed raises :class:`IngestError`
naming it, before anything is replaced: both tables are swapped in one transaction.

With no price files the deterministic synthetic market (:mod:`features.synthetic`) is generated
for the configured universe. Either way the input's cheap version (file names, sizes, mtimes and
the ingest config; or the synthetic parameters and universe) is recorded with
:func:`features.warehouse.record_source_version`, and an unchanged input is a no-op.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from features.config import Project
from features.errors import IngestError, MappingError, UnknownSymbolError
from features.warehouse import record_source_version, source_version

SOURCE_NAME = "raw_prices"
INGEST_FORMAT = 1  # bump when parsing/validation rules change, so existing warehouses re-ingest
PRICE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq")
CANONICAL = ("symbol", "ts", "open", "high", "low", "close", "adj_close", "volume")

# normalised raw name (lower-case, no spaces/_/-) -> canonical column
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
    "open": "open",
    "o": "open",
    "high": "high",
    "h": "high",
    "low": "low",
    "l": "low",
    "close": "close",
    "c": "close",
    "price": "close",
    "last": "close",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "adjclosing": "adj_close",
    "volume": "volume",
    "vol": "volume",
    "v": "volume",
}

REJECT_REASONS = (
    "missing symbol",
    "unparseable date",
    "unparseable value",
    "missing close",
    "non-finite price",
    "non-positive price",
    "high < low",
    "close outside [low, high]",
    "non-finite volume",
    "negative volume",
    "conflicting duplicate",
)

RAW_PRICES_DDL = "symbol VARCHAR, ts DATE, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE"
_STAGE = "_fstore_ingest_stage"


@dataclass(frozen=True)
class IngestSummary:
    """What one refresh of ``raw_prices`` did."""

    rows: int  # rows in raw_prices
    symbols: int  # distinct symbols in raw_prices
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> rows in raw_prices_rejected
    duplicates_dropped: int = 0  # identical duplicate rows dropped
    source: str = ""  # "synthetic market (...)" or "N files in data/raw"
    files: tuple[str, ...] = ()  # files read (empty for the synthetic market)
    unchanged: bool = False  # True when the input version matched and nothing was rewritten
    version: str = ""

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
        return text


# --------------------------------------------------------------------------------------------- files


def price_files(raw_dir: Path) -> list[Path]:
    """Price files under ``raw_dir`` (recursive, sorted; hidden files and folders skipped)."""
    if not raw_dir.is_dir():
        return []
    found = []
    for path in raw_dir.rglob("*"):
        rel = path.relative_to(raw_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.name.lower().endswith(PRICE_SUFFIXES):
            found.append(path)
    return sorted(found)


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name.strip().lower())


def resolve_columns(columns: Sequence[str], column_map: dict[str, str] | None = None) -> dict[str, str]:
    """Map canonical names to a file's raw column names (config ``column_map`` wins over aliases)."""
    aliases = dict(ALIASES)
    for raw, canonical in (column_map or {}).items():
        aliases[_norm(raw)] = canonical
    found: dict[str, str] = {}
    for column in columns:
        canonical = aliases.get(_norm(column))
        if canonical in CANONICAL and canonical not in found:
            found[canonical] = column
    return found


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


def _reader(paths: Sequence[Path], all_varchar: bool = False) -> str:
    """A DuckDB table function reading ``paths`` (one layout) with a ``filename`` column.

    The paths are never SQL text: the function takes them as the statement's one bound parameter
    (pass ``[list_of_paths]`` when executing).
    """
    files = "?::varchar[]"
    if _is_parquet(paths[0]):
        return f"read_parquet({files}, filename = true)"
    opts = ", all_varchar = true" if all_varchar else ""
    delim = ", delim = '\\t'" if paths[0].name.lower().endswith(".tsv") else ""
    return f"read_csv({files}, header = true, filename = true{delim}{opts})"


def _file_symbol(path: Path) -> str:
    stem = path.name
    for suffix in PRICE_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return stem.strip().upper()


def _layout_key(path: Path) -> tuple[str, bytes] | None:
    """Files with the same key share a header and can be read in one scan; None: read alone."""
    name = path.name.lower()
    if _is_parquet(path):
        return None
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            first = handle.readline(65536)
    except OSError:
        return None
    kind = ".tsv" if name.endswith(".tsv") else ".csv"
    return (kind, first.rstrip(b"\r\n"))


def _check_column_map(project: Project) -> None:
    bad_keys = sorted(v for v in project.ingest.column_map.values() if v not in CANONICAL)
    if bad_keys:
        raise IngestError(
            f"[ingest] column_map maps to unknown column(s) {', '.join(bad_keys)}",
            file=project.config_file,
            hint=f"targets are {', '.join(CANONICAL)}",
        )


def _stage_files(con: duckdb.DuckDBPyConnection, files: Sequence[Path], project: Project) -> None:
    """Append every file's rows, renamed and cast, to the staging table (raises IngestError).

    Files sharing a header are read in one scan (thousands of per-symbol files in seconds); if that
    scan fails, each file of the group is read alone so the error names the culprit.
    """
    _check_column_map(project)
    con.execute("create or replace temp table _fstore_ingest_files (path VARCHAR, symbol VARCHAR)")
    con.execute(
        "insert into _fstore_ingest_files select unnest(?::varchar[]), unnest(?::varchar[])",
        [[str(p) for p in files], [_file_symbol(p) for p in files]],
    )
    groups: dict[object, list[Path]] = {}
    for path in files:
        key = _layout_key(path)
        groups.setdefault(key if key is not None else ("alone", str(path)), []).append(path)
    for group in groups.values():
        if len(group) > 1:
            try:
                _stage_group(con, group, project, all_varchar=False, sniff_once=True)
                continue
            except (IngestError, duckdb.Error):
                pass
        for path in group:
            _stage_file(con, path, project)


def _stage_file(con: duckdb.DuckDBPyConnection, path: Path, project: Project) -> None:
    """Stage one file, retrying with every column as text when the sniffer typed a column wrongly."""
    last_error: Exception | None = None
    for all_varchar in (False, True):  # the sniffer may type a column from a clean sample only
        try:
            _stage_group(con, [path], project, all_varchar=all_varchar)
            return
        except IngestError:
            raise
        except duckdb.Error as exc:
            last_error = exc
            if _is_parquet(path):
                break
    reason = str(last_error).splitlines()[0] if last_error else "unknown error"
    raise IngestError(f"cannot parse price file: {reason}", file=path) from None


def _sniffed_reader(con: duckdb.DuckDBPyConnection, first: Path) -> tuple[str, list[Any]]:
    """read_csv with the dialect and types sniffed from ``first`` (sniffing every file costs ~15 ms each).

    Every option is a bound parameter; the caller binds the path list first.
    """
    delim, quote, escape, skip, header, columns, date_fmt, ts_fmt = con.execute(
        "select Delimiter, Quote, Escape, SkipRows, HasHeader, Columns, DateFormat, TimestampFormat "
        "from sniff_csv(?)",
        [str(first)],
    ).fetchone()
    options = {
        "delim": delim,
        "quote": "" if quote == "(empty)" else quote,
        "escape": "" if escape == "(empty)" else escape,
        "skip": skip,
        "header": header,
        "columns": {c["name"]: c["type"] for c in columns},
    }
    if date_fmt:
        options["dateformat"] = date_fmt
    if ts_fmt:
        options["timestampformat"] = ts_fmt
    named = "".join(f", {name} = ?" for name in options)
    return f"read_csv(?::varchar[], auto_detect = false, filename = true{named})", list(options.values())


def _stage_group(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    project: Project,
    *,
    all_varchar: bool,
    sniff_once: bool = False,
) -> None:
    params: list[Any] = [[str(p) for p in paths]]
    if sniff_once and not _is_parquet(paths[0]):
        reader, options = _sniffed_reader(con, paths[0])
        params += options
    else:
        reader = _reader(paths, all_varchar)
    described = con.execute(f"select * from {reader} limit 0", params)
    columns = [d[0] for d in described.description if d[0] != "filename"]
    text_columns = {d[0] for d in described.description if str(d[1]).upper() == "VARCHAR"}
    described.fetchall()
    cols = resolve_columns(columns, project.ingest.column_map)
    missing = [c for c in ("ts", "close") if c not in cols and not (c == "close" and "adj_close" in cols)]
    if missing:
        names = {"ts": "date column (date/timestamp/ts)", "close": "close column (close/adj close)"}
        raise IngestError(
            f"cannot read prices: it has no {' and no '.join(names[m] for m in missing)}; "
            f"columns are {', '.join(columns)}",
            file=paths[0],
            hint="rename the column or map it in [ingest] column_map of config/project.toml",
        )
    con.execute(f"insert into {_STAGE} {_select_for(reader, cols, project, text_columns)}", params)


def _select_for(reader: str, cols: dict[str, str], project: Project, text_columns: set[str]) -> str:
    """The staging SELECT; only text columns can hold unparseable values (a typed column cannot)."""

    def ref(canonical: str) -> str:
        return "r." + _quote(cols[canonical])

    def num(canonical: str) -> str:
        return f"try_cast({ref(canonical)} as double)" if canonical in cols else "null::double"

    def bad(canonical: str) -> str:
        if canonical not in cols or cols[canonical] not in text_columns:
            return "false"
        q = ref(canonical)
        return f"({q} is not null and trim({q}::varchar) <> '' and try_cast({q} as double) is null)"

    symbol = f"nullif(trim({ref('symbol')}::varchar), '')" if "symbol" in cols else "f.symbol"
    ts = f"try_cast({ref('ts')} as date)"
    use_adj = project.ingest.use_adjusted_close and "adj_close" in cols
    if use_adj:
        close = f"coalesce({num('adj_close')}, {num('close')})" if "close" in cols else num("adj_close")
        factor = f"({num('adj_close')} / {num('close')})" if "close" in cols else "null::double"
        ohl = {c: f"{num(c)} * {factor}" for c in ("open", "high", "low")}
    else:
        close = num("close")
        ohl = {c: num(c) for c in ("open", "high", "low")}
    unparseable = " or ".join(bad(c) for c in ("open", "high", "low", "close", "adj_close", "volume"))
    return (
        f"select {symbol} as symbol, {ts} as ts, {ohl['open']} as open, {ohl['high']} as high, "
        f"{ohl['low']} as low, {close} as close, {num('volume')} as volume, r.filename as source, "
        f"({unparseable}) as unparseable "
        f"from {reader} r left join _fstore_ingest_files f on f.path = r.filename"
    )


_CLASSIFY = """
create or replace temp table _fstore_ingest_checked as
select symbol, ts, open, high, low, close, volume, source, case
    when symbol is null then 'missing symbol'
    when ts is null then 'unparseable date'
    when unparseable then 'unparseable value'
    when close is null then 'missing close'
    when not isfinite(close) or not isfinite(open) or not isfinite(high) or not isfinite(low)
        then 'non-finite price'
    when close <= 0 or open <= 0 or high <= 0 or low <= 0 then 'non-positive price'
    when high < low then 'high < low'
    when close < low or close > high then 'close outside [low, high]'
    when not isfinite(volume) then 'non-finite volume'
    when volume < 0 then 'negative volume'
end as reason
from {stage}
"""

_DISTINCT = """
create or replace temp table _fstore_ingest_distinct as
select distinct symbol, ts, open, high, low, close, volume
from _fstore_ingest_checked where reason is null;
create or replace temp table _fstore_ingest_conflicts as
select symbol, ts from _fstore_ingest_distinct group by symbol, ts having count(*) > 1;
"""

_VALID = """
create or replace temp table _fstore_ingest_valid as
select d.* from _fstore_ingest_distinct d anti join _fstore_ingest_conflicts c using (symbol, ts)
"""

_REJECTED = """
select symbol, ts, open, high, low, close, volume, source, reason
from _fstore_ingest_checked where reason is not null
union all
select k.symbol, k.ts, k.open, k.high, k.low, k.close, k.volume, k.source, 'conflicting duplicate'
from _fstore_ingest_checked k semi join _fstore_ingest_conflicts c using (symbol, ts)
where k.reason is null
"""
_TEMPS = (
    _STAGE,
    "_fstore_ingest_checked",
    "_fstore_ingest_distinct",
    "_fstore_ingest_conflicts",
    "_fstore_ingest_valid",
    "_fstore_ingest_files",
)


# ------------------------------------------------------------------------------------------ versions


def files_version(files: Sequence[Path], project: Project) -> str:
    """A cheap version of the raw files: names, sizes, mtimes, and the ingest config."""
    raw_dir = project.path(project.paths.raw)
    entries = []
    for path in files:
        st = path.stat()
        entries.append([str(path.relative_to(raw_dir)), st.st_size, st.st_mtime_ns])
    payload = {"format": INGEST_FORMAT, "ingest": asdict(project.ingest), "files": entries}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    return f"files:{len(files)}:{digest}"


# --------------------------------------------------------------------------------------------- steps


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


def _swap_in(con: duckdb.DuckDBPyConnection, select_valid: str, select_rejected: str, version: str) -> None:
    """Replace raw_prices and raw_prices_rejected together, or neither."""
    con.execute("begin transaction")
    try:
        con.execute(
            f"create or replace table raw_prices ({RAW_PRICES_DDL});insert into raw_prices {select_valid}"
        )
        con.execute(
            f"create or replace table raw_prices_rejected ({RAW_PRICES_DDL}, source VARCHAR, reason VARCHAR);"
            f"insert into raw_prices_rejected {select_rejected}"
        )
        record_source_version(con, SOURCE_NAME, version)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int, dict[str, int]]:
    rows, symbols = con.execute("select count(*), count(distinct symbol) from raw_prices").fetchone()
    rejected = dict(
        con.execute(
            "select reason, count(*) from raw_prices_rejected group by reason order by reason"
        ).fetchall()
    )
    return int(rows), int(symbols), {str(k): int(v) for k, v in rejected.items()}


def _has_tables(con: duckdb.DuckDBPyConnection, *names: str) -> bool:
    found = con.execute(
        "select count(distinct table_name) from duckdb_tables() "
        "where schema_name = 'main' and table_name in (select unnest(?::varchar[]))",
        [list(names)],
    ).fetchone()[0]
    return found == len(names)


def ingest_files(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], project: Project, version: str
) -> IngestSummary:
    """Parse, validate and swap in ``files``; raises IngestError / UnknownSymbolError first."""
    raw_dir = project.path(project.paths.raw)
    try:
        _stage_and_classify(con, files, project)
        by_source = con.execute(
            "select source, list(distinct symbol order by symbol) from _fstore_ingest_checked "
            "where reason is null group by source order by source"
        ).fetchall()
        symbols = sorted({s for _, syms in by_source for s in syms})
        known = _known_symbols(con)
        if known is not None:
            bad_sources = [src for src, syms in by_source if set(syms) - known]
            if bad_sources:
                shown = ", ".join(_rel(Path(s), raw_dir) for s in bad_sources[:5])
                more = f" and {len(bad_sources) - 5} more files" if len(bad_sources) > 5 else ""
                check_symbols(con, [s for s in symbols if s not in known], source=shown + more)
        else:
            check_symbols(con, symbols, source=str(raw_dir))
        _refuse_files_without_valid_rows(con, files)
        duplicates = _duplicates(con)
        _swap_in(con, "select * from _fstore_ingest_valid", _REJECTED, version)
    finally:
        for table in _TEMPS:
            con.execute(f"drop table if exists {table}")
    rows, n_symbols, rejected = _counts(con)
    return IngestSummary(
        rows=rows,
        symbols=n_symbols,
        rejected=rejected,
        duplicates_dropped=int(duplicates),
        source=f"{len(files)} file(s) in {_rel(raw_dir, project.root)}",
        files=tuple(_rel(p, project.root) for p in files),
        version=version,
    )


def _refuse_files_without_valid_rows(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> None:
    """A file that yields no usable row is a mistake (wrong format, wrong file), not data: stop."""
    counts = {
        str(src): (int(valid), list(reasons or []))
        for src, valid, reasons in con.execute(
            "select source, count(*) filter (where reason is null), "
            "list(distinct reason) filter (where reason is not null) "
            "from _fstore_ingest_checked group by source"
        ).fetchall()
    }
    for path in files:
        valid, reasons = counts.get(str(path), (0, []))
        if valid == 0:
            why = (
                f"every row was rejected ({', '.join(sorted(reasons))})" if reasons else "it has no data rows"
            )
            raise IngestError(
                f"no usable price rows: {why}; nothing was changed",
                file=path,
                hint="fix or remove the file; rows that fail checks are listed in raw_prices_rejected "
                "when a file has some good rows",
            )


def _stage_and_classify(con: duckdb.DuckDBPyConnection, files: Sequence[Path], project: Project) -> None:
    """Read ``files`` into temp tables: every row with its reason (or none), and the valid rows."""
    con.execute(
        f"create or replace temp table {_STAGE} (symbol VARCHAR, ts DATE, open DOUBLE, high DOUBLE, "
        "low DOUBLE, close DOUBLE, volume DOUBLE, source VARCHAR, unparseable BOOLEAN)"
    )
    _stage_files(con, files, project)
    con.execute(_CLASSIFY.format(stage=_STAGE))
    con.execute(_DISTINCT)
    con.execute(_VALID)


def _duplicates(con: duckdb.DuckDBPyConnection) -> int:
    return int(
        con.execute(
            "select (select count(*) from _fstore_ingest_checked where reason is null) - "
            "(select count(*) from _fstore_ingest_distinct)"
        ).fetchone()[0]
    )


def _known_symbols(con: duckdb.DuckDBPyConnection) -> set[str] | None:
    if not _has_tables(con, "dim_symbol"):
        return None
    return {r[0] for r in con.execute("select symbol from dim_symbol").fetchall()}


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def ingest_synthetic(con: duckdb.DuckDBPyConnection, project: Project, version: str) -> IngestSummary:
    """Generate the synthetic market for the configured universe and swap it in."""
    from features import synthetic

    universe = synthetic.synthetic_universe(project)
    known = _known_symbols(con)
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
        empty = "select * from raw_prices_rejected where false"
        con.execute(
            f"create table if not exists raw_prices_rejected ({RAW_PRICES_DDL}, source VARCHAR, reason VARCHAR)"
        )
        _swap_in(con, select, empty, version)
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


def preview_files(files: Sequence[Path], project: Project) -> IngestSummary:
    """Parse and validate ``files`` on a scratch in-memory database; nothing is written anywhere."""
    con = duckdb.connect()
    try:
        _stage_and_classify(con, files, project)
        rows, symbols = con.execute(
            "select count(*), count(distinct symbol) from _fstore_ingest_valid"
        ).fetchone()
        con.execute(f"create temp table raw_prices_rejected as {_REJECTED}")
        rejected = dict(
            con.execute("select reason, count(*) from raw_prices_rejected group by reason").fetchall()
        )
        return IngestSummary(
            rows=int(rows),
            symbols=int(symbols),
            rejected={str(k): int(v) for k, v in sorted(rejected.items())},
            duplicates_dropped=_duplicates(con),
            source=f"{len(files)} file(s)",
            files=tuple(str(p) for p in files),
        )
    finally:
        con.close()


def import_files(
    project: Project, paths: Sequence[str | Path], *, force: bool = False
) -> tuple[list[Path], IngestSummary]:
    """``fstore ingest``: check that price files parse, then copy them into ``data/raw``.

    ``data/raw`` stays the single source of truth that every build reads, so an import is just a
    validated copy; the next build ingests it (and stops on unknown symbols). Folders are searched
    for price files. A different file already in ``data/raw`` under the same name is an error
    unless ``force``. Returns the copied paths and a preview of what the build will ingest.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).resolve()
        if path.is_dir():
            files.extend(price_files(path))
        elif not path.is_file():
            raise IngestError("no such file or folder", file=path)
        elif not path.name.lower().endswith(PRICE_SUFFIXES):
            raise IngestError(f"not a price file (expected {', '.join(PRICE_SUFFIXES)})", file=path)
        else:
            files.append(path)
    if not files:
        raise IngestError("no price files found in " + ", ".join(str(p) for p in paths))
    names: dict[str, Path] = {}
    for path in files:
        if path.name in names:
            raise IngestError(f"two files named {path.name} ({names[path.name]} and {path})", file=path)
        names[path.name] = path
    preview = preview_files(files, project)
    raw_dir = project.path(project.paths.raw)
    targets = []
    for path in files:
        target = raw_dir / path.name
        clash = target.exists() and target.resolve() != path and not force
        if clash and target.read_bytes() != path.read_bytes():
            raise IngestError(
                f"{_rel(target, project.root)} already exists with different contents",
                file=path,
                hint="pass --force to replace it",
            )
        targets.append(target)
    raw_dir.mkdir(parents=True, exist_ok=True)
    for path, target in zip(files, targets, strict=True):
        if target.resolve() != path:
            shutil.copy2(path, target)
    return targets, preview


def refresh_raw_prices(
    con: duckdb.DuckDBPyConnection, project: Project, console: Any = None
) -> IngestSummary:
    """(Re)build ``raw_prices`` and ``raw_prices_rejected`` unless their input is unchanged."""
    raw_dir = project.path(project.paths.raw)
    files = price_files(raw_dir)
    if files:
        version = files_version(files, project)
        source = f"{len(files)} file(s) in {_rel(raw_dir, project.root)}"
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
            f"no price files in {_rel(raw_dir, project.root)}: generating the built-in synthetic market "
            f"(seed {project.synthetic.seed}, {project.synthetic.years:g} years)",
        )
        summary = ingest_synthetic(con, project, version)
    _say(console, summary.line())
    return summary


__all__ = [
    "ALIASES",
    "REJECT_REASONS",
    "IngestSummary",
    "files_version",
    "import_files",
    "ingest_files",
    "ingest_synthetic",
    "preview_files",
    "price_files",
    "refresh_raw_prices",
    "resolve_columns",
]
