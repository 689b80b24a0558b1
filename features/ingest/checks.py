"""The row checks, and the steps after the scan: fill or keep blank adjusted closes, split identical and
conflicting duplicates, refuse files with no usable row, and swap both tables in at once.

    reason_case(...)            the CASE that gives a row its first failing reason (in the scan)
    rejected_location(...)      which file column failed, and its raw text (in the scan)
    fill_adjusted(con)          [ingest] missing_adjusted_close = "fill": neighbours' ratio, when exact
    find_duplicates(con)        keys with more than one good row; which of them conflict
    refuse_unusable_files(...)  a file whose every row failed a row check stops everything
    unknown_symbols(con)        symbols outside the universe -> the files that hold them
    swap_in(con, version)       raw_prices and raw_prices_rejected replaced in one transaction

The same functions run for a build and for `fstore ingest`'s check, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
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
FILES = "_fstore_ingest_files"  # one row per file: id, path, stem, symbol, known, date_fmt, dec, thou
_DUPS = "_fstore_ingest_dups"
_CONFLICTS = "_fstore_ingest_conflicts"
_FILL = "_fstore_ingest_fill"
TEMP_TABLES = (_DUPS, _CONFLICTS, _FILL)


# --------------------------------------------------------------------------------------------- in the scan


def reason_case(*, known: str, adjusted: bool) -> str:
    """The first failing check of a scanned row (NULL: a good row).

    Works on the parsed, unadjusted columns ``o h l c a v`` (``a``: adjusted close), the date ``ts``
    and ``symbol``; every price check is scale-free, so it holds before and after adjusting.
    """
    lo, hi = "date '1800-01-01'", "date '2200-12-31'"
    checks = [
        ("symbol is null", "missing symbol"),
        ("ts_missing", "missing date"),
        ("ts is null", "unparseable date"),
        (f"ts not between {lo} and {hi}", "date out of range"),
        ("bad_o or bad_h or bad_l or bad_c or bad_a or bad_v", "unparseable value"),
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
    return "(case " + " ".join(f"when {cond} then '{reason}'" for cond, reason in checks) + " end)"


def rejected_location(cols: dict[str, str], *, file_symbol: bool, adjusted: bool) -> tuple[str, str]:
    """SQL for a rejected row's ``raw_column`` (the file's column name(s)) and ``raw_value`` (its text).

    Column names are the bound parameters ``$n_<canonical>``; a symbol taken from the file name is
    reported as the column ``(file name)`` with the file's stem as its text.
    """
    short = {"open": "o", "high": "h", "low": "l", "close": "c", "adj_close": "a", "volume": "v"}
    close = "close" if "close" in cols else "adj_close"
    targets: list[tuple[str, list[str]]] = [
        ("reason = 'missing symbol'", ["symbol"]),
        ("reason in ('missing date', 'unparseable date', 'date out of range')", ["ts"]),
    ]
    targets += [(f"reason = 'unparseable value' and bad_{s}", [c]) for c, s in short.items()]
    targets.append(("reason = 'missing close'", [close]))
    for c in ("close", "adj_close", "open", "high", "low"):
        targets.append((f"reason = 'non-finite price' and not isfinite({short[c]})", [c]))
        targets.append((f"reason = 'non-positive price' and {short[c]} <= 0", [c]))
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
        raw = {"symbol": "raw_symbol", "ts": "raw_ts"}.get(c) or f"raw_{short[c]}"
        return f"coalesce({raw}::varchar, '')"

    usable = [
        (cond, cs) for cond, cs in targets if all(c in cols or (c == "symbol" and file_symbol) for c in cs)
    ]
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
    if not scalar(con, f"select count(*) from {CHECKED} where reason = 'missing adjusted close'"):
        return 0
    con.execute(
        f"""
        create or replace temp table {_FILL} as
        with blank as (select distinct symbol from {CHECKED} where reason = 'missing adjusted close'),
        rows as (
            select rowid as rid, symbol, ts, factor, reason from {CHECKED} semi join blank using (symbol)
            where reason = 'missing adjusted close' or (reason is null and factor is not null)
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
        "close = close * u.factor, factor = u.factor, reason = null, raw_column = null, raw_value = null "
        f"from {_FILL} u where {CHECKED}.rowid = u.rid"
    )
    return int(scalar(con, f"select count(*) from {_FILL}"))


def find_duplicates(con: duckdb.DuckDBPyConnection) -> int:
    """Tables of (symbol, ts) keys with several good rows, and of those whose rows differ; return the
    number of identical duplicate rows that will be dropped."""
    con.execute(
        f"create or replace temp table {_DUPS} as select symbol, ts from {CHECKED} where reason is null "
        "group by symbol, ts having count(*) > 1"
    )
    con.execute(
        f"create or replace temp table {_CONFLICTS} as select symbol, ts from (select distinct symbol, ts, "
        f"open, high, low, close, volume from {CHECKED} semi join {_DUPS} using (symbol, ts) "
        "where reason is null) group by symbol, ts having count(*) > 1"
    )
    if not scalar(con, f"select count(*) from {_DUPS}"):
        return 0
    return int(
        scalar(
            con,
            f"select count(*) - count(distinct (symbol, ts)) from {CHECKED} semi join {_DUPS} "
            f"using (symbol, ts) anti join {_CONFLICTS} using (symbol, ts) where reason is null",
        )
    )


