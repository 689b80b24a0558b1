"""The leakage lint: a feature model must not look into the future.

A model that is not marked ``-- label: true`` fails validation when its SQL

- uses ``LEAD``, or ``LAG`` with a negative offset (DuckDB reads ``lag(x, -1)`` as a lead);
- has a window frame reaching ``FOLLOWING`` rows;
- orders a window by a time column descending (``over (order by ts desc)``: the "earlier" rows are
  later dates);
- runs an aggregate window without ``ORDER BY`` over anything but a single time
  (``max(x) over (partition by asset_id)`` is the maximum over the asset's whole future too;
  ``avg(x) over (partition by ts)``, a cross-section, and ``min(ts)``, the first date, are fine);
- joins a row from a later date than the row it joins to (``p.ts = q.ts + 1``, ``r.ts > l.ts`` with no
  upper bound, ``r.ts between l.ts and l.ts + 5``, on the same time column), in an ``ON`` condition or
  in the ``WHERE`` of a comma join;
- has a correlated subquery that reads a later date (``(select … from t b where b.ts > a.ts)``);
- divides by (or otherwise uses) a whole-table aggregate: a scalar subquery that aggregates with no
  upper time bound (``x / (select avg(x) from t)``), or a single-row aggregate joined to every row.

Time columns are the usual names (``TIME_NAMES``) plus the model's ``time_column``. A column ordered or
compared by another name is not recognised as time: the lint errs on the side of no false positives.
Not caught: a per-group aggregate joined back to every row (``avg(x) … group by asset_id``: fine for
``min(ts)``, a leak for most else), a window ordered by a value rather than by time
(``rank() over (partition by asset_id order by ret)``), and anything Python models do.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

TIME_NAMES = frozenset({"ts", "date", "dt", "day", "time", "timestamp", "trade_date", "as_of"})

Leak = tuple[int | None, str]
# a time comparison normalised to `inner.t OP outer.t + sign(offset)`: (node, OP, sign)
Bound = tuple[exp.Expression, type[exp.Expression], int]

_FLIP = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ}
# offsets and ranks: without ORDER BY they are arbitrary or constant, not an aggregate over the future
_NOT_AGGREGATES = (
    exp.Lag,
    exp.Lead,
    exp.RowNumber,
    exp.Rank,
    exp.DenseRank,
    exp.Ntile,
    exp.PercentRank,
    exp.CumeDist,
)


def _line(node: exp.Expression) -> int | None:
    lines = [i.meta["line"] for i in node.find_all(exp.Identifier) if "line" in i.meta]
    return min(lines) if lines else None


def _sql(node: exp.Expression) -> str:
    return node.sql(dialect="duckdb")


def find_leaks(query: exp.Expression, time_column: str | None = None) -> list[Leak]:
    """Every look-ahead in ``query`` as (line, message), in the order of the checks above."""
    names = set(TIME_NAMES) | ({time_column} if time_column else set())
    ctes = {cte.alias_or_name: cte.this for cte in query.find_all(exp.CTE)}
    leaks: list[Leak] = []
    for window in query.find_all(exp.Window):
        if not isinstance(window.this, exp.Identifier):  # a named window's definition: checked at use
            leaks += _window_leaks(window, names)
    for select in query.find_all(exp.Select):
        leaks += _join_leaks(select, names)
        leaks += _correlated_leaks(select, names)
        leaks += _whole_table_leaks(select, names, ctes)
    return leaks


# --------------------------------------------------------------------------- windows


def _negative(node: exp.Expression | None) -> bool:
    """Whether a window offset is a negative number literal (``-1``)."""
    if isinstance(node, exp.Neg):
        return isinstance(node.this, exp.Literal) and not node.this.is_string
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this) < 0
        except ValueError:
            return False
    return False


def _definition(window: exp.Window) -> exp.Window | None:
    """The named window ``over w`` refers to (``window w as (...)``), if any."""
    alias = window.args.get("alias")
    select = window.find_ancestor(exp.Select)
    if alias is None or select is None:
        return None
    for definition in select.args.get("windows") or ():
        if isinstance(definition.this, exp.Identifier) and definition.this.name == alias.name:
            return definition
    return None


def _window_parts(window: exp.Window) -> tuple[list[exp.Expression], exp.Order | None, exp.Expression | None]:
    """(partition by, order by, frame) of a window call, its named window filled in."""
    definition = _definition(window)
    parts = list(window.args.get("partition_by") or ())
    order, spec = window.args.get("order"), window.args.get("spec")
    if definition is not None:
        parts += definition.args.get("partition_by") or ()
        order = order or definition.args.get("order")
        spec = spec or definition.args.get("spec")
    return parts, order, spec


def _window_leaks(window: exp.Window, names: set[str]) -> list[Leak]:
    func, line = window.this, _line(window)
    if isinstance(func, exp.Lead):
        return [(line, f"`{_sql(func)}` looks at later rows")]
    if isinstance(func, exp.Lag) and _negative(func.args.get("offset")):
        return [(line, f"`{_sql(func)}` has a negative offset: it is a LEAD and looks at later rows")]
    parts, order, spec = _window_parts(window)
    if spec is not None and any(
        str(spec.args.get(k, "")).lower() == "following" for k in ("start_side", "end_side")
    ):
        return [(line, "window frame reaches FOLLOWING rows")]
    if any(isinstance(p, exp.Column) and p.name in names for p in parts):
        return []  # partitioned by time: every frame holds one date (a cross-section)
    for key in order.expressions if order is not None else ():
        if isinstance(key, exp.Ordered) and key.args.get("desc") and _is_time(key.this, names):
            return [(line, f"window orders by `{_sql(key)}`: its earlier rows are later dates")]
    if order is None and _over_all_dates(func, names):
        return [
            (
                line,
                f"`{_sql(window)}` has no ORDER BY: it reads every row of its partition, later dates"
                " included (order by the time column, or partition by it for a cross-section)",
            )
        ]
    return []


def _is_time(node: exp.Expression, names: set[str]) -> bool:
    return isinstance(node, exp.Column) and node.name in names


def _over_all_dates(func: exp.Expression, names: set[str]) -> bool:
    """Whether an aggregate over rows of every date uses the later ones: all but ``min(ts)`` (the
    first date, e.g. a listing date) do."""
    if not isinstance(func, exp.AggFunc) or isinstance(func, _NOT_AGGREGATES):
        return False
    return not (isinstance(func, exp.Min) and _is_time(func.this, names))


# --------------------------------------------------------------------------- time bounds


def _side(node: exp.Expression) -> tuple[exp.Column | None, int]:
    """(time column, sign of the offset added to it) for `col`, `col + k`, `col - k`."""
    if isinstance(node, exp.Column):
        return node, 0
    if isinstance(node, exp.Add | exp.Sub) and isinstance(node.this, exp.Column):
        sign = 1 if isinstance(node, exp.Add) else -1
        amount = node.expression
        if isinstance(amount, exp.Interval):
            amount = amount.this
        try:
            value = float(amount.this) if isinstance(amount, exp.Literal) else 1.0
        except ValueError:
            value = 1.0
        return node.this, sign * (1 if value > 0 else -1 if value < 0 else 0)
    return None, 0


def _comparisons(
    condition: exp.Expression | None,
) -> Iterator[tuple[exp.Expression, type, exp.Expression, exp.Expression]]:
    """(node, operator, left, right) of every comparison; ``a BETWEEN l AND h`` gives a >= l, a <= h."""
    if condition is None:
        return
    for node in condition.find_all(exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between):
        if isinstance(node, exp.Between):
            yield node, exp.GTE, node.this, node.args["low"]
            yield node, exp.LTE, node.this, node.args["high"]
        else:
            yield node, type(node), node.this, node.expression


def _bounds(
    condition: exp.Expression | None,
    inner: set[str],
    names: set[str],
    *,
    outer: set[str] | None = None,
    subquery: bool = False,
) -> list[Bound]:
    """Comparisons of an inner time column with the outer one of the same name, normalised.

    ``inner``: the aliases on the reading side; ``outer``: those on the other side (default: any
    other alias). In a ``subquery`` an unqualified column is its own (inner), else it is the other side.
    """

    def is_inner(c: exp.Column) -> bool:
        return c.table in inner or (subquery and not c.table)

    def is_outer(c: exp.Column) -> bool:
        if is_inner(c) or (subquery and not c.table):
            return False
        return outer is None or c.table in outer

    out: list[Bound] = []
    for node, op, left, right in _comparisons(condition):
        lcol, lo = _side(left)
        rcol, ro = _side(right)
        if lcol is None or rcol is None or lcol.name != rcol.name or lcol.name not in names:
            continue
        if is_inner(lcol) and is_outer(rcol):  # inner + lo OP outer + ro
            out.append((node, op, ro - lo))
        elif is_inner(rcol) and is_outer(lcol):
            out.append((node, _FLIP[op], lo - ro))
    return out


def _reaches_later(bounds: list[Bound]) -> exp.Expression | None:
    """The comparison that lets the inner time pass the outer one, or None if bounded by it."""
    for node, op, offset in bounds:
        if op in (exp.EQ, exp.LT, exp.LTE) and offset > 0:  # inner = / <= outer + k reaches k ahead
            return node
    if bounds and not any(op in (exp.EQ, exp.LT, exp.LTE) for _, op, _ in bounds):
        return bounds[0][0]  # only lower bounds (inner > outer ...): every later date
    return None


def _upper_bounded(bounds: list[Bound]) -> bool:
    return _reaches_later(bounds) is None and any(op in (exp.EQ, exp.LT, exp.LTE) for _, op, _ in bounds)


# --------------------------------------------------------------------------- joins and subqueries


def _sources(select: exp.Select) -> list[exp.Expression]:
    from_ = select.args.get("from_") or select.args.get("from")
    sources = [from_.this] if from_ is not None else []
    return sources + [join.this for join in select.args.get("joins") or ()]


def _join_leaks(select: exp.Select, names: set[str]) -> list[Leak]:
    """Joins (ON, or the WHERE of a comma join) that pull a row from a later date."""
    leaks: list[Leak] = []
    own = {s.alias_or_name for s in _sources(select)}
    where = select.args.get("where")
    for join in select.args.get("joins") or ():
        joined = join.this.alias_or_name
        on = join.args.get("on")
        condition = on if on is not None else (where.this if where is not None else None)
        # a comma join: only the query's own other sources are the other side of its WHERE
        bounds = _bounds(condition, {joined}, names, outer=None if on is not None else own - {joined})
        node = _reaches_later(bounds)
        if node is not None:
            leaks.append((_line(node), f"join condition `{_sql(node)}` reads a later date"))
    return leaks


def _correlated_leaks(select: exp.Select, names: set[str]) -> list[Leak]:
    """A subquery whose WHERE lets its rows' time pass the time of the row it is evaluated for."""
    if select.find_ancestor(exp.Select) is None:
        return []
    where = select.args.get("where")
    own = {s.alias_or_name for s in _sources(select)}
    bounds = _bounds(where.this if where is not None else None, own, names, subquery=True)
    node = _reaches_later(bounds)
    return (
        []
        if node is None
        else [(_line(node), f"correlated subquery condition `{_sql(node)}` reads a later date")]
    )


