"""The row checks, and the steps after the scan: fill or keep blank adjusted closes, split identical and
conflicting duplicates, refuse files with no usable row, and swap both tables in at once.

    reason_case(...)            the CASE that gives a row its first failing reason (in the scan)
    rejected_location(...)      which file column failed, and its raw text (in the scan)
    fill_adjusted(con)          [ingest] missing_adjusted_close = "fill": neighbours' ratio, when exact
    scan_stats(con)             counts of the good rows, and a streaming proof that their keys are unique
    find_duplicates(con, s)     (only without that proof) keys with several good rows; which conflict
    refuse_unusable_files(...)  a file whose every row failed a row check stops everything
    unknown_symbols(con)        symbols outside the universe -> the files that hold them
    swap_in(con, version)       raw_prices and raw_prices_rejected replaced in one transaction

The same functions run for a build and for `fstore ingest`'s check, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from features.errors import IngestError
from features.warehouse import record_source_version, scalar, transaction

# In the order they are tested: a row gets the first that applies.
REJECT_REASONS = (
    "missing symbol",
    "missing date",
    "unparseable date",
    "date out of range",
    "unparseable value",
    "missing close",
    "non-finite price",
    "non-positive price",
    "high < low",
    "close outside [low, high]",
    "non-finite volume",
    "negative volume",
    "symbol not in universe",
    "missing adjusted close",
    "conflicting duplicate",
)
# Rows with these reasons passed every row check; a file holding only such rows is not a mistake.
USABLE_REASONS = ("symbol not in universe",)
FILL_TOLERANCE = 1e-3  # neighbours' adj/close ratios must agree this closely (relative) to fill between

RAW_PRICES_DDL = "symbol VARCHAR, ts DATE, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE"
REJECTED_DDL = f"{RAW_PRICES_DDL}, source VARCHAR, reason VARCHAR, raw_column VARCHAR, raw_value VARCHAR"

CHECKED = "_fstore_ingest_checked"  # every scanned row, with its reason (written by features.ingest.scan)
# A rejected row's ``reason`` cell holds "reason<US>file column[<US>raw text]" (US: the ASCII unit
# separator; no second one when there is no raw text): one mostly-NULL column instead of three keeps the
# scan's write as cheap as a bare copy.
SEP = "chr(31)"
WHY = f"split_part(reason, {SEP}, 1)"  # the reason alone (filter on `reason is not null` first: it skips
# whole row groups of good rows by their statistics)
FILES = (
    "_fstore_ingest_files"  # one row per file: path, key (hash of path), stem, symbol, known, symbol_column
)
_DUPS = "_fstore_ingest_dups"
_CONFLICTS = "_fstore_ingest_conflicts"
_FILL = "_fstore_ingest_fill"
TEMP_TABLES = (_DUPS, _CONFLICTS, _FILL, CHECKED)  # CHECKED is a real table until it becomes raw_prices
# columns of the checked table that raw_prices does not have (factor only with missing_adjusted_close = "fill")
BOOKKEEPING_COLUMNS = ("factor", "file_key", "reason")


def checked_ddl(*, fill: bool) -> str:
    """Columns of the checked table: raw_prices' own, then the row's file, reason and (to fill) factor.

    ``file_key`` is ``hash(path)``: computed from DuckDB's ``filename``, which is constant per chunk of
    a scan, it costs nothing per row and compresses to nothing (a file id looked up per row cost 40%
    more); the files table maps it back to the path.
    """
    return f"{RAW_PRICES_DDL}, file_key UBIGINT, reason VARCHAR" + (", factor DOUBLE" if fill else "")


def located(reason: str, column: str, value: str) -> str:
    """SQL of a rejected row's ``reason`` cell from three SQL expressions (see SEP)."""
    return f"({reason} || {SEP} || coalesce({column}, '') || coalesce({SEP} || {value}, ''))"


# --------------------------------------------------------------------------------------------- in the scan


