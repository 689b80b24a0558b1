"""Incremental refresh: recompute only what changed, exactly equal to a full rebuild.

For an incremental model M (time column T, optional partition column P, lookback L rows, lookahead A
rows — declared or derived by :mod:`features.models.lookback`) and each *windowed* input U (an upstream
relation that has T, and P when M has one):

1. Per partition, the high-water mark ``hw`` is ``max(T)`` already in M. U's first new row is its first
   row with T > hw. Rows of U up to ``A_U`` positions earlier may have changed too, where ``A_U`` is
   U's own chained lookahead (a label model upstream rewrites its last rows when a day arrives).
2. M's rows whose window reaches a changed input row start ``A`` positions earlier still: that is the
   recompute start ``r`` per partition (the earliest over all inputs).
3. Each windowed input is re-read from ``L`` positions before ``r`` so every window sees its full window;
   inputs without T/P (e.g. ``dim_symbol``) are read whole (and when their data changes, the planner
   rebuilds M in full instead).
4. M's rows at or after ``r`` (and any with a recomputed ``unique_key``) are deleted and the new rows
   inserted, in the caller's transaction.

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
refresh incrementally (sources, table and view models) the build records the input's max time and an
order-independent hash of its rows (``bit_xor(hash(row))``, computed in the same pass that finds the
new rows). If the rows up to that time hash differently next time (a changed, deleted or late row),
the model is rebuilt in full instead, and so are incremental models downstream of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from features.errors import ModelError
from features.models.materialize import python_frame, quote

if TYPE_CHECKING:
    import duckdb

    from features.models.discovery import Model


OWN_TAIL = "__own_tail"  # key in the stats: the earliest per-partition max time of the model itself
Stats = dict[str, list[str | None]]  # input -> [max time, xor of row hashes, tail time], as text


class Restated(Exception):
    """An input's rows up to the last build's time changed (restated history): rebuild in full."""


def input_stats(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    checked: list[str],
    windowed: list[str],
    upstream_ahead: Mapping[str, int | None],
) -> Stats:
    """Recorded after a full build: [max time, order-independent hash of every row] of each checked
    input, [None, None, tail] of the others (see the module docstring)."""
    h = model.header
    t = quote(h.time_column or "")
    p = f"u.{quote(h.partition_by)}" if h.partition_by else "1"
    own = con.execute(
        f"select min(hw)::varchar from (select {p.replace('u.', 'm.', 1)} as p, max(m.{t}) as hw"
        f" from {quote(model.name)} m group by 1)"
    ).fetchall()[0][0]
    out: Stats = {OWN_TAIL: [own]}
    for name in windowed:
        if name in checked:
            row = con.execute(
                f"select max(u.{t})::varchar, bit_xor(hash(u))::varchar from {quote(name)} u"
            ).fetchall()
            out[name] = [*row[0], None]
            continue
        d = max(_depth(model, name, windowed, upstream_ahead), 1)
        tail = con.execute(
            f"select case when bool_and(len(tops) >= {d}) then min(tops[{d}])::varchar end"
            f" from (select {p} as p, max(u.{t}, {d}) as tops from {quote(name)} u group by 1)"
        ).fetchall()[0][0]
        out[name] = [None, None, tail]
    return out


def _shift(model: Model, name: str, upstream_ahead: Mapping[str, int | None]) -> int | None:
    """Rows before an input's first new row whose output may change (its and the model's lookahead)."""
    a_in, a_own = upstream_ahead.get(name, 0), model.ahead
    return None if a_in is None or a_own is None else a_in + a_own


def _depth(model: Model, name: str, windowed: list[str], upstream_ahead: Mapping[str, int | None]) -> int:
    """Rows per partition at or before the high-water mark the first pass needs from this input."""
    shift, back = _shift(model, name, upstream_ahead), model.lookback
    return (shift or 0) + (back or 0) if len(windowed) == 1 and back is not None else shift or 0


def all_columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Columns of every relation in the warehouse's main schema, in one catalog query."""
    out: dict[str, set[str]] = {}
    rows = con.execute(
        "select table_name, column_name from duckdb_columns() where schema_name = 'main'"
        " and database_name = current_database()"
    ).fetchall()
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