def refuse_unusable_files(con: duckdb.DuckDBPyConnection, files: Sequence[Path]) -> None:
    """A file that yields no usable row is a mistake (wrong format, wrong file), not data: stop."""
    usable = ", ".join(f"'{r}'" for r in USABLE_REASONS)
    counts = {
        str(path): (int(n), list(reasons or []))
        for path, n, reasons in con.execute(
            f"select f.path, coalesce(c.usable, 0), c.reasons from {FILES} f left join ("
            f"select file_id, count(*) filter (where reason is null or reason in ({usable})) as usable, "
            "list(distinct reason) filter (where reason is not null) as reasons "
            f"from {CHECKED} group by file_id) c on c.file_id = f.id"
        ).fetchall()
    }
    for path in files:
        n, reasons = counts.get(str(path), (0, []))
        if n:
            continue
        why = f"every row was rejected ({', '.join(sorted(reasons))})" if reasons else "it has no data rows"
        hint = "fix or remove the file; rows that fail checks are listed in raw_prices_rejected when a file has some good rows"
        if "unparseable date" in reasons:
            hint = (
                "no known date layout fits its dates: set [ingest] date_format in config/project.toml "
                '(a strptime format such as "%d/%m/%Y"); the rejected rows are listed in raw_prices_rejected'
            )
        elif "missing adjusted close" in reasons:
            hint = (
                "its adjusted close is blank in every usable row: set [ingest] use_adjusted_close = false "
                "to use its close as is, or get a file with adjusted closes"
            )
        raise IngestError(f"no usable price rows: {why}; nothing was changed", file=path, hint=hint)


def unknown_symbols(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Symbols whose rows are otherwise good but are outside the universe -> (rows, files)."""
    rows = con.execute(
        f"select c.symbol, count(*), list(distinct f.path order by f.path) from {CHECKED} c "
        f"join {FILES} f on f.id = c.file_id where c.reason = 'symbol not in universe' "
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


def _valid_select() -> str:
    columns = "symbol, ts, open, high, low, close, volume"
    return (
        f"select {columns} from {CHECKED} anti join {_DUPS} using (symbol, ts) where reason is null "
        f"union all select distinct {columns} from {CHECKED} semi join {_DUPS} using (symbol, ts) "
        f"anti join {_CONFLICTS} using (symbol, ts) where reason is null"
    )


def _rejected_select() -> str:
    values = "c.symbol, c.ts, c.open, c.high, c.low, c.close, c.volume, f.path"
    return (
        f"select {values}, c.reason, c.raw_column, c.raw_value from {CHECKED} c "
        f"join {FILES} f on f.id = c.file_id where c.reason is not null "
        f"union all select {values}, 'conflicting duplicate', null, null from {CHECKED} c "
        f"semi join {_CONFLICTS} k using (symbol, ts) join {FILES} f on f.id = c.file_id where c.reason is null"
    )


def swap_in(con: duckdb.DuckDBPyConnection, version: str, *, source_name: str) -> None:
    """Replace raw_prices and raw_prices_rejected together, or neither (one transaction)."""
    with transaction(con):
        con.execute(f"create or replace table raw_prices ({RAW_PRICES_DDL})")
        con.execute(f"insert into raw_prices {_valid_select()}")
        con.execute(f"create or replace table raw_prices_rejected ({REJECTED_DDL})")
        con.execute(f"insert into raw_prices_rejected {_rejected_select()}")
        record_source_version(con, source_name, version)


def preview_counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int, dict[str, int]]:
    """(rows, symbols, reason -> rows) that :func:`swap_in` would write, without writing."""
    rows, symbols = con.execute(
        f"select count(*), count(distinct symbol) from ({_valid_select()})"
    ).fetchone()
    rejected = con.execute(
        f"select reason, count(*) from ({_rejected_select()}) group by 1 order by 1"
    ).fetchall()
    return int(rows), int(symbols), {str(k): int(v) for k, v in rejected}


__all__ = [
    "CHECKED",
    "FILES",
    "FILL_TOLERANCE",
    "RAW_PRICES_DDL",
    "REJECTED_DDL",
    "REJECT_REASONS",
    "TEMP_TABLES",
    "fill_adjusted",
    "find_duplicates",
    "good_symbols",
    "preview_counts",
    "reason_case",
    "refuse_unusable_files",
    "rejected_location",
    "swap_in",
    "unknown_symbols",
]