def reason_case(*, known: str, adjusted: bool, bad: dict[str, str], ts_missing: str) -> str:
    """The first failing check of a scanned row (NULL: a good row).

    Works on the parsed, unadjusted columns ``o h l c a v`` (``a``: adjusted close), the date ``ts``
    and ``symbol``; every price check is scale-free, so it holds before and after adjusting.
    ``bad`` maps each of ``o h l c a v`` to SQL that is true when its text did not parse (``false`` for
    a column the reader typed), ``ts_missing`` is SQL for an empty date cell.
    """
    lo, hi = "date '1800-01-01'", "date '2200-12-31'"
    unparseable = " or ".join(v for v in bad.values() if v != "false") or "false"
    checks = [
        ("symbol is null", "missing symbol"),
        (ts_missing, "missing date"),
        ("ts is null", "unparseable date"),
        (f"ts not between {lo} and {hi}", "date out of range"),
        (unparseable, "unparseable value"),
        ("c is null and a is null", "missing close"),
        (
            "not isfinite(c) or not isfinite(a) or not isfinite(o) or not isfinite(h) or not isfinite(l)",
            "non-finite price",
        ),
        ("c <= 0 or a <= 0 or o <= 0 or h <= 0 or l <= 0", "non-positive price"),
        ("h < l", "high < low"),
        ("c < l or c > h", "close outside [low, high]"),
        ("not isfinite(v)", "non-finite volume"),
        ("v < 0", "negative volume"),
        (f"not {known}", "symbol not in universe"),
    ]
    if adjusted:
        checks.append(("a is null", "missing adjusted close"))
    return (
        "(case "
        + " ".join(f"when {cond} then '{reason}'" for cond, reason in checks if cond != "false")
        + " end)"
    )


SHORT = {"open": "o", "high": "h", "low": "l", "close": "c", "adj_close": "a", "volume": "v"}


def rejected_location(
    cols: dict[str, str], *, file_symbol: bool, adjusted: bool, bad: dict[str, str], raw: dict[str, str]
) -> tuple[str, str]:
    """SQL for a rejected row's file column name(s) and raw text, evaluated only for rejected rows.

    Column names are the bound parameters ``$n_<canonical>``; a symbol taken from the file name is
    reported as the column ``(file name)`` with the file's stem as its text. ``raw`` maps a canonical
    column to SQL of its text as read; ``bad`` is as for :func:`reason_case`.
    """
    close = "close" if "close" in cols else "adj_close"
    targets: list[tuple[str, list[str]]] = [
        ("reason = 'missing symbol'", ["symbol"]),
        ("reason in ('missing date', 'unparseable date', 'date out of range')", ["ts"]),
    ]
    targets += [
        (f"reason = 'unparseable value' and {bad[s]}", [c]) for c, s in SHORT.items() if bad[s] != "false"
    ]
    targets.append(("reason = 'missing close'", [close]))
    for c in ("close", "adj_close", "open", "high", "low"):
        targets.append((f"reason = 'non-finite price' and not isfinite({SHORT[c]})", [c]))
        targets.append((f"reason = 'non-positive price' and {SHORT[c]} <= 0", [c]))
    targets += [
        ("reason = 'high < low'", ["high", "low"]),
        ("reason = 'close outside [low, high]'", ["close", "low", "high"]),
        ("reason in ('non-finite volume', 'negative volume')", ["volume"]),
        ("reason = 'symbol not in universe'", ["symbol"]),
    ]
    if adjusted:
        targets.append(("reason = 'missing adjusted close'", ["adj_close"]))

    def name(c: str) -> str:
        return "'(file name)'" if c == "symbol" and file_symbol else f"$n_{c}"

    def text(c: str) -> str:
        return f"coalesce({raw[c]}::varchar, '')"

    usable = [(cond, cs) for cond, cs in targets if all(c in raw for c in cs)]
    column = " ".join(f"when {cond} then concat_ws(', ', {', '.join(map(name, cs))})" for cond, cs in usable)
    value = " ".join(f"when {cond} then concat_ws(', ', {', '.join(map(text, cs))})" for cond, cs in usable)
    return f"(case {column} end)", f"(case {value} end)"


