"""One pass over the price files: read, parse, check and label every row inside DuckDB's scan.

    stage(con, files, project, known)   fill ``_fstore_ingest_checked`` (raises IngestError naming a file)

Files sharing a header are read by one ``read_csv`` over all of them, the dialect and column types
sniffed once; when a later row breaks a sniffed type the group is read again as text in one scan,
and only when that fails too is each file read alone, so the error names the file at fault.
Columns DuckDB types by itself (ISO dates, plain numbers) are used as read: the fast path that the
common downloads take. Other columns are read as text and parsed by :mod:`features.ingest.formats`,
each file's date layout and decimal mark detected first by one aggregate over its cells. Per-file
values (id, symbol, formats) are list parameters indexed by the row's file name
(``list_position($paths, filename)``), not a join.

Every row lands in ``_fstore_ingest_checked`` (a real table: it becomes raw_prices) with its parsed
values, its file's id and either no ``reason`` (a good row) or the first reason it fails
(:data:`features.ingest.checks.REJECT_REASONS`) with the file's column and its raw text. Symbols are
checked against the universe after the scan: per distinct value for long files, per file for one-symbol
files. The files and the universe are temp tables.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

import features.ingest.formats as formats
from features.config import Project
from features.errors import IngestError
from features.ingest.checks import (
    CHECKED,
    FILES,
    SEP,
    SHORT,
    checked_ddl,
    located,
    reason_case,
    rejected_location,
)
from features.ingest.columns import NUMERIC, resolve_columns
from features.ingest.files import PRICE_SUFFIXES, is_parquet, layout_groups
from features.warehouse import quote_ident

KNOWN = "_fstore_ingest_known"
TEMP_TABLES = (CHECKED, FILES, KNOWN)

_NUMERIC_TYPES = ("DOUBLE", "FLOAT", "REAL", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "DECIMAL")
_NUMERIC_TYPES += tuple("U" + t for t in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT"))


@dataclass
class _Staging:
    """What the scans of one stage share: whether the checked table exists yet."""

    created: bool = False


# the checked table's columns (features.ingest.checks.checked_ddl) from a scan's output
_CHECKED_CASTS = (
    "symbol::varchar as symbol, ts::date as ts, f_open::double as open, f_high::double as high, "
    "f_low::double as low, f_close::double as close, v::double as volume, file_key::ubigint as file_key, "
    "reason::varchar as reason"
)


@dataclass
class Reader:
    """A DuckDB table function over some files and what it yields."""

    sql: str  # e.g. read_csv($paths, …): every option a named parameter
    params: dict[str, Any]
    columns: list[tuple[str, str]]  # (name, DuckDB type) of each column as read


# --------------------------------------------------------------------------------------------- entry


def stage(con: duckdb.DuckDBPyConnection, files: Sequence[Path], project: Project, known: set[str]) -> None:
    """Read ``files`` into ``_fstore_ingest_checked`` (raises IngestError naming a file)."""
    formats.check_settings(project)
    _check_column_map(project)
    _create_tables(con, files, project, known)
    st = _Staging()
    for group in layout_groups(files):
        _read_group(con, group, project, st)
    if not st.created:  # no file yielded a scan (cannot happen: an unreadable file raises)
        con.execute(
            f"create table {CHECKED} ({checked_ddl(fill=project.ingest.missing_adjusted_close == 'fill')})"
        )
    _settle_long_symbols(con, _symbol_map(project), known)
    _settle_file_symbols(con)


def _symbol_map(project: Project) -> dict[str, str]:
    """``[ingest] symbol_map`` keyed as symbols are compared: trimmed and upper-cased."""
    return {k.strip().upper(): v for k, v in project.ingest.symbol_map.items()}


def _check_column_map(project: Project) -> None:
    from features.ingest.columns import CANONICAL

    bad = sorted(v for v in project.ingest.column_map.values() if v not in CANONICAL)
    if bad:
        raise IngestError(
            f"[ingest] column_map maps to unknown column(s) {', '.join(bad)}",
            file=project.config_file,
            hint=f"targets are {', '.join(CANONICAL)}",
        )


def stem_sql(path: str) -> str:
    """SQL of a file's name without its price suffix (``…/^GSPC.csv`` → ``^GSPC``).

    The one definition of a file's symbol: used per chunk of a scan (on DuckDB's ``filename``,
    constant per chunk, so it costs nothing per row) and for the files table.
    """
    suffixes = "|".join(re.escape(s) for s in sorted(PRICE_SUFFIXES, key=len, reverse=True))
    return f"regexp_replace(regexp_extract({path}, '[^/\\\\]*$'), '(?i)({suffixes})$', '')"


def symbol_sql(path: str, symbol_map: dict[str, str]) -> str:
    """SQL of a one-symbol file's symbol: its stem trimmed and upper-cased, then ``$symbol_map``'d."""
    symbol = f"upper(trim({stem_sql(path)}))"
    if not symbol_map:
        return symbol
    return f"coalesce(map_extract_value(map($map_from, $map_to), {symbol}), {symbol})"


def _map_params(project: Project) -> dict[str, Any]:
    symbol_map = _symbol_map(project)
    return {"map_from": list(symbol_map), "map_to": list(symbol_map.values())}


def _create_tables(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], project: Project, known: set[str]
) -> None:
    # CHECKED is a real table, not a temp one: when every check passes it *becomes* raw_prices
    # (features.ingest.checks.swap_in drops the bookkeeping columns and renames it), so the good rows
    # are written once
    con.execute(f"drop table if exists {CHECKED}")  # a killed build's leftover; the first scan creates it
    con.execute(
        f"create or replace temp table {KNOWN} as select unnest($s)::varchar as symbol", {"s": sorted(known)}
    )
    symbol = symbol_sql("path", _symbol_map(project))
    sql = (
        f"create or replace temp table {FILES} as select path, hash(path) as key, {stem_sql('path')} as stem, "
        f"{symbol} as symbol, "
        f"{symbol} in (select symbol from {KNOWN}) as known, null::varchar as symbol_column "
        "from (select unnest($paths) as path)"
    )
    con.execute(sql, used_params(sql, {**_map_params(project), "paths": [str(p) for p in files]}))
    clashes = con.execute(f"select count(*) - count(distinct key) from {FILES}").fetchone()[0]
    if clashes:  # 64-bit hashes of a few thousand paths: never seen; refuse rather than mix files up
        raise IngestError("two price files have the same hash of their path; rename one", file=files[0])


_MISSING_SYMBOL = located("'missing symbol'", "f.symbol_column", "m.raw")
_FILE_NOT_IN_UNIVERSE = located("'symbol not in universe'", "'(file name)'", "f.stem")
_NOT_IN_UNIVERSE = located("'symbol not in universe'", "f.symbol_column", "c.symbol")


def _settle_long_symbols(con: duckdb.DuckDBPyConnection, symbol_map: dict[str, str], known: set[str]) -> None:
    """Symbols read from a symbol column: trimmed, upper-cased and mapped (``[ingest] symbol_map``), then
    checked against the universe (``symbol not in universe``).

    Done after the scan on the few distinct values, not per row in it; the reasons land where the
    scan would have put them (a blank symbol is ``missing symbol``; an unknown one comes after every
    value check and before a blank adjusted close). One-symbol files were settled in the scan.
    """
    long_files = [
        r[0] for r in con.execute(f"select path from {FILES} where symbol_column is not null").fetchall()
    ]
    if not long_files:
        return
    in_long = "file_key in (select hash(unnest($files)))"
    values = [
        r[0]
        for r in con.execute(
            f"select distinct symbol from {CHECKED} where {in_long}", {"files": long_files}
        ).fetchall()
    ]
    changes: dict[str, str | None] = {}
    for value in values:
        if value is not None:
            settled = symbol_map.get(value.strip().upper(), value.strip().upper())
            if settled != value:
                changes[value] = settled or None  # blank: missing symbol
    if changes:
        con.execute(
            f"update {CHECKED} c set symbol = m.settled, "
            f"reason = case when m.settled is null then {_MISSING_SYMBOL} else c.reason end "
            f"from (select unnest($raw) as raw, unnest($settled) as settled) m, {FILES} f "
            "where c.symbol = m.raw and f.key = c.file_key and f.symbol_column is not null",
            {"raw": list(changes), "settled": list(changes.values())},
        )
    unknown = sorted({changes.get(v, v) for v in values if v is not None} - {None} - known)
    if unknown:
        con.execute(
            f"update {CHECKED} c set reason = {_NOT_IN_UNIVERSE} "
            f"from {FILES} f where f.key = c.file_key and f.symbol_column is not null and (c.reason is null or "
            f"split_part(c.reason, {SEP}, 1) = 'missing adjusted close') and c.symbol in (select unnest($s))",
            {"s": unknown},
        )


def _settle_file_symbols(con: duckdb.DuckDBPyConnection) -> None:
    """Rows of one-symbol files whose symbol (from the file name) is outside the universe get
    ``symbol not in universe``, where the scan would have put it: after every value check, before a
    blank adjusted close. The files table knows this per file; testing it per row in the scan (a
    list lookup over the whole universe) cost half of a 2,000-file ingest.
    """
    unknown = con.execute(
        f"select count(*) from {FILES} where symbol_column is null and not known"
    ).fetchone()[0]
    if unknown:
        con.execute(
            f"update {CHECKED} c set reason = {_FILE_NOT_IN_UNIVERSE} from {FILES} f "
            "where f.key = c.file_key and f.symbol_column is null and not f.known and (c.reason is null or "
            f"split_part(c.reason, {SEP}, 1) = 'missing adjusted close')"
        )


# --------------------------------------------------------------------------------------------- groups


def _read_group(con: duckdb.DuckDBPyConnection, group: list[Path], project: Project, st: _Staging) -> None:
    """One scan for the whole group: with sniffed types, else (a later row of some file breaks them)
    every column as text; when even that fails, each file alone, so the error names one."""
    if len(group) > 1 and not is_parquet(group[0]):
        for text in (False, True):
            try:
                _scan(con, group, project, st, text=text)
                return
            except duckdb.Error:
                continue
    for path in group:
        _read_file(con, path, project, st)


def _read_file(con: duckdb.DuckDBPyConnection, path: Path, project: Project, st: _Staging) -> None:
    """Read one file with sniffed types, then (when a later row breaks them) every column as text."""
    error: Exception | None = None
    for text in (False, True):
        if text and is_parquet(path):
            break
        try:
            _scan(con, [path], project, st, text=text)
            return
        except duckdb.Error as exc:
            error = exc
    reason = str(error).strip().splitlines()[0] if error else "unknown error"
    raise IngestError(f"cannot parse price file: {reason}", file=path) from None


# --------------------------------------------------------------------------------------------- readers


def _csv_reader(
    con: duckdb.DuckDBPyConnection, paths: Sequence[Path], project: Project, text: bool
) -> Reader:
    """read_csv with the dialect sniffed from the first file; the types chosen per column role."""
    sniffed = con.execute(
        "select Delimiter, Quote, Escape, SkipRows, HasHeader, Columns, DateFormat, TimestampFormat "
        "from sniff_csv($path)",
        {"path": str(paths[0])},
    ).fetchone()
    delim, quote, escape, skip, has_header, columns, date_fmt, ts_fmt = sniffed
    params: dict[str, Any] = {
        "paths": [str(p) for p in paths],
        "delim": delim,
        "quote": "" if quote == "(empty)" else quote,
        "escape": "" if escape == "(empty)" else escape,
        "skip": skip,
    }
    dialect = "delim = $delim, quote = $quote, escape = $escape, skip = $skip"
    if text or not has_header:
        sql = f"read_csv($paths, header = true, all_varchar = true, {dialect})"
        described = con.execute(f"describe select * from {sql}", params).fetchall()
        return Reader(sql, params, [(r[0], "VARCHAR") for r in described])
    names = [(c["name"], c["type"]) for c in columns]
    types = _typed_columns(names, project, delim=delim, date_fmt=date_fmt, ts_fmt=ts_fmt)
    params["columns"] = types
    sql = f"read_csv($paths, auto_detect = false, header = true, {dialect}, columns = $columns)"
    return Reader(sql, params, list(types.items()))


def _is_iso(fmt: str | None) -> bool:
    return not fmt or fmt.startswith("%Y-%m-%d")


def _typed_columns(
    names: list[tuple[str, str]], project: Project, *, delim: str, date_fmt: str | None, ts_fmt: str | None
) -> dict[str, str]:
    """Keep a sniffed type only where it is unambiguous: ISO dates; numbers when every numeric column
    is one (a ';' file may use decimal commas, so its numbers are always text); the rest as text."""
    roles = {
        raw: canonical
        for canonical, raw in resolve_columns([n for n, _ in names], project.ingest.column_map).items()
    }
    numeric = [t for n, t in names if roles.get(n) in NUMERIC]
    numbers_typed = delim != ";" and all(t.upper().startswith(_NUMERIC_TYPES) for t in numeric)
    out = {}
    for name, typ in names:
        role = roles.get(name)
        if role == "ts" and (
            (typ == "DATE" and _is_iso(date_fmt)) or (typ == "TIMESTAMP" and _is_iso(ts_fmt))
        ):
            out[name] = typ
        elif role in NUMERIC and numbers_typed:
            out[name] = "DOUBLE"
        else:
            out[name] = "VARCHAR"
    return out


def _parquet_reader(con: duckdb.DuckDBPyConnection, paths: Sequence[Path]) -> Reader:
    params = {"paths": [str(p) for p in paths]}
    sql = "read_parquet($paths)"
    described = con.execute(f"describe select * from {sql}", params).fetchall()
    return Reader(sql, params, [(r[0], str(r[1])) for r in described])


# --------------------------------------------------------------------------------------------- the scan


def used_params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The named parameters ``sql`` refers to (DuckDB refuses a statement given unused ones)."""
    return {k: v for k, v in params.items() if re.search(rf"\${re.escape(k)}\b", sql)}


