"""Incremental refresh on DuckDB: recompute only what changed, exactly equal to a full rebuild.

For an incremental model M (time column T, optional partition column P, lookback L rows, lookahead A
rows — declared or derived by :mod:`features.models.lookback`) and each *windowed* input U (an upstream
relation that has T, and P when M has one), :func:`refresh` runs these steps, each a function below:

1. :func:`high_water_marks` — per partition, ``hw = max(T)`` already in M.
2. :func:`scan_input` — U's first new row is its first row with T > hw. Rows of U up to ``A_U``
   positions earlier may have changed too, where ``A_U`` is U's own chained lookahead (a label model
   upstream rewrites its last rows when a day arrives). M's rows whose window reaches a changed input
   row start ``A`` positions earlier still. The same pass checks U's history (below) and records its
   tail.
3. :func:`recompute_starts` — the recompute start ``r`` per partition: the earliest over all inputs.
4. :func:`stage_inputs` — each windowed input is re-read from ``L`` positions before ``r`` so every
   window sees its full window; inputs without T/P (e.g. ``dim_symbol``) are read whole (and when
   their data changes, the planner rebuilds M in full instead).
5. :func:`compute_rows` — the model's SQL (or Python function) over the staged inputs, keeping rows
   at or after ``r``.
6. :func:`replace_rows` — M's rows at or after ``r`` (and any with a recomputed ``unique_key``) are
   deleted and the new rows inserted, in the caller's transaction.

Unbounded windows (ranking, cumulative frames, Python models) re-read a changed partition's whole
history, which is still exact.

The passes that find new rows read only each input's *tail* where they can: for an input that fstore
refreshes itself, the build records the earliest of each partition's ``d``-th latest time (``d`` = the
rows the pass needs before the new ones, at least 1). Rows before that tail cannot change without a
full rebuild upstream (which rebuilds this model in full too: restated sources are caught by the hash
check below, new rows come after the latest time, a look-ahead rewrites the last rows only), so the
next refresh scans rows from the tail on instead of the whole input. A partition short of ``d`` rows
leaves no tail (the next pass scans everything); a partition short of them inside the tail is
recomputed whole. Both only cost time, never exactness.

Restated history is detected, not assumed away: for every windowed input that fstore does not itself
refresh incrementally (sources, table and view models) the build records the input's max time and
the order-independent sum of its row hashes (:func:`features.warehouse.row_hash_sum`, the warehouse's
one relation fingerprint, computed in the same pass that finds the new rows). If the rows up to that
time hash differently next time (a changed, deleted or late row), the model is rebuilt in full
instead, and so are incremental models downstream of it. Warehouses built by an older fstore recorded
an XOR of the row hashes: it never equals the sum, so each such model is rebuilt in full once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from features.engines.duckdb.python import python_frame
from features.errors import ModelError
from features.models.incremental import OWN_TAIL, Restated, depth, shift
from features.warehouse import first_row, quote_ident, row_hash_sum, scalar

if TYPE_CHECKING:
    import duckdb

    from features.engines.base import Stats, Window
    from features.models.discovery import Model


@dataclass
class Refresh:
    """One refresh in progress: the model, its window, and what each step found."""

    con: duckdb.DuckDBPyConnection
    model: Model
    window: Window
    stats: Stats = field(default_factory=dict)
    temps: list[str] = field(default_factory=lambda: ["__fstore_new"])  # temps holding rows
    mapping: dict[str, str] = field(default_factory=dict)  # input -> relation the model reads it from
    shadows: list[str] = field(default_factory=list)  # temp views shadowing an input's name
    lows: dict[str, object] = field(default_factory=dict)  # Python models: time bound of each input

    @property
    def t(self) -> str:
        return quote_ident(self.model.header.time_column or "")

    def p(self, alias: str) -> str:
        """The partition expression of ``alias`` (the constant 1 without partitions)."""
        part = self.model.header.partition_by
        return f"{alias}.{quote_ident(part)}" if part else "1"

    @property
    def single(self) -> bool:
        return len(self.window.windowed) == 1


def refresh(con: duckdb.DuckDBPyConnection, model: Model, window: Window) -> tuple[int, Stats]:
    """Run one incremental refresh of ``model`` inside the caller's transaction (the module's steps).

    Raises :class:`Restated` when a checked input's history changed (the caller rebuilds in full).
    Returns the rows written and the new stats (windowed inputs, and the model's own tail).
    """
    if not window.windowed:
        h = model.header
        raise ModelError(
            f"incremental model `{model.name}` reads no input with its time column `{h.time_column}`"
            + (f" and partition column `{h.partition_by}`" if h.partition_by else ""),
            file=model.file,
            model=model.name,
        )
    r = Refresh(con, model, window)
    high_water_marks(r)
    starts = [scan_input(r, i, name) for i, name in enumerate(window.windowed)]
    input_stats_after_scan(r)
    if not recompute_starts(r, starts):
        r.stats[OWN_TAIL] = [scalar(con, "select min(hw)::varchar from __fstore_hw")]
        _drop(con, r.temps)
        return 0, r.stats  # no input has new rows
    stage_inputs(r)
    rows = compute_rows(r)
    replace_rows(r)
    _drop(con, r.temps)
    return rows, r.stats


def high_water_marks(r: Refresh) -> None:
    """Step 1: ``__fstore_hw`` (partition, hw). Every partition's max was at or after the recorded own
    tail last time, so only rows from there on are aggregated (a partition below it would count as
    new: slower, still exact). The own tail recorded now, ``min(hw)``, is read with step 6's query."""
    t, own_tail = r.t, r.window.own_tail
    bound, params = ("", []) if own_tail is None else (f" where m.{t} >= ?", [own_tail])
    r.con.execute(
        f"create or replace temp table __fstore_hw as select {r.p('m')} as p, max(m.{t}) as hw"
        f" from {quote_ident(r.model.name)} m{bound} group by 1",
        params,
    )


def scan_input(r: Refresh, i: int, name: str) -> str:
    """Step 2 for one windowed input: one pass into ``__fstore_c{i}`` finds, per partition, where its
    changes start (NULL: the whole history); with one windowed input (the usual case) also where to
    start re-reading it; and what :func:`input_stats_after_scan` reads to check its history or record
    its tail. Returns a SELECT of (p, r, rs)."""
    t, model, upstream_ahead = r.t, r.model, r.window.upstream_ahead
    n_shift = shift(model, name, upstream_ahead)
    n_depth = depth(model, name, r.window.windowed, upstream_ahead)
    tops = f"max(u.{t}, {n_depth}) filter (where u.{t} <= hw.hw)" if n_depth else "null"
    # `shift` rows before the first new row: the shift-th latest time at or before hw
    start = "null" if n_shift is None else "c.first_new" if n_shift == 0 else f"c.tops[{n_shift}]"
    back = model.lookback
    read = "null"
    if r.single and n_shift is not None and back is not None:
        read = start if back == 0 else f"c.tops[{n_shift + back}]"
    d = max(n_depth, 1)
    hashes, where, params = _history_columns(r, name, d)
    # one partition: its mark is a constant, no join of every input row needed
    hw_join = (
        f"left join __fstore_hw hw on {r.p('u')} = hw.p"
        if model.header.partition_by
        else "cross join (select max(hw) as hw from __fstore_hw) hw"
    )
    r.con.execute(
        f"create or replace temp table __fstore_c{i} as"
        f" select {r.p('u')} as p, bool_or(hw.hw is null) as new_partition,"
        f" min(u.{t}) filter (where hw.hw is null or u.{t} > hw.hw) as first_new, {tops} as tops,"
        f" {hashes}"
        f" from {quote_ident(name)} u {hw_join}{where} group by 1",
        params,
    )
    return (
        f"select c.p, case when c.new_partition then null else {start} end as r,"
        f" case when c.new_partition then null else {read} end as rs"
        f" from __fstore_c{i} c where c.first_new is not null"
    )


def _history_columns(r: Refresh, name: str, d: int) -> tuple[str, str, list[object]]:
    """The pass's columns for the history check (checked inputs) or the tail (the others), its
    WHERE clause and parameters."""
    t = r.t
    if name in r.window.checked:  # rows up to the last build's max time must hash as they did then
        hashes = (
            f"null as tail_tops, max(u.{t}) as max_t, {row_hash_sum('u')} as h_all,"
            f" {row_hash_sum('u', where=f'u.{t} <= ?')} as h_old"
        )
        return hashes, "", [r.window.checked[name][0]]
    hashes = f"max(u.{t}, {d}) as tail_tops, null as max_t, null as h_all, null as h_old"
    tail = r.window.tails.get(name)
    if tail is not None:  # only the tail can hold new or rewritten rows
        return hashes, f" where u.{t} >= ?", [tail]
    return hashes, "", []


def input_stats_after_scan(r: Refresh) -> None:
    """After every input's pass, one statement: raise :class:`Restated` when a checked input's rows up
    to the recorded time hash differently; else record its new max time and hash, and each other
    input's tail (the time the next refresh may start its pass over that input from)."""
    parts: list[str] = []
    for i, name in enumerate(r.window.windowed):
        c = f"__fstore_c{i}"
        if name in r.window.checked:
            parts += [
                f"(select max(max_t)::varchar from {c})",
                f"(select sum(h_all)::hugeint::varchar from {c})",
                f"(select sum(h_old)::hugeint::varchar from {c})",
            ]
        else:
            d = max(depth(r.model, name, r.window.windowed, r.window.upstream_ahead), 1)
            parts.append(
                f"(select case when bool_and(len(tail_tops) >= {d}) then min(tail_tops[{d}])::varchar end"
                f" from {c})"
            )
    row = list(first_row(r.con, "select " + ", ".join(parts)) or ())
    for name in r.window.windowed:
        if name in r.window.checked:
            max_t, h_all, h_old = row[:3]
            del row[:3]
            if h_old != r.window.checked[name][1]:
                raise Restated(name)
            r.stats[name] = [max_t, h_all, None]
        else:
            r.stats[name] = [None, None, row.pop(0)]


def recompute_starts(r: Refresh, starts: list[str]) -> bool:
    """Step 3: ``__fstore_r`` (p, whole, r, rs), the earliest start over the inputs per partition
    (whole history if any says so). False when no input has new rows."""
    return bool(
        scalar(
            r.con,
            "create or replace temp table __fstore_r as select p, bool_or(r is null) as whole, min(r) as r,"
            " min(rs) as rs from (" + " union all ".join(starts) + ") group by p",
        )
    )


def stage_inputs(r: Refresh) -> None:
    """Step 4: each windowed input re-read from ``lookback`` rows before the recompute start.

    One time bound per input, the earliest over its partitions: more history than a partition needs
    is harmless, because only rows at or after each partition's recompute start are kept. A SQL model
    reads its filtered inputs under their own names: a temp view of the same name shadows the
    relation, and the model's SQL runs as written (no rewrite, so no sqlglot). The view filters by a
    session variable holding the bound (set as a bound parameter), which DuckDB folds into a constant:
    the filter and the columns the model uses reach the table scan, and no copy of the rows is made.
    Not when an input is a view, whose body might read a shadowed name. Rolled back with the
    transaction on failure, dropped right after use otherwise.
    """
    model, window = r.model, r.window
    db, views = "", set()
    if model.kind == "sql":
        db, views = _database_and_views(r.con, [*window.windowed, *window.static])
    shadow = model.kind == "sql" and not views
    bounds: dict[str, tuple[object, object]] = {}  # the same query for every input: run it once
    for i, name in enumerate(window.windowed):
        query = _bound_sql(r, name)
        fresh = query not in bounds
        if fresh:
            bounds[query] = first_row(r.con, query) or (True, None)
        everything, lower = bounds[query]
        if everything:
            r.mapping[name] = name  # some partition needs its whole history: read the input as it is
        elif shadow:  # a view, not a copy: the bound and the model's columns reach the scan itself
            variable = f"__fstore_lo_{list(bounds).index(query)}"
            if fresh:
                r.con.execute(f"set variable {variable} = ?", [lower])
            r.con.execute(
                f"create or replace temp view {quote_ident(name)} as select * from"
                f" {quote_ident(db)}.main.{quote_ident(name)} u where u.{r.t} >= getvariable('{variable}')"
            )
            r.shadows.append(name)
            r.mapping[name] = name
        elif model.kind == "python":  # read straight into Polars, filtered by the bound
            r.lows[name] = lower
        else:
            src = f"__fstore_in{i}"
            r.con.execute(
                f"create or replace temp table {src} as select * from {quote_ident(name)} u"
                f" where u.{r.t} >= ?",
                [lower],
            )
            r.temps.append(src)
            r.mapping[name] = src


def _bound_sql(r: Refresh, name: str) -> str:
    """SELECT (whole history needed?, lower time bound) of one windowed input."""
    t, back = r.t, r.model.lookback
    if r.single:
        return "select bool_or(whole or rs is null), min(rs) from __fstore_r"
    if back == 0:  # each partition reads from its recompute start: no pass over the input
        return "select bool_or(whole or r is null), min(r) from __fstore_r"
    read_from = "null" if back is None else f"(max(u.{t}, {back}) filter (where u.{t} < r.r))[{back}]"
    return (
        f"select bool_or(rs is null), min(rs) from (select r.p,"
        f" case when bool_or(r.whole) then null else {read_from} end as rs"
        f" from __fstore_r r join {quote_ident(name)} u on {r.p('u')} = r.p group by r.p)"
    )


def compute_rows(r: Refresh) -> int:
    """Step 5: ``__fstore_new``, the model's rows at or after each partition's recompute start."""
    keep = f"join __fstore_r r on {r.p('q')} = r.p where r.whole or q.{r.t} >= r.r"
    if r.model.kind == "python":
        body = "select * from __fstore_frame"
        r.con.register("__fstore_frame", _python_rows(r).to_arrow())
    else:
        same = all(k == v for k, v in r.mapping.items())
        body = r.model.sql if same else rewrite_refs(r.model.sql, r.mapping)
    try:
        rows = int(
            scalar(r.con, f"create or replace temp table __fstore_new as select q.* from ({body}) q {keep}")
        )
    finally:
        if r.model.kind == "python":
            r.con.unregister("__fstore_frame")
    for name in r.shadows:  # the inputs are themselves again
        r.con.execute(f"drop view temp.main.{quote_ident(name)}")
    return rows


def _python_rows(r: Refresh) -> Any:
    """A Python model's function over its inputs (bounded by the staged time bounds) and, for a
    stateful model, exactly the rows from each group's recompute start and its own last row before."""

    model, t, window = r.model, r.t, r.window
    inputs: dict[str, str | tuple[str, dict[str, object]]] = {
        n: f"select * from {quote_ident(n)}" for n in (*window.windowed, *window.static)
    }
    for n, low in r.lows.items():
        inputs[n] = (f"select * from {quote_ident(n)} u where u.{t} >= $lo", {"lo": low})
    this = None
    if model.stateful:
        for n in window.windowed:
            rows_from = (
                f"select u.* from {quote_ident(n)} u join __fstore_r r on {r.p('u')} = r.p"
                f" where (r.whole or u.{t} >= r.r)"
            )
            # with a bound no partition is whole, and the bound is at or before every start
            inputs[n] = (rows_from + f" and u.{t} >= $lo", {"lo": r.lows[n]}) if n in r.lows else rows_from
        this = _own_last_rows(r)
    return python_frame(r.con, model, window.func, inputs, this)


def _own_last_rows(r: Refresh) -> tuple[str, dict[str, object]]:
    """SELECT (and its parameters) of the model's own last row before each recompute start: at hw
    when the start is after it (an append), else found by a scan."""
    t, m = r.t, quote_ident(r.model.name)
    lo = r.con.execute(
        f"create or replace temp table __fstore_last as select r.p, hw.hw as t from __fstore_r r"
        f" join __fstore_hw hw on r.p = hw.p where not r.whole and r.r > hw.hw"
        f" union all select {r.p('m')}, max(m.{t}) from {m} m join __fstore_r r on {r.p('m')} = r.p"
        f" join __fstore_hw hw on r.p = hw.p where not r.whole and r.r <= hw.hw and m.{t} < r.r"
        f" group by 1"
    ).fetchall() and scalar(r.con, "select min(t) from __fstore_last")
    # the bound as a parameter: a plain filter ahead of the join, so few rows reach it
    return (
        f"select m.* from {m} m join __fstore_last l on {r.p('m')} = l.p and m.{t} = l.t where m.{t} >= $lo",
        {"lo": lo},
    )


def replace_rows(r: Refresh) -> None:
    """Step 6: delete the model's recomputed rows (and rows of recomputed keys), insert the new ones;
    read the own tail (``min(hw)``, step 1) in the same query."""
    h, t, target = r.model.header, r.t, quote_ident(r.model.name)
    overlap, whole, first, own_tail = first_row(
        r.con,
        "select count(*), bool_or(r.whole), min(r.r), (select min(hw)::varchar from __fstore_hw)"
        " from __fstore_r r join __fstore_hw hw on r.p = hw.p where r.whole or r.r <= hw.hw",
    )
    r.stats[OWN_TAIL] = [own_tail]
    if overlap:  # only when rows already built are recomputed (look-ahead, short history): not appends
        early = ("", []) if whole else (f" and {target}.{t} >= ?", [first])  # cheap filter before the join
        r.con.execute(
            f"delete from {target} using __fstore_r r where r.p = {r.p(target)}"
            f" and (r.whole or {target}.{t} >= r.r){early[0]}",
            early[1],
        )
    keys = set(h.unique_key)
    if keys and not (h.time_column in keys and (h.partition_by is None or h.partition_by in keys)):
        # keys without the time column (or, with partitions, without the partition column) may also
        # live in rows the deletion above kept: rows before the recompute start, other partitions
        match = " and ".join(
            f"{target}.{quote_ident(k)} is not distinct from n.{quote_ident(k)}" for k in h.unique_key
        )
        r.con.execute(f"delete from {target} where exists (select 1 from __fstore_new n where {match})")
    r.con.execute(f"insert into {target} by name select * from __fstore_new")


def input_stats(con: duckdb.DuckDBPyConnection, model: Model, window: Window) -> Stats:
    """Recorded after a full build: [max time, row-hash sum] of each checked input, [None, None, tail]
    of the other windowed inputs, and the model's own tail (see the module docstring)."""
    h = model.header
    t = quote_ident(h.time_column or "")
    p = f"u.{quote_ident(h.partition_by)}" if h.partition_by else "1"
    own = scalar(
        con,
        f"select min(hw)::varchar from (select {p.replace('u.', 'm.', 1)} as p, max(m.{t}) as hw"
        f" from {quote_ident(model.name)} m group by 1)",
    )
    out: Stats = {OWN_TAIL: [own]}
    for name in window.windowed:
        if name in window.checked:
            row = first_row(
                con, f"select max(u.{t})::varchar, {row_hash_sum('u')}::varchar from {quote_ident(name)} u"
            )
            out[name] = [*(row or (None, None)), None]
            continue
        d = max(depth(model, name, window.windowed, window.upstream_ahead), 1)
        tail = scalar(
            con,
            f"select case when bool_and(len(tops) >= {d}) then min(tops[{d}])::varchar end"
            f" from (select {p} as p, max(u.{t}, {d}) as tops from {quote_ident(name)} u group by 1)",
        )
        out[name] = [None, None, tail]
    return out


def rewrite_refs(sql: str, mapping: Mapping[str, str]) -> str:
    """Point table references at other relations, keeping the original name as the alias."""
    import sqlglot
    from sqlglot import exp

    query = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}

    def swap(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.Table)
            and node.name in mapping
            and node.name not in ctes
            and isinstance(node.this, exp.Identifier)
        ):
            alias = node.alias or node.name
            return exp.Table(
                this=exp.to_identifier(mapping[node.name]),
                alias=exp.TableAlias(this=exp.to_identifier(alias)),
            )
        return node

    return query.transform(swap).sql(dialect="duckdb")


def _database_and_views(con: duckdb.DuckDBPyConnection, names: list[str]) -> tuple[str, set[str]]:
    """The warehouse's catalog name, and which of ``names`` are views in its main schema."""
    row = first_row(
        con,
        "select current_database(), (select list(view_name) from duckdb_views() where not internal"
        " and schema_name = 'main' and database_name = current_database())",
    )
    assert row is not None
    db, views = row
    return db, set(views or ()) & set(names)


def _drop(con: duckdb.DuckDBPyConnection, temps: list[str]) -> None:
    for temp in temps:
        assert temp.startswith("__fstore_"), temp  # never an input relation
        con.execute(f"drop table if exists {temp}")


__all__ = [
    "Refresh",
    "compute_rows",
    "high_water_marks",
    "input_stats",
    "input_stats_after_scan",
    "recompute_starts",
    "refresh",
    "replace_rows",
    "rewrite_refs",
    "scan_input",
    "stage_inputs",
]
