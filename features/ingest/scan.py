"""One pass over the price files: read, parse, check and label every row inside DuckDB's scan.

    stage(con, files, project, known)   fill the temp table ``_fstore_ingest_checked``

Files sharing a header are read by one ``read_csv`` over all of them (the dialect and column types
sniffed once); a group whose scan fails is read file by file, and a file whose sniffed types do not
hold is read again as text, so an error names the one file at fault. Columns DuckDB types by itself
(ISO dates, plain numbers) are used as read: that is the fast path every common download takes.
Other columns are read as text and parsed by :mod:`features.ingest.formats`, with each file's date
format and decimal mark detected first by one aggregate over its cells.

Every row lands in ``_fstore_ingest_checked`` with its parsed values and either no ``reason`` (a good
row) or the first reason it fails (:data:`features.ingest.checks.REJECT_REASONS`), plus the file's
column that failed and its raw text. The temp tables hold a file id, not the path, per row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from features.config import Project
from features.errors import IngestError
from features.ingest import formats
from features.ingest.checks import CHECKED, FILES, reason_case, rejected_location
from features.ingest.columns import NUMERIC, resolve_columns
from features.ingest.files import file_stem, file_symbol, is_parquet, layout_groups
from features.warehouse import quote_ident

KNOWN = "_fstore_ingest_known"
SYMBOL_MAP = "_fstore_ingest_symbol_map"
TEMP_TABLES = (CHECKED, FILES, KNOWN, SYMBOL_MAP)

CHECKED_DDL = (
    "symbol VARCHAR, ts DATE, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE, "
    "factor DOUBLE, file_id INTEGER, reason VARCHAR, raw_column VARCHAR, raw_value VARCHAR"
)
_NUMERIC_TYPES = ("DOUBLE", "FLOAT", "REAL", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "DECIMAL")
_NUMERIC_TYPES += tuple("U" + t for t in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT"))
_SHORT = {"open": "o", "high": "h", "low": "l", "close": "c", "adj_close": "a", "volume": "v"}


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
    for group in layout_groups(files):
        _read_group(con, group, project)


def _check_column_map(project: Project) -> None:
    from features.ingest.columns import CANONICAL

    bad = sorted(v for v in project.ingest.column_map.values() if v not in CANONICAL)
    if bad:
        raise IngestError(
            f"[ingest] column_map maps to unknown column(s) {', '.join(bad)}",
            file=project.config_file,
            hint=f"targets are {', '.join(CANONICAL)}",
        )


def _create_tables(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], project: Project, known: set[str]
) -> None:
    symbol_map = {k.strip().upper(): v for k, v in project.ingest.symbol_map.items()}
    symbols = [file_symbol(p, symbol_map) for p in files]
    con.execute(f"create or replace temp table {CHECKED} ({CHECKED_DDL})")
    con.execute(
        f"create or replace temp table {FILES} as select unnest($ids) as id, unnest($paths) as path, "
        "unnest($stems) as stem, unnest($symbols) as symbol, unnest($known) as known, "
        "null::varchar as date_fmt, '.' as dec, ',' as thou",
        {
            "ids": list(range(len(files))),
            "paths": [str(p) for p in files],
            "stems": [file_stem(p) for p in files],
            "symbols": symbols,
            "known": [s in known for s in symbols],
        },
    )
    con.execute(
        f"create or replace temp table {KNOWN} as select unnest($s)::varchar as symbol", {"s": sorted(known)}
    )
    con.execute(
        f"create or replace temp table {SYMBOL_MAP} as select unnest($k)::varchar as raw, unnest($v)::varchar as symbol",
        {"k": list(symbol_map), "v": list(symbol_map.values())},
    )


# --------------------------------------------------------------------------------------------- groups


def _read_group(con: duckdb.DuckDBPyConnection, group: list[Path], project: Project) -> None:
    """One scan for the whole group; when it fails, each file alone (so the error names one)."""
    if len(group) > 1:
        try:
            _scan(con, group, project, text=False)
            return
        except duckdb.Error:
            pass
    for path in group:
        _read_file(con, path, project)


def _read_file(con: duckdb.DuckDBPyConnection, path: Path, project: Project) -> None:
    """Read one file with sniffed types, then (when a later row breaks them) every column as text."""
    error: Exception | None = None
    for text in (False, True):
        if text and is_parquet(path):
            break
        try:
            _scan(con, [path], project, text=text)
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
        sql = f"read_csv($paths, header = true, all_varchar = true, filename = true, {dialect})"
        described = con.execute(f"describe select * from {sql}", params).fetchall()
        return Reader(sql, params, [(r[0], "VARCHAR") for r in described if r[0] != "filename"])
    names = [(c["name"], c["type"]) for c in columns]
    types = _typed_columns(names, project, delim=delim, date_fmt=date_fmt, ts_fmt=ts_fmt)
    params["columns"] = types
    sql = f"read_csv($paths, auto_detect = false, header = true, filename = true, {dialect}, columns = $columns)"
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
    sql = "read_parquet($paths, filename = true)"
    described = con.execute(f"describe select * from {sql}", params).fetchall()
    return Reader(sql, params, [(r[0], str(r[1])) for r in described if r[0] != "filename"])


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


def _scan(con: duckdb.DuckDBPyConnection, paths: Sequence[Path], project: Project, *, text: bool) -> None:
    reader = _parquet_reader(con, paths) if is_parquet(paths[0]) else _csv_reader(con, paths, project, text)
    names = [n for n, _ in reader.columns]
    cols = resolve_columns(names, project.ingest.column_map)
    _require(cols, names, paths[0])
    if not project.ingest.use_adjusted_close and "adj_close" in cols:  # its close as is, or its only close
        adjusted = cols.pop("adj_close")
        cols.setdefault("close", adjusted)
    layout = _Layout(cols, dict(reader.columns))
    formats_used = _detect(con, reader, layout, project, paths)
    params = {**reader.params, **formats.sql_params(project)}
    params.update({f"n_{c}": raw for c, raw in layout.cols.items()})
    sql = f"insert into {CHECKED} {_select(reader, layout, project, formats_used)}"
    con.execute(sql, used_params(sql, params))


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
) -> list[str]:
    """Detect each file's date format and decimal mark from its text cells; return the formats used."""
    dates_text = _ts_kind(layout) == "text"
    number_texts = [layout.ref(c) for c in NUMERIC if layout.text(c)]
    need_dates = dates_text and not project.ingest.date_format
    need_numbers = bool(number_texts) and not project.ingest.decimal
    per_file: dict[str, formats.FileFormat] = {}
    if need_dates or need_numbers:
        aggregates = formats.detection_sql(_ts_text(layout) if need_dates else None, number_texts)
        result = con.execute(
            f"select r.filename as filename, {aggregates} from {reader.sql} r group by r.filename",
            reader.params,
        )
        names = [d[0] for d in result.description]
        for row in result.fetchall():
            stats = dict(zip(names, row, strict=True))
            per_file[stats["filename"]] = formats.decide(
                stats, project, file=stats["filename"], dates_are_text=dates_text
            )
    default = formats.decide({}, project, file=str(paths[0]), dates_are_text=False)
    chosen = [per_file.get(str(p), default) for p in paths]
    if dates_text and not need_dates:
        chosen = [formats.FileFormat("configured", f.decimal, f.thousands) for f in chosen]
    con.execute(
        f"update {FILES} set date_fmt = u.fmt, dec = u.dec, thou = u.thou from (select unnest($p) as path, "
        "unnest($f) as fmt, unnest($d) as dec, unnest($t) as thou) u where {FILES}.path = u.path".replace(
            "{FILES}", FILES
        ),
        {
            "p": [str(p) for p in paths],
            "f": [f.date_format for f in chosen],
            "d": [f.decimal for f in chosen],
            "t": [f.thousands for f in chosen],
        },
    )
    return sorted({f.date_format for f in chosen if f.date_format})