@dataclass
class _Layout:
    """How each canonical column of one reader is read: its file column, and whether it is text."""

    cols: dict[str, str]  # canonical -> file column
    types: dict[str, str]  # file column -> type as read

    def text(self, canonical: str) -> bool:
        return canonical in self.cols and self.types[self.cols[canonical]].upper() == "VARCHAR"

    def ref(self, canonical: str) -> str:
        return "r." + quote_ident(self.cols[canonical])


def _scan(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    project: Project,
    st: _Staging,
    *,
    text: bool,
) -> None:
    reader = _parquet_reader(con, paths) if is_parquet(paths[0]) else _csv_reader(con, paths, project, text)
    names = [n for n, _ in reader.columns]
    cols = resolve_columns(names, project.ingest.column_map)
    _require(cols, names, paths[0])
    if not project.ingest.use_adjusted_close and "adj_close" in cols:  # its close as is, or its only close
        adjusted = cols.pop("adj_close")
        cols.setdefault("close", adjusted)
    layout = _Layout(cols, dict(reader.columns))
    chosen = _detect(con, reader, layout, project, paths)
    params = {**reader.params, **formats.sql_params(project), **_map_params(project)}
    params.update(_per_file_params(chosen))
    params.update({f"n_{c}": raw for c, raw in layout.cols.items()})
    formats_used = sorted({f.date_format for f in chosen if f.date_format})
    select = _select(reader, layout, project, formats_used)
    if st.created:
        sql = f"insert into {CHECKED} {select}"
    else:  # the first scan creates the table (CREATE TABLE AS writes faster than INSERT into an empty one)
        factor = ", factor::double as factor" if project.ingest.missing_adjusted_close == "fill" else ""
        sql = f"create table {CHECKED} as select {_CHECKED_CASTS}{factor} from ({select})"
    con.execute(sql, used_params(sql, params))
    st.created = True
    if "symbol" in cols:
        con.execute(
            f"update {FILES} set symbol_column = $name where path in (select unnest($paths))",
            {"name": cols["symbol"], "paths": [str(p) for p in paths]},
        )