# --------------------------------------------------------------------------------------------- after the scan


def fill_adjusted(con: duckdb.DuckDBPyConnection) -> int:
    """Fill blank adjusted closes where it is exact; return how many rows were filled.

    A row is filled only when the nearest earlier and the nearest later good rows of its symbol both
    have an adj/close ratio and the two agree (within FILL_TOLERANCE): then no split or dividend lies
    between them and the later row's ratio is the row's own (back-adjusted data changes its ratio only
    at corporate actions). Blank runs at the start or end of a history, or across a ratio change,
    stay quarantined as ``missing adjusted close``.
    """
    if not scalar(
        con, f"select count(*) from {CHECKED} where reason is not null and {WHY} = 'missing adjusted close'"
    ):
        return 0
    con.execute(
        f"""
        create or replace temp table {_FILL} as
        with blank as (
            select distinct symbol from {CHECKED} where reason is not null and {WHY} = 'missing adjusted close'
        ),
        rows as (
            select rowid as rid, symbol, ts, factor, {WHY} as reason from {CHECKED} semi join blank using (symbol)
            where {WHY} = 'missing adjusted close' or (reason is null and factor is not null)
        ),
        w as (
            select rid, reason,
                last_value(factor ignore nulls) over (partition by symbol order by ts
                    rows between unbounded preceding and 1 preceding) as before,
                first_value(factor ignore nulls) over (partition by symbol order by ts
                    rows between 1 following and unbounded following) as after
            from rows
        )
        select rid, after as factor from w
        where reason = 'missing adjusted close' and abs(after / before - 1) <= {FILL_TOLERANCE}
        """
    )
    con.execute(
        f"update {CHECKED} set open = open * u.factor, high = high * u.factor, low = low * u.factor, "
        "close = close * u.factor, factor = u.factor, reason = null "
        f"from {_FILL} u where {CHECKED}.rowid = u.rid"
    )
    return int(scalar(con, f"select count(*) from {_FILL}"))


@dataclass(frozen=True)
class Scanned:
    """What one streaming pass over the good rows shows (:func:`scan_stats`)."""

    good_rows: int
    symbols: int  # distinct symbols among good rows
    usable_files: frozenset[str]  # files with a usable row (good, or good but outside the universe)
    unique: bool  # proven: no (symbol, ts) occurs twice among good rows, so no de-duplication is needed


_STATS = f"""
select count(*), list(s) filter (where s is distinct from ps), list(f) filter (where f is distinct from pf),
    count(*) filter (where step = 0 or step * pstep < 0)
from (
    select *, lag(step) over () as pstep from (
        select *, case when s = ps then sign(ts - pts) end as step from (
            select s, ts, f, lag(s) over () as ps, lag(ts) over () as pts, lag(f) over () as pf
            from (select symbol as s, ts, file_key as f from {CHECKED} where reason is null))))
"""


def scan_stats(con: duckdb.DuckDBPyConnection) -> Scanned:
    """Counts of the good rows and a cheap proof that their keys are unique.

    Streaming windows (no sort, no hash table) walk the good rows once and keep only where a symbol's
    run or a file's rows start: if every symbol's rows form one run and the dates inside each run
    strictly rise or strictly fall (a per-symbol file, sorted either way, or a long file sorted by
    symbol), no (symbol, ts) can repeat, whatever order DuckDB reads them in. Otherwise
    :func:`find_duplicates` does the full check.
    """
    good, run_starts, file_starts, breaks = con.execute(_STATS).fetchone()
    paths = dict(con.execute(f"select key, path from {FILES}").fetchall())
    run_starts, file_starts = run_starts or [], file_starts or []
    outside = {
        r[0]
        for r in con.execute(
            f"select distinct file_key from {CHECKED} "
            f"where reason is not null and {WHY} in ({', '.join(map(_literal, USABLE_REASONS))})"
        ).fetchall()
    }
    symbols = set(run_starts)
    usable = frozenset(paths[k] for k in {*file_starts, *outside})
    return Scanned(int(good), len(symbols), usable, unique=breaks == 0 and len(run_starts) == len(symbols))