def _ts_sql(layout: _Layout, formats_used: list[str]) -> tuple[str, str]:
    """(parsed DATE, is-missing) SQL of the date column."""
    ref, kind = layout.ref("ts"), _ts_kind(layout)
    if kind == "date":
        return ref, f"{ref} is null"
    if kind == "timestamp":
        return f"{ref}::date", f"{ref} is null"
    if kind == "timestamptz":  # an instant: its date in UTC, whatever the session's time zone
        return f"timezone('UTC', {ref})::date", f"{ref} is null"
    text = _ts_text(layout)
    return formats.date_sql(text, formats_used, per_file="f.date_fmt"), formats.missing_sql(text)


def _number_sql(layout: _Layout, canonical: str) -> tuple[str, str]:
    """(parsed DOUBLE, unparseable flag) SQL of a numeric column (NULL, false when absent)."""
    if canonical not in layout.cols:
        return "null::double", "false"
    ref = layout.ref(canonical)
    if not layout.text(canonical):
        return f"{ref}::double", "false"
    parsed = formats.number_sql(ref, decimal="f.dec", thousands="f.thou", volume=canonical == "volume")
    missing = formats.missing_sql(ref)
    return f"(case when {missing} then null else {parsed} end)", f"(not {missing} and {parsed} is null)"