def _per_file_params(chosen: list[formats.FileFormat]) -> dict[str, Any]:
    """Each file's detected formats as lists parallel to ``$paths`` (read only on the text path)."""
    return {
        "g_date_fmts": [f.date_format for f in chosen],
        "g_decs": [f.decimal for f in chosen],
        "g_thous": [f.thousands for f in chosen],
    }


def _require(cols: dict[str, str], columns: list[str], path: Path) -> None:
    missing = [c for c in ("ts", "close") if c not in cols and not (c == "close" and "adj_close" in cols)]
    if missing:
        names = {"ts": "date column (date/timestamp/ts)", "close": "close column (close/adj close)"}
        raise IngestError(
            f"cannot read prices: it has no {' and no '.join(names[m] for m in missing)}; "
            f"columns are {', '.join(columns)}",
            file=path,
            hint="rename the column or map it in [ingest] column_map of config/project.toml",
        )


def _ts_kind(layout: _Layout) -> str:
    """date | timestamp | timestamptz | text (parsed by formats) — how the date column is read."""
    typ = layout.types[layout.cols["ts"]].upper()
    if typ == "DATE":
        return "date"
    if typ.startswith("TIMESTAMP WITH TIME ZONE") or typ == "TIMESTAMPTZ":
        return "timestamptz"
    if typ.startswith("TIMESTAMP"):
        return "timestamp"
    return "text"