def _literal(reason: str) -> str:
    return "'" + reason.replace("'", "''") + "'"  # reasons are this module's constants


def find_duplicates(con: duckdb.DuckDBPyConnection, scanned: Scanned) -> int | None:
    """None when keys are unique; else fill the tables of repeated keys and of conflicting keys (rows
    that differ) and return the number of identical duplicate rows that will be dropped."""
    if scanned.unique:
        return None
    con.execute(
        f"create or replace temp table {_DUPS} as select symbol, ts from {CHECKED} where reason is null "
        "group by symbol, ts having count(*) > 1"
    )
    con.execute(
        f"create or replace temp table {_CONFLICTS} as select symbol, ts from (select distinct symbol, ts, "
        f"open, high, low, close, volume from {CHECKED} semi join {_DUPS} using (symbol, ts) "
        "where reason is null) group by symbol, ts having count(*) > 1"
    )
    return int(
        scalar(
            con,
            f"select count(*) - count(distinct (symbol, ts)) from {CHECKED} semi join {_DUPS} "
            f"using (symbol, ts) anti join {_CONFLICTS} using (symbol, ts) where reason is null",
        )
    )


def refuse_unusable_files(con: duckdb.DuckDBPyConnection, files: Sequence[Path], scanned: Scanned) -> None:
    """A file that yields no usable row is a mistake (wrong format, wrong file), not data: stop."""
    unusable = [p for p in files if str(p) not in scanned.usable_files]
    if not unusable:
        return
    path = unusable[0]
    found = [
        r[0]
        for r in con.execute(
            f"select distinct {WHY} from {CHECKED} where file_key = hash($path) order by 1",
            {"path": str(path)},
        ).fetchall()
    ]
    why = f"every row was rejected ({', '.join(found)})" if found else "it has no data rows"
    hint = "fix or remove the file; rows that fail checks are listed in raw_prices_rejected when a file has some good rows"
    if "unparseable date" in found:
        hint = (
            "no known date layout fits its dates: set [ingest] date_format in config/project.toml "
            '(a strptime format such as "%d/%m/%Y"); the rejected rows are listed in raw_prices_rejected'
        )
    elif "missing adjusted close" in found:
        hint = (
            "its adjusted close is blank in every usable row: set [ingest] use_adjusted_close = false "
            "to use its close as is, or get a file with adjusted closes"
        )
    raise IngestError(f"no usable price rows: {why}; nothing was changed", file=path, hint=hint)