def columns(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    rows = con.execute(
        "select column_name from duckdb_columns() where table_name = ? and schema_name = 'main'"
        " and database_name = current_database()",
        [relation],
    ).fetchall()
    return {r[0] for r in rows}


def is_windowed(model: Model, cols: set[str]) -> bool:
    """Whether an input with columns ``cols`` is read by time window (else read whole)."""
    h = model.header
    return h.time_column in cols and (h.partition_by is None or h.partition_by in cols)


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


def refresh(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    windowed: list[str],
    static: list[str],
    upstream_ahead: Mapping[str, int | None],
    func: Any = None,
    checked: Mapping[str, list[str | None]] | None = None,
    tails: Mapping[str, str | None] | None = None,
    own_tail: str | None = None,
) -> tuple[int, Stats]:
    """Run one incremental refresh of ``model`` inside the caller's transaction.

    ``checked`` maps inputs not built incrementally by fstore (sources, tables, views) to the
    [max time, row hash] recorded at the last build: if their rows up to that time changed, history was
    restated and :class:`Restated` is raised (the caller rebuilds in full). ``tails`` maps the other
    windowed inputs to the tail time recorded last time (None: scan it whole); ``own_tail`` is the
    earliest partition maximum of the model itself last time. Returns the rows written and the new
    stats (windowed inputs, and the model's own tail).
    """
    h = model.header
    t = quote(h.time_column or "")

    def p(alias: str) -> str:
        return f"{alias}.{quote(h.partition_by)}" if h.partition_by else "1"

    if not windowed:
        raise ModelError(
            f"incremental model `{model.name}` reads no input with its time column `{h.time_column}`"
            + (f" and partition column `{h.partition_by}`" if h.partition_by else ""),
            file=model.file,
            model=model.name,
        )
    # per-partition high-water marks; every partition's max was at or after `own_tail` last time, so
    # only rows from there on are aggregated (a partition below it would count as new: slower, exact)
    bound, params = ("", []) if own_tail is None else (f" where m.{t} >= ?", [own_tail])
    con.execute(
        f"create or replace temp table __fstore_hw as select {p('m')} as p, max(m.{t}) as hw"
        f" from {quote(model.name)} m{bound} group by 1",
        params,
    )
    stats: Stats = {OWN_TAIL: [con.execute("select min(hw)::varchar from __fstore_hw").fetchall()[0][0]]}
    back = model.lookback
    single = len(windowed) == 1
    # 1. per input: where its changes start, as a time (NULL: the partition's whole history). With one
    #    windowed input (the usual case) the same pass also finds where to start re-reading it.
    checked = checked or {}
    tails = tails or {}
    starts = []
    # one partition: its mark is a constant, no join of every input row needed
    hw_join = (
        f"left join __fstore_hw hw on {p('u')} = hw.p"
        if h.partition_by
        else "cross join (select max(hw) as hw from __fstore_hw) hw"
    )
    for i, name in enumerate(windowed):
        shift = _shift(model, name, upstream_ahead)
        depth = _depth(model, name, windowed, upstream_ahead)
        tops = f"max(u.{t}, {depth}) filter (where u.{t} <= hw.hw)" if depth else "null"
        # `shift` rows before the first new row: the shift-th latest time at or before hw
        start = "null" if shift is None else "c.first_new" if shift == 0 else f"c.tops[{shift}]"
        read = "null"
        if single and shift is not None and back is not None:
            read = start if back == 0 else f"c.tops[{shift + back}]"
        params: list[object] = []
        d = max(depth, 1)
        hashes = f"max(u.{t}, {d}) as tail_tops, null as max_t, null as h_all, null as h_old"
        where = ""
        if name in checked:  # rows up to the last build's max time must hash as they did then
            hashes = (
                f"null as tail_tops, max(u.{t}) as max_t, bit_xor(hash(u)) as h_all,"
                f" bit_xor(hash(u)) filter (where u.{t} <= ?) as h_old"
            )
            params = [checked[name][0]]
        elif tails.get(name) is not None:  # only the tail can hold new or rewritten rows
            where = f" where u.{t} >= ?"
            params = [tails[name]]
        con.execute(
            f"create or replace temp table __fstore_c{i} as"
            f" select {p('u')} as p, bool_or(hw.hw is null) as new_partition,"
            f" min(u.{t}) filter (where hw.hw is null or u.{t} > hw.hw) as first_new, {tops} as tops,"
            f" {hashes}"
            f" from {quote(name)} u {hw_join}{where} group by 1",
            params,
        )
        if name not in checked:  # the tail the next refresh may start its pass from
            tail = con.execute(
                f"select case when bool_and(len(tail_tops) >= {d}) then min(tail_tops[{d}])::varchar end"
                f" from __fstore_c{i}"
            ).fetchall()[0][0]
            stats[name] = [None, None, tail]
        if name in checked:
            max_t, h_all, h_old = con.execute(
                f"select max(max_t)::varchar, bit_xor(h_all)::varchar, bit_xor(h_old)::varchar from __fstore_c{i}"
            ).fetchall()[0]
            if h_old != checked[name][1]:
                raise Restated(name)
            stats[name] = [max_t, h_all, None]
        starts.append(
            f"select c.p, case when c.new_partition then null else {start} end as r,"
            f" case when c.new_partition then null else {read} end as rs"
            f" from __fstore_c{i} c where c.first_new is not null"
        )
    # recompute start per partition: the earliest over the inputs; whole history if any says so
    con.execute(
        "create or replace temp table __fstore_r as select p, bool_or(r is null) as whole, min(r) as r,"
        " min(rs) as rs from (" + " union all ".join(starts) + ") group by p"
    )
    temps = ["__fstore_new"]  # holds rows: dropped after use; the small bookkeeping temps are replaced
    if not con.execute("select count(*) from __fstore_r").fetchall()[0][0]:
        _drop(con, temps)
        return 0, stats  # no input has new rows
    # 2. per input: re-read from `lookback` rows before the recompute start. One time bound per input,
    #    the earliest over its partitions: more history than a partition needs is harmless, because
    #    only rows at or after each partition's recompute start are kept.
    mapping = {}
    # A SQL model reads its filtered inputs under their own names: a temp table of the same name
    # shadows the relation, and the model's SQL runs as written (no rewrite, so no sqlglot). Not when
    # an input is a view, whose body might read a shadowed name. Rolled back with the transaction on
    # failure, dropped right after use otherwise.
    db, views = "", set()
    if model.kind == "sql":
        db, views = _database_and_views(con, [*windowed, *static])
    shadow = model.kind == "sql" and not views
    shadows: list[str] = []
    lows: dict[str, object] = {}  # Python models: the time bound each input is read from directly
    for i, name in enumerate(windowed):
        if single:
            bound = "select bool_or(whole or rs is null), min(rs) from __fstore_r"
        elif back == 0:  # each partition reads from its recompute start: no pass over the input
            bound = "select bool_or(whole or r is null), min(r) from __fstore_r"
        else:
            if back is None:
                read_from = "null"
            elif back == 0:
                read_from = "any_value(r.r)"
            else:
                read_from = f"(max(u.{t}, {back}) filter (where u.{t} < r.r))[{back}]"
            bound = (
                f"select bool_or(rs is null), min(rs) from (select r.p,"
                f" case when bool_or(r.whole) then null else {read_from} end as rs"
                f" from __fstore_r r join {quote(name)} u on {p('u')} = r.p group by r.p)"
            )
        everything, lower = con.execute(bound).fetchall()[0]
        if everything:
            mapping[name] = name  # some partition needs its whole history: read the input as it is
            continue
        if shadow:
            con.execute(
                f"create or replace temp table {quote(name)} as"
                f" select * from {quote(db)}.main.{quote(name)} u where u.{t} >= ?",
                [lower],
            )
            shadows.append(name)
            mapping[name] = name
            continue
        if model.kind == "python":  # read straight into Polars below, filtered by the bound
            lows[name] = lower
            continue
        src = f"__fstore_in{i}"
        con.execute(
            f"create or replace temp table {src} as select * from {quote(name)} u where u.{t} >= ?", [lower]
        )
        temps.append(src)
        mapping[name] = src
    keep = f"join __fstore_r r on {p('q')} = r.p where r.whole or q.{t} >= r.r"
    if model.kind == "python":
        inputs: dict[str, str | tuple[str, dict[str, object]]] = {
            n: f"select * from {quote(n)}" for n in (*windowed, *static)
        }
        for n, low in lows.items():
            inputs[n] = (f"select * from {quote(n)} u where u.{t} >= $lo", {"lo": low})
        this = None
        if model.stateful:  # exactly the rows from each group's recompute start, and the row before
            for n in windowed:
                rows_from = (
                    f"select u.* from {quote(n)} u join __fstore_r r on {p('u')} = r.p"
                    f" where (r.whole or u.{t} >= r.r)"
                )
                # with a bound no partition is whole, and the bound is at or before every start
                inputs[n] = (rows_from + f" and u.{t} >= $lo", {"lo": lows[n]}) if n in lows else rows_from
            m = quote(model.name)
            # the last row before r: at hw when r is after it (an append), else found by a scan
            lo = (
                con.execute(
                    f"create or replace temp table __fstore_last as select r.p, hw.hw as t from __fstore_r r"
                    f" join __fstore_hw hw on r.p = hw.p where not r.whole and r.r > hw.hw"
                    f" union all select {p('m')}, max(m.{t}) from {m} m join __fstore_r r on {p('m')} = r.p"
                    f" join __fstore_hw hw on r.p = hw.p where not r.whole and r.r <= hw.hw and m.{t} < r.r"
                    f" group by 1"
                ).fetchall()
                and con.execute("select min(t) from __fstore_last").fetchall()[0][0]
            )
            # the bound as a parameter: a plain filter ahead of the join, so few rows reach it
            this = (
                f"select m.* from {m} m join __fstore_last l on {p('m')} = l.p and m.{t} = l.t"
                f" where m.{t} >= $lo",
                {"lo": lo},
            )
        frame = python_frame(con, model, func, inputs, this)
        con.register("__fstore_frame", frame.to_arrow())
        body = "select * from __fstore_frame"
    else:
        same = all(k == v for k, v in mapping.items())
        body = model.sql if same else rewrite_refs(model.sql, mapping)
    try:
        new = con.execute(f"create or replace temp table __fstore_new as select q.* from ({body}) q {keep}")
        rows = int(new.fetchall()[0][0])
    finally:
        if model.kind == "python":
            con.unregister("__fstore_frame")
    for name in shadows:  # the inputs are themselves again
        con.execute(f"drop table temp.main.{quote(name)}")
    target = quote(model.name)
    overlap, whole, first = con.execute(
        "select count(*), bool_or(r.whole), min(r.r) from __fstore_r r join __fstore_hw hw on r.p = hw.p"
        " where r.whole or r.r <= hw.hw"
    ).fetchall()[0]
    if overlap:  # only when rows already built are recomputed (look-ahead, short history): not appends
        early = ("", []) if whole else (f" and {target}.{t} >= ?", [first])  # cheap filter before the join
        con.execute(
            f"delete from {target} using __fstore_r r where r.p = {p(target)}"
            f" and (r.whole or {target}.{t} >= r.r){early[0]}",
            early[1],
        )
    keys = set(h.unique_key)
    if keys and not (h.time_column in keys and (h.partition_by is None or h.partition_by in keys)):
        # keys without the time column (or, with partitions, without the partition column) may also
        # live in rows the deletion above kept: rows before the recompute start, other partitions
        match = " and ".join(f"{target}.{quote(k)} is not distinct from n.{quote(k)}" for k in h.unique_key)
        con.execute(f"delete from {target} where exists (select 1 from __fstore_new n where {match})")
    con.execute(f"insert into {target} by name select * from __fstore_new")
    _drop(con, temps)
    return rows, stats


def _database_and_views(con: duckdb.DuckDBPyConnection, names: list[str]) -> tuple[str, set[str]]:
    """The warehouse's catalog name, and which of ``names`` are views in its main schema."""
    db, views = con.execute(
        "select current_database(), (select list(view_name) from duckdb_views() where not internal"
        " and schema_name = 'main' and database_name = current_database())"
    ).fetchall()[0]
    return db, set(views or ()) & set(names)


def _drop(con: duckdb.DuckDBPyConnection, temps: list[str]) -> None:
    for temp in temps:
        assert temp.startswith("__fstore_"), temp  # never an input relation
        con.execute(f"drop table if exists {temp}")


__all__ = ["Restated", "all_columns", "columns", "input_stats", "is_windowed", "refresh", "rewrite_refs"]
