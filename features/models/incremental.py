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
history, which is still exact. Assumes inputs only grow at the end of each partition; restated history
needs ``--full-refresh``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from features.errors import ModelError
from features.models.materialize import python_frame, quote

if TYPE_CHECKING:
    import duckdb

    from features.models.discovery import Model

_TEMPS = ("__fstore_hw", "__fstore_r", "__fstore_new")


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
) -> int:
    """Run one incremental refresh of ``model`` inside the caller's transaction; returns rows written."""
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
    con.execute(
        f"create or replace temp table __fstore_hw as select {p('m')} as p, max(m.{t}) as hw"
        f" from {quote(model.name)} m group by 1"
    )
    starts = []
    for i, name in enumerate(windowed):
        pos = f"__fstore_pos{i}"
        con.execute(
            f"create or replace temp table {pos} as select {p('u')} as p, u.{t} as t,"
            f" row_number() over (partition by {p('u')} order by u.{t}) as rn from {quote(name)} u"
        )
        a_in, a_own = upstream_ahead.get(name, 0), model.ahead
        start = "1" if a_in is None or a_own is None else f"greatest(1, f.rn - {a_in + a_own})"
        starts.append(
            f"select f.p, x.t as r from (select pos.p, min(pos.rn) as rn from {pos} pos"
            f" left join __fstore_hw hw on pos.p is not distinct from hw.p"
            f" where hw.hw is null or pos.t > hw.hw group by pos.p) f"
            f" join {pos} x on x.p is not distinct from f.p and x.rn = {start}"
        )
    con.execute(
        "create or replace temp table __fstore_r as select p, min(r) as r from ("
        + " union all ".join(starts)
        + ") group by p"
    )
    back = model.lookback
    mapping = {}
    for i, name in enumerate(windowed):
        pos, src = f"__fstore_pos{i}", f"__fstore_in{i}"
        first = "1" if back is None else f"greatest(1, k.k - {back})"
        con.execute(
            f"create or replace temp table {src} as"
            f" with k as (select r.p, count(x.rn) filter (where x.t < r.r) + 1 as k from __fstore_r r"
            f"  join {pos} x on x.p is not distinct from r.p group by r.p),"
            f" s as (select k.p, min(x.t) as rs from k join {pos} x on x.p is not distinct from k.p"
            f"  where x.rn >= {first} group by k.p)"
            f" select u.* from {quote(name)} u join s on {p('u')} is not distinct from s.p where u.{t} >= s.rs"
        )
        mapping[name] = src
    keep = f"join __fstore_r r on {p('q')} is not distinct from r.p where q.{t} >= r.r"
    if model.kind == "python":
        inputs = {n: f"select * from {quote(mapping.get(n, n))}" for n in (*windowed, *static)}
        frame = python_frame(con, model, func, inputs)
        con.register("__fstore_frame", frame.to_arrow())
        body = "select * from __fstore_frame"
    else:
        body = rewrite_refs(model.sql, mapping)
    try:
        con.execute(f"create or replace temp table __fstore_new as select q.* from ({body}) q {keep}")
    finally:
        if model.kind == "python":
            con.unregister("__fstore_frame")
    target = quote(model.name)
    con.execute(
        f"delete from {target} where exists (select 1 from __fstore_r r"
        f" where r.p is not distinct from {p(target)} and {target}.{t} >= r.r)"
    )
    if h.unique_key:
        match = " and ".join(f"{target}.{quote(k)} is not distinct from n.{quote(k)}" for k in h.unique_key)
        con.execute(f"delete from {target} where exists (select 1 from __fstore_new n where {match})")
    con.execute(f"insert into {target} by name select * from __fstore_new")
    rows = int(con.execute("select count(*) from __fstore_new").fetchall()[0][0])
    for temp in (*_TEMPS, *(f"__fstore_pos{i}" for i in range(len(windowed))), *mapping.values()):
        con.execute(f"drop table if exists {temp}")
    return rows


__all__ = ["columns", "is_windowed", "refresh", "rewrite_refs"]