def _aggregates(
    select: exp.Expression,
    ctes: dict[str, exp.Expression],
    names: set[str],
    seen: frozenset[str] = frozenset(),
) -> bool:
    """Whether ``select`` boils every date down to one row: an aggregate with no GROUP BY (through CTEs)."""
    if isinstance(select, exp.Subquery):
        select = select.this
    if not isinstance(select, exp.Select):
        return False
    if select.args.get("group") is None and any(
        agg.find_ancestor(exp.Window) is None and _over_all_dates(agg, names)
        for e in select.expressions
        for agg in e.find_all(exp.AggFunc)
    ):
        return True
    return any(
        isinstance(s, exp.Table)
        and s.name in ctes
        and s.name not in seen
        and _aggregates(ctes[s.name], ctes, names, seen | {s.name})
        for s in _sources(select)
    )


def _whole_table_leaks(select: exp.Select, names: set[str], ctes: dict[str, exp.Expression]) -> list[Leak]:
    """Scalar subqueries and single-row sources that aggregate over every date."""
    leaks: list[Leak] = []
    for sub in select.find_all(exp.Subquery):
        if sub.find_ancestor(exp.Select) is not select or isinstance(sub.parent, exp.From | exp.Join):
            continue
        inner = sub.this
        if not isinstance(inner, exp.Select) or not _aggregates(inner, ctes, names):
            continue
        where = inner.args.get("where")
        own = {s.alias_or_name for s in _sources(inner)}
        bounds = _bounds(where.this if where is not None else None, own, names, subquery=True)
        if _reaches_later(bounds) is None and not _upper_bounded(bounds):  # else reported as correlated
            leaks.append((_line(sub), f"`{_sql(sub)}` aggregates the whole table, later dates included"))
    sources = _sources(select)
    if len(sources) > 1:
        for source in sources:
            is_cte = isinstance(source, exp.Table) and source.name in ctes
            body = ctes[source.name] if is_cte else source
            if (is_cte or isinstance(source, exp.Subquery)) and _aggregates(body, ctes, names):
                leaks.append(
                    (
                        _line(source),
                        f"`{source.alias_or_name}` is a whole-table aggregate (one row over every date)"
                        " joined to every row",
                    )
                )
    return leaks


__all__ = ["TIME_NAMES", "find_leaks"]