def _ts_text(layout: _Layout) -> str:
    ref = layout.ref("ts")
    return f"trim({ref})" if layout.text("ts") else f"trim({ref}::varchar)"


def _detect(
    con: duckdb.DuckDBPyConnection, reader: Reader, layout: _Layout, project: Project, paths: Sequence[Path]
) -> list[formats.FileFormat]:
    """Each file's date format and decimal mark, detected from its text cells (in ``paths`` order)."""
    dates_text = _ts_kind(layout) == "text"
    number_texts = [layout.ref(c) for c in NUMERIC if layout.text(c)]
    configured = bool(project.ingest.date_format)
    need_numbers = bool(number_texts) and not project.ingest.decimal
    per_file: dict[str, formats.FileFormat] = {}
    if dates_text or need_numbers:  # text dates are always looked at: a configured format may not fit
        aggregates = formats.detection_sql(
            _ts_text(layout) if dates_text else None, number_texts, configured=configured and dates_text
        )
        params = {**reader.params, **({"date_format": project.ingest.date_format} if configured else {})}
        sql = f"select r.file_index as file_index, {aggregates} from {reader.sql} r group by r.file_index"
        result = con.execute(sql, used_params(sql, params))
        names = [d[0] for d in result.description]
        for row in result.fetchall():
            stats = dict(zip(names, row, strict=True))
            path = str(paths[int(stats["file_index"])])
            per_file[path] = formats.decide(stats, project, file=path, dates_are_text=dates_text)
    default = formats.decide({}, project, file=str(paths[0]), dates_are_text=False)
    return [per_file.get(str(p), default) for p in paths]