def unknown_symbols(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Symbols whose rows are otherwise good but are outside the universe -> (rows, files)."""
    rows = con.execute(
        f"select c.symbol, count(*), list(distinct f.path order by f.path) from {CHECKED} c "
        f"join {FILES} f on f.key = c.file_key where c.reason is not null "
        f"and split_part(c.reason, {SEP}, 1) = 'symbol not in universe' "
        "group by c.symbol order by c.symbol"
    ).fetchall()
    return {str(s): (int(n), tuple(paths)) for s, n, paths in rows}


def good_symbols(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Symbols with at least one good row."""
    return [
        r[0]
        for r in con.execute(
            f"select distinct symbol from {CHECKED} where reason is null order by 1"
        ).fetchall()
    ]


_PRICE_COLUMNS = "symbol, ts, open, high, low, close, volume"


def _rejected_select(duplicates: bool) -> str:
    values = "c.symbol, c.ts, c.open, c.high, c.low, c.close, c.volume, f.path"
    why, column = (f"split_part(c.reason, {SEP}, {i})" for i in (1, 2))
    start = f"length({why}) + length({column}) + 2"  # where the second separator is, if the value is there
    value = f"case when length(c.reason) >= {start} then c.reason[{start} + 1:] end"
    sql = (
        f"select {values}, {why} as reason, nullif({column}, '') as raw_column, {value} as raw_value "
        f"from {CHECKED} c join {FILES} f on f.key = c.file_key where c.reason is not null"
    )
    if duplicates:
        sql += (
            f" union all select {values}, 'conflicting duplicate', null, null from {CHECKED} c "
            f"semi join {_CONFLICTS} k using (symbol, ts) join {FILES} f on f.key = c.file_key where c.reason is null"
        )
    return sql


def swap_in(con: duckdb.DuckDBPyConnection, version: str, *, source_name: str, duplicates: bool) -> None:
    """Replace raw_prices and raw_prices_rejected together, or neither (one transaction).

    The rejected rows are copied out; what stays in the checked table is exactly the good rows, so
    the table itself becomes raw_prices (bookkeeping columns dropped, renamed): the good rows are
    written once, by the scan.
    """
    with transaction(con):
        con.execute(f"create or replace table raw_prices_rejected ({REJECTED_DDL})")
        con.execute(f"insert into raw_prices_rejected {_rejected_select(duplicates)}")
        if duplicates:  # keep one row per identical key; drop every row of a conflicting one
            con.execute(
                f"create or replace temp table _fstore_ingest_keep as select distinct {_PRICE_COLUMNS} "
                f"from {CHECKED} semi join {_DUPS} using (symbol, ts) anti join {_CONFLICTS} using (symbol, ts) "
                "where reason is null"
            )
            con.execute(f"delete from {CHECKED} c using {_DUPS} d where c.symbol = d.symbol and c.ts = d.ts")
            con.execute(f"insert into {CHECKED} ({_PRICE_COLUMNS}) select * from _fstore_ingest_keep")
            con.execute("drop table _fstore_ingest_keep")
        con.execute(f"delete from {CHECKED} where reason is not null")
        present = {r[0] for r in con.execute(f"select column_name from (describe {CHECKED})").fetchall()}
        for column in BOOKKEEPING_COLUMNS:
            if column in present:
                con.execute(f"alter table {CHECKED} drop column {column}")
        con.execute("drop table if exists raw_prices")
        con.execute(f"alter table {CHECKED} rename to raw_prices")
        record_source_version(con, source_name, version)


def preview_counts(
    con: duckdb.DuckDBPyConnection, scanned: Scanned, duplicates: bool
) -> tuple[int, int, dict[str, int]]:
    """(rows, symbols, reason -> rows) that :func:`swap_in` would write, without writing."""
    rows, symbols = scanned.good_rows, scanned.symbols
    if duplicates:
        rows, symbols = con.execute(
            f"select count(*), count(distinct symbol) from (select {_PRICE_COLUMNS} from {CHECKED} "
            f"anti join {_DUPS} using (symbol, ts) where reason is null union all select distinct {_PRICE_COLUMNS} "
            f"from {CHECKED} semi join {_DUPS} using (symbol, ts) anti join {_CONFLICTS} using (symbol, ts) "
            "where reason is null)"
        ).fetchone()
    rejected = con.execute(
        f"select reason, count(*) from ({_rejected_select(duplicates)}) group by 1 order by 1"
    ).fetchall()
    return int(rows), int(symbols), {str(k): int(v) for k, v in rejected}


__all__ = [
    "BOOKKEEPING_COLUMNS",
    "CHECKED",
    "FILES",
    "FILL_TOLERANCE",
    "RAW_PRICES_DDL",
    "REJECTED_DDL",
    "REJECT_REASONS",
    "SEP",
    "SHORT",
    "TEMP_TABLES",
    "WHY",
    "Scanned",
    "checked_ddl",
    "fill_adjusted",
    "find_duplicates",
    "good_symbols",
    "located",
    "preview_counts",
    "reason_case",
    "refuse_unusable_files",
    "rejected_location",
    "scan_stats",
    "swap_in",
    "unknown_symbols",
]