def _select(reader: Reader, layout: _Layout, project: Project, formats_used: list[str]) -> str:
    """The SELECT that yields ``_fstore_ingest_checked`` rows from one reader (three small levels)."""
    cols = layout.cols
    ts, ts_missing = _ts_sql(layout, formats_used)
    use_adj = project.ingest.use_adjusted_close and "adj_close" in cols
    items = [f"{ts} as ts", f"{ts_missing} as ts_missing", "f.id as file_id"]
    for canonical in NUMERIC:
        if canonical == "adj_close" and not use_adj:
            items += ["null::double as a", "false as bad_a"]
            continue
        value, bad = _number_sql(layout, canonical)
        short = _SHORT[canonical]
        items += [f"{value} as {short}", f"{bad} as bad_{short}"]
        if canonical in cols:
            items.append(f"{layout.ref(canonical)} as raw_{short}")
    items.append(f"{layout.ref('ts')} as raw_ts")
    joins = f"join {FILES} f on f.path = r.filename"
    if "symbol" in cols:
        text = f"nullif(upper(trim({layout.ref('symbol')}::varchar)), '')"
        items += [f"coalesce(m.symbol, {text}) as symbol", f"{layout.ref('symbol')} as raw_symbol"]
        joins += f" left join {SYMBOL_MAP} m on m.raw = {text}"
        known = f"left join (select symbol as known_symbol from {KNOWN}) k on k.known_symbol = p.symbol"
        known_sql = "(k.known_symbol is not null)"
    else:
        items += ["f.symbol as symbol", "f.stem as raw_symbol", "f.known as known"]
        known, known_sql = "", "p.known"
    level1 = f"select {', '.join(items)} from {reader.sql} r {joins}"
    if use_adj:
        final = {
            x: f"(case when a is null then {s} else {s} * (a / c) end)"
            for x, s in (("open", "o"), ("high", "h"), ("low", "l"))
        }
        final["close"], factor = "coalesce(a, c)", "a / c"
    else:
        final, factor = {"open": "o", "high": "h", "low": "l", "close": "c"}, "null::double"
    reason = reason_case(known=known_sql, adjusted=use_adj)
    level2 = (
        f"select p.*, {final['open']} as f_open, {final['high']} as f_high, {final['low']} as f_low, "
        f"{final['close']} as f_close, {factor} as factor, {reason} as reason from ({level1}) p {known}"
    )
    column, value = rejected_location(cols, file_symbol="symbol" not in cols, adjusted=use_adj)
    return (
        "select symbol, ts, f_open, f_high, f_low, f_close, v, factor, file_id, reason, "
        f"case when reason is not null then {column} end, case when reason is not null then {value} end "
        f"from ({level2}) q"
    )


__all__ = ["CHECKED", "CHECKED_DDL", "FILES", "KNOWN", "TEMP_TABLES", "Reader", "stage"]