def _ts_sql(layout: _Layout, formats_used: list[str], single: bool) -> tuple[str, str | None]:
    """(parsed DATE, is-missing) SQL of the date column; is-missing is None for a typed column."""
    ref, kind = layout.ref("ts"), _ts_kind(layout)
    if kind == "date":
        return ref, None
    if kind == "timestamp":
        return f"{ref}::date", None
    if kind == "timestamptz":  # an instant: its date in UTC, whatever the session's time zone
        return f"timezone('UTC', {ref})::date", None
    text = _ts_text(layout)
    return formats.date_sql(text, formats_used, per_file=_per_file("date_fmts", single)), formats.missing_sql(
        text
    )


def _number_sql(layout: _Layout, canonical: str, single: bool) -> tuple[str, str]:
    """(parsed DOUBLE, unparseable flag) SQL of a numeric column (NULL, false when absent or typed)."""
    if canonical not in layout.cols:
        return "null::double", "false"
    ref = layout.ref(canonical)
    if not layout.text(canonical):
        return f"{ref}::double", "false"
    parsed = formats.number_sql(
        ref,
        decimal=_per_file("decs", single),
        thousands=_per_file("thous", single),
        volume=canonical == "volume",
    )
    missing = formats.missing_sql(ref)
    return f"(case when {missing} then null else {parsed} end)", f"(not {missing} and {parsed} is null)"


def _per_file(name: str, single: bool) -> str:
    """SQL for the row's file's entry of the per-file list ``$g_<name>`` (a constant for one file;
    else looked up by DuckDB's ``filename``, constant per chunk, so once per chunk)."""
    return f"$g_{name}[1]" if single else f"$g_{name}[list_position($paths, filename)]"


def _select(reader: Reader, layout: _Layout, project: Project, formats_used: list[str]) -> str:
    """The SELECT that yields ``_fstore_ingest_checked`` rows from one reader, in three levels: parse
    (text columns only; typed ones pass as read), adjust and check, then locate the failure (only
    for rejected rows, from the few columns carried for it)."""
    cols = layout.cols
    single = len(reader.params["paths"]) == 1
    ts, ts_missing = _ts_sql(layout, formats_used, single)
    use_adj = project.ingest.use_adjusted_close and "adj_close" in cols
    items = [f"{ts} as ts", "hash(filename) as file_key"]
    raw = {"ts": "ts"}
    if ts_missing is not None:  # a text date: carry its text and emptiness to the checks
        items += [f"{ts_missing} as ts_missing", f"{layout.ref('ts')} as raw_ts"]
        raw["ts"] = "raw_ts"
    bad = {}
    for canonical, short in SHORT.items():
        if canonical == "adj_close" and not use_adj:
            items.append("null::double as a")
            bad[short] = "false"
            continue
        value, flag = _number_sql(layout, canonical, single)
        items.append(f"{value} as {short}")
        bad[short] = flag if flag == "false" else f"bad_{short}"
        if flag != "false":
            items += [f"{flag} as bad_{short}", f"{layout.ref(canonical)} as raw_{short}"]
        if canonical in cols:
            raw[canonical] = f"raw_{short}" if flag != "false" else short
    source = f"{reader.sql} r"
    if "symbol" in cols:  # normalised and checked against the universe after the scan, per distinct symbol
        items.append(f"{layout.ref('symbol')}::varchar as symbol")  # '' is settled after the scan
        raw["symbol"], known_sql = "symbol", "true"
    else:
        symbol = symbol_sql("filename", _symbol_map(project))
        items += [f"{symbol} as symbol", f"{stem_sql('filename')} as raw_symbol"]
        raw["symbol"], known_sql = "raw_symbol", "true"  # checked per file after the scan
    level1 = f"select {', '.join(items)} from {source}"
    if use_adj:
        final = {
            x: f"(case when a is null then {s} else {s} * (a / c) end)"
            for x, s in (("open", "o"), ("high", "h"), ("low", "l"))
        }
        final["close"] = "coalesce(a, c)"
    else:
        final = {"open": "o", "high": "h", "low": "l", "close": "c"}
    fill = use_adj and project.ingest.missing_adjusted_close == "fill"
    reason = reason_case(
        known=known_sql, adjusted=use_adj, bad=bad, ts_missing="false" if ts_missing is None else "ts_missing"
    )
    level2 = (
        f"select p.*, {final['open']} as f_open, {final['high']} as f_high, {final['low']} as f_low, "
        f"{final['close']} as f_close, {reason} as reason from ({level1}) p"
    )
    column, value = rejected_location(
        cols, file_symbol="symbol" not in cols, adjusted=use_adj, bad=bad, raw=raw
    )
    extra = ""
    if project.ingest.missing_adjusted_close == "fill":  # only the fill step reads the factor
        extra = ", a / c as factor" if fill else ", null::double as factor"
    return (
        "select symbol, ts, f_open, f_high, f_low, f_close, v, file_key, "
        f"case when reason is not null then {located('reason', column, value)} end as reason{extra} "
        f"from ({level2}) q"
    )


__all__ = ["CHECKED", "FILES", "KNOWN", "TEMP_TABLES", "Reader", "stage"]
