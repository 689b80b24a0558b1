"""How far back (and forward) in rows a model's SQL reads: the history an incremental refresh re-reads.

An incremental refresh recomputes a model's newest rows from its inputs' newest rows plus enough
earlier (and, for label models, later) rows. We read how many off the SQL with sqlglot instead of
asking the user. Rows are counted per partition of the model (its ``partition_by``, else the whole
relation) in time order; ``None`` is unbounded (the partition's whole history, or its whole future).
What these rules cannot bound is unbounded: a lookback that is too long costs speed (the refresh
re-reads more), one that is too short costs exactness, so every doubt resolves to ``None``.

Window functions, in rows of the window's own order:

    LAG(x, n), LEAD(x, -n)                  n rows back
    LEAD(x, n), LAG(x, -n)                  n rows ahead (label models)
    LAG / LEAD ... IGNORE NULLS             unbounded in their direction
    ROWS BETWEEN n PRECEDING AND m FOLLOWING n back, m ahead
    UNBOUNDED PRECEDING, ranking functions,
    an ORDER BY window with the default frame,
    RANGE and GROUPS frames                 unbounded back (and ahead where they reach FOLLOWING)
    NTILE, PERCENT_RANK, CUME_DIST,
    a window without ORDER BY               the whole partition
    PARTITION BY <time column>              none: every frame holds one time (cross-sectional ranks)

Rows of the window's order are rows of time when it is ordered by the time column: ``DESC`` swaps
back and ahead, and a window ordered by anything else (a price) that reads other rows may read them
from anywhere in time. A row count is also exact only when the window's rows are one input's rows:
over rows thinned by a filter (``where volume > 0``: the previous row kept may be many rows back), an
inner join or a semi-join, over rows of two inputs, or partitioned more finely than the model
(``lag`` per asset in a model without ``partition_by``), a window is unbounded on each side it reads.
Filters that keep or drop whole partitions (on the partition column, through a dimension) or a span of
time (``ts >= date '2020-01-01'``) thin nothing.

Reads of other rows outside windows, relative to the row's own time:

    join or correlated subquery on q.ts = p.ts      none
    ... on q.ts < p.ts, q.ts = p.ts - interval 1 day unbounded back (a time span is no row count:
                                                     one day is one row of daily bars, 1,440 of minutes)
    ... on q.ts > p.ts, q.ts = p.ts + interval 1 day unbounded ahead
    ... with no condition on time, an uncorrelated subquery, GROUP BY without the time column, a
    whole-table aggregate, DISTINCT ON without it, LIMIT / OFFSET / TABLESAMPLE, a PIVOT, a LATERAL
    subquery, a recursive CTE, a time column computed from another (ts + 1), rows of an input whose
    time column a subquery drops                    the whole history and future

A relation is read by time when the query names its time column (``q.ts``), takes its rows' time
from it, or is read by time elsewhere in the query; fstore's dimension tables are not. Another
relation that a plain join reads without naming its time column is taken as a dimension (a lookup
per row); where it is aggregated, or read by a subquery expression (scalar, ``IN``, ``EXISTS``), it
is taken as read by time.

Windows stacked through CTEs and subqueries add up (a 20-row average of a LAG(1) column reads 20 rows
back); chaining across models is done by the planner (:mod:`features.models.incremental`).

Two things no row count describes make SQL unfit for an incremental refresh (:func:`analyse` says
why, and validation refuses such an incremental model): a time column computed rather than read
(``ts + interval 1 day as ts``: a refresh finds new rows by comparing its inputs' times with its own),
and, in a model with ``partition_by``, reading *later* rows of other partitions (a whole-table
aggregate, ``lead`` over the whole market, a join on a later time without the partition column): a
refresh recomputes only the partitions with new rows, so an asset that stopped trading would keep
values computed before the others' later rows arrived. Earlier rows of other partitions are fine (new
rows come after every row already built), and so are rows of the same time (cross-sectional).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace

from sqlglot import exp

Rows = int | None  # None: unbounded

# fstore's asset dimension (features.dimension.DIM_TABLES): no time column, read whole by a refresh
DIMENSIONS = frozenset({"dim_symbol", "dim_symbol_history", "mapping_versions"})

_RANKING = (exp.RowNumber, exp.Rank, exp.DenseRank)
_WHOLE_PARTITION = (exp.Ntile, exp.PercentRank, exp.CumeDist)
_COMPARISONS = (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_FLIP = {exp.EQ: exp.EQ, exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE}
_HERE = "^"  # the relation-solver's name for the outer row of a correlated subquery


@dataclass(frozen=True)
class Extent:
    """Rows a model looks back and ahead within a partition; None is unbounded."""

    back: Rows = 0
    ahead: Rows = 0

    def __add__(self, other: Extent) -> Extent:
        return Extent(_add(self.back, other.back), _add(self.ahead, other.ahead))

    def union(self, other: Extent) -> Extent:
        return Extent(_max(self.back, other.back), _max(self.ahead, other.ahead))

    def swapped(self) -> Extent:
        """Back and ahead exchanged (a window ordered by time descending)."""
        return Extent(self.ahead, self.back)

    def unbounded(self) -> Extent:
        """Each side that reads any other row becomes unbounded; a side reading none stays 0."""
        return Extent(None if self.back != 0 else 0, None if self.ahead != 0 else 0)


WHOLE = Extent(None, None)  # the partition's whole history and future


def _add(a: Rows, b: Rows) -> Rows:
    return None if a is None or b is None else a + b


def _max(a: Rows, b: Rows) -> Rows:
    return None if a is None or b is None else max(a, b)


def _union(extents: Iterable[Extent]) -> Extent:
    out = Extent()
    for extent in extents:
        out = out.union(extent)
    return out


def _name(node: exp.Expression | str | None) -> str:
    if node is None:
        return ""
    return (node if isinstance(node, str) else node.name).lower()


# --------------------------------------------------------------------------- window functions


def _signed(node: exp.Expression | None, default: int) -> int | None:
    """A literal whole number, negative ones included; None for anything else (a column, a sum)."""
    if node is None:
        return default
    sign = 1
    while isinstance(node, exp.Neg | exp.Paren):
        sign = -sign if isinstance(node, exp.Neg) else sign
        node = node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return sign * int(node.this)
        except ValueError:
            return None
    return None


def _named_window(window: exp.Window) -> exp.Window | None:
    alias = window.args.get("alias")
    select = window.find_ancestor(exp.Select)
    if alias is None or select is None:
        return None
    for definition in select.args.get("windows") or ():
        if isinstance(definition.this, exp.Identifier) and definition.this.name == alias.name:
            return definition
    return None


def _bound(value: object, side: object) -> tuple[str, int | None]:
    """Turn one frame bound into ('back'|'ahead', rows); rows None is unbounded."""
    text = value.upper() if isinstance(value, str) else None
    if text == "CURRENT ROW":
        return "back", 0
    rows = None if text == "UNBOUNDED" else _signed(value if isinstance(value, exp.Expression) else None, 0)
    direction = "ahead" if str(side).lower() == "following" else "back"
    return direction, rows


def _touches_following(spec: exp.Expression) -> bool:
    return any(str(spec.args.get(k, "")).lower() == "following" for k in ("start_side", "end_side"))


def _frame_rows(spec: exp.Expression | None, ordered: bool) -> Extent:
    """Rows a frame covers around the current row, in the window's order."""
    if spec is None:  # no ORDER BY: the whole partition; else UNBOUNDED PRECEDING .. CURRENT ROW
        return Extent(back=None) if ordered else WHOLE
    if str(spec.args.get("kind", "")).lower() != "rows":  # RANGE / GROUPS: spans of values, not rows
        return Extent(back=None, ahead=None if _touches_following(spec) else 0)
    out = Extent()
    for value_key, side_key in (("start", "start_side"), ("end", "end_side")):
        direction, rows = _bound(spec.args.get(value_key), spec.args.get(side_key))
        out = out.union(Extent(back=rows) if direction == "back" else Extent(ahead=rows))
    return out


def _order_rows(func: exp.Expression, spec: exp.Expression | None, ordered: bool) -> Extent:
    """Rows one window function reads around the current row, in the window's order."""
    ignore_nulls = isinstance(func, exp.IgnoreNulls)
    while isinstance(func, exp.IgnoreNulls | exp.RespectNulls):
        func = func.this
    if isinstance(func, exp.Lag | exp.Lead):
        offset = _signed(func.args.get("offset"), 1)
        if offset is None:  # a computed offset may have either sign
            return WHOLE
        back = offset if isinstance(func, exp.Lag) else -offset
        rows = Extent(back=back) if back >= 0 else Extent(ahead=-back)
        return rows.unbounded() if ignore_nulls else rows  # the nearest non-NULL may be far away
    if isinstance(func, _WHOLE_PARTITION):
        return WHOLE
    if isinstance(func, _RANKING):
        return Extent(back=None)
    return _frame_rows(spec, ordered)


@dataclass(frozen=True)
class _Time:
    """What one SELECT knows about time: the time column as its rows name it (None: not known, every
    ORDER BY is taken to be time), the aliases whose time is the row's time, the model's partition
    columns (None: not checked) and whether a window's rows are exactly one input's rows."""

    column: str | None = None
    aliases: frozenset[str] = frozenset()
    partitions: frozenset[str] | None = None
    exact_rows: bool = True

    def is_time(self, node: exp.Expression) -> bool:
        return (
            self.column is not None
            and isinstance(node, exp.Column)
            and _name(node) == self.column
            and (not node.table or _name(node.table) in self.aliases)
        )


def _direction(keys: list[exp.Expression], parts: list[exp.Expression], time: _Time) -> str | None:
    """'asc' / 'desc' when the window's order is time's order, else None."""
    names = {_name(p) for p in parts if isinstance(p, exp.Column)}
    keys = list(keys)
    while keys and isinstance(keys[0].this, exp.Column) and _name(keys[0].this) in names:
        keys.pop(0)  # ordering by the partition column first changes nothing within a partition
    if not keys:
        return None
    first = keys[0]
    if (time.column is None and isinstance(first.this, exp.Column)) or time.is_time(first.this):
        return "desc" if first.args.get("desc") else "asc"
    return None


def _window(window: exp.Window, time: _Time) -> Extent:
    definition = _named_window(window)
    parts = [*(window.args.get("partition_by") or ())]
    if definition is not None:
        parts += definition.args.get("partition_by") or ()
    if any(time.is_time(p) for p in parts):
        return Extent()
    order = window.args.get("order") or (definition.args.get("order") if definition is not None else None)
    keys = list(order.expressions) if order is not None else []
    spec = window.args.get("spec") or (definition.args.get("spec") if definition is not None else None)
    rows = _order_rows(window.this, spec, bool(keys))
    if rows == Extent():
        return rows
    direction = _direction(keys, parts, time)
    if direction is None:  # unordered, or ordered by a value: the rows read lie anywhere in time
        return WHOLE
    extent = rows if direction == "asc" else rows.swapped()
    finer = time.partitions is not None and any(
        not isinstance(p, exp.Column) or _name(p) not in time.partitions for p in parts
    )
    return extent.unbounded() if finer or not time.exact_rows else extent


def window_extent(window: exp.Window, time_column: str | None = None) -> Extent:
    """The rows one window function call reads around the current row, in time.

    ``time_column``: the model's time column (None: any ORDER BY counts as time order).
    """
    return _window(window, _Time(_name(time_column) or None))


# --------------------------------------------------------------------------- relations between rows


@dataclass(frozen=True)
class _Context:
    """What a scope's analysis knows of the query around it."""

    ctes: Mapping[str, exp.Expression]
    timed_tables: frozenset[str]  # base relations the query reads by time somewhere
    partitions: frozenset[str] | None
    time: str | None  # the time column as this scope's reader names it
    seen: frozenset[str] = frozenset()  # CTEs being expanded (no recursion)
    outer: frozenset[str] | None = None  # a subquery expression: outer aliases at the row's time
    keyed_in: bool = False  # the subquery of `<partition column> IN (...)`: it selects partitions


@dataclass(frozen=True)
class _Rows:
    """One scope's output as the scope reading it sees it."""

    extent: Extent
    timed: bool = False  # its rows carry the time column
    inputs: frozenset[str] = frozenset()  # relations read by time its rows come from
    thinned: bool = False  # rows of those inputs may be missing from it
    crosses: str = ""  # a construct reading later rows of other partitions ('': none)
    problem: str = ""  # why no refresh by rows can be exact ('': none)
    keyed: bool = False  # rows without time, one per partition (joined on it, they stay in it)


def _snippet(node: exp.Expression) -> str:
    text = " ".join(node.sql(dialect="duckdb").split()).lstrip(", ")
    return f"`{text if len(text) <= 60 else text[:57] + '...'}`"


def _whole(reason: str) -> _Rows:
    """Rows that may depend on rows of any time and any partition."""
    return _Rows(WHOLE, timed=True, thinned=True, crosses=reason)


@dataclass
class _Source:
    alias: str
    rows: _Rows
    timed: bool | None  # None: a relation not known to be read by time
    name: str = ""  # a base relation's name
    join: exp.Join | None = None  # None: the FROM source
    node: exp.Expression | None = None  # the source as written

    @property
    def written(self) -> exp.Expression:
        """The source as the query writes it: its JOIN clause, or the FROM source."""
        return self.join if self.join is not None else self.node  # type: ignore[return-value]


def _time_side(node: exp.Expression) -> tuple[exp.Column, int | None] | None:
    """(column, sign of what is added) for ``c``, ``c + k``, ``c - k``, ``c ± interval k``; None for
    anything else. A sign is None when it cannot be read (a column, an expression)."""
    if isinstance(node, exp.Column):
        return node, 0
    if isinstance(node, exp.Add | exp.Sub) and isinstance(node.this, exp.Column):
        amount = node.expression
        if isinstance(amount, exp.Interval):
            amount = amount.this
        sign: int | None = None
        if isinstance(amount, exp.Literal):
            try:
                value = float(amount.this)
                sign = (value > 0) - (value < 0)
            except ValueError:
                sign = None
        if sign is not None and isinstance(node, exp.Sub):
            sign = -sign
        return node.this, sign
    return None


def _conjuncts(node: exp.Expression | None) -> Iterator[exp.Expression]:
    if node is None:
        return
    if isinstance(node, exp.And):
        yield from _conjuncts(node.this)
        yield from _conjuncts(node.expression)
    elif isinstance(node, exp.Paren):
        yield from _conjuncts(node.this)
    else:
        yield node


def _conditions(select: exp.Select) -> list[exp.Expression]:
    where = select.args.get("where")
    out = list(_conjuncts(where.this if where is not None else None))
    for join in select.args.get("joins") or ():
        out += _conjuncts(join.args.get("on"))
    return out


class _Solver:
    """How a SELECT's sources relate to one another: which rows of each one a row reads in time, and
    which share the row's partition, from the conditions relating them."""

    def __init__(self, time: str, keys: frozenset[str], local: set[str], outer: frozenset[str]) -> None:
        self.time, self.keys, self.local, self.outer = time, keys, local, outer
        self.unqualified: str | None = None  # the alias a column without a table belongs to
        self.times: dict[str, str] = {}  # union-find: aliases at the same time
        self.partitions: dict[str, str] = {}  # union-find: aliases in the same partition
        self.bounds: list[tuple[str, type, str, int | None]] = []  # a.t OP b.t + sign

    @staticmethod
    def find(parent: dict[str, str], alias: str) -> str:
        while parent.get(alias, alias) != alias:
            alias = parent[alias]
        return alias

    def join(self, parent: dict[str, str], a: str, b: str) -> None:
        parent[self.find(parent, a)] = self.find(parent, b)

    def same_time(self, a: str, b: str) -> bool:
        return self.find(self.times, a) == self.find(self.times, b)

    def same_partition(self, a: str, b: str) -> bool:
        return self.find(self.partitions, a) == self.find(self.partitions, b)

    def alias(self, column: exp.Column) -> str | None:
        table = _name(column.table)
        if not table:
            return self.unqualified
        if table in self.local:
            return table
        return _HERE if table in self.outer else None

    def add(self, condition: exp.Expression) -> None:
        if isinstance(condition, exp.Between):
            for op, side in ((exp.GTE, "low"), (exp.LTE, "high")):
                self.add(op(this=condition.this, expression=condition.args[side]))
            return
        if not isinstance(condition, _COMPARISONS):
            return
        left, right = _time_side(condition.this), _time_side(condition.expression)
        if left is None or right is None or _name(left[0]) != _name(right[0]):
            return
        a, b = self.alias(left[0]), self.alias(right[0])
        if a is None or b is None or a == b:
            return
        if _name(left[0]) in self.keys and isinstance(condition, exp.EQ) and left[1] == right[1] == 0:
            self.join(self.partitions, a, b)
        if _name(left[0]) != self.time:
            return
        sign = _difference(right[1], left[1])  # a.t OP b.t + (right - left)
        if isinstance(condition, exp.EQ) and sign == 0:
            self.join(self.times, a, b)
        self.bounds.append((a, type(condition), b, sign))

    def relation(self, alias: str, anchor: str) -> Extent:
        """Rows of ``alias`` one row of ``anchor`` reads, in time: 0 where a condition bounds it."""
        target, source = self.find(self.times, anchor), self.find(self.times, alias)
        if source == target:
            return Extent()
        lower = upper = False
        for a, op, b, sign in self.bounds:
            a, b = self.find(self.times, a), self.find(self.times, b)
            if (a, b) == (target, source):
                op, sign = _FLIP[op], None if sign is None else -sign
            elif (a, b) != (source, target):
                continue
            if sign is None:
                continue
            # source.t OP anchor.t + sign
            lower |= op in (exp.EQ, exp.GT, exp.GTE) and sign >= 0
            upper |= op in (exp.EQ, exp.LT, exp.LTE) and sign <= 0
        return Extent(back=0 if lower else None, ahead=0 if upper else None)


def _difference(plus: int | None, minus: int | None) -> int | None:
    """The sign of ``plus - minus`` from their signs (None where it cannot be told)."""
    if plus is None or minus is None:
        return None
    if minus == 0:
        return plus
    if plus == 0:
        return -minus
    return plus if plus == -minus else None


# --------------------------------------------------------------------------- scopes


@dataclass(frozen=True)
class Reach:
    """What a model's SQL reads around each row: its extent in rows, and why an incremental refresh by
    rows cannot be exact at all ('' when it can)."""

    extent: Extent
    problem: str = ""


def analyse(
    query: exp.Expression, time_column: str | None = None, partition_by: Iterable[str] | None = None
) -> Reach:
    """The reach of a model's query (see the module docstring).

    ``time_column``: the model's time column (None: only window functions are read, and every
    ORDER BY counts as time). ``partition_by``: the model's partition columns, ``()`` for none (a
    window partitioned more finely counts rows the planner does not); None: not checked.
    """
    ctes = {_name(cte.alias_or_name): cte.this for cte in query.find_all(exp.CTE)}
    time = _name(time_column) or None
    partitions = None if partition_by is None else frozenset(_name(p) for p in partition_by)
    context = _Context(ctes, _timed_tables(query, time, ctes), partitions, time)
    if time is not None and any(w.args.get("recursive") for w in query.find_all(exp.With)):
        rows = _whole("a recursive CTE")
    else:
        rows = _query(query, context)
    problem = rows.problem
    if not problem and rows.crosses and partitions:
        problem = (
            f"it reads later rows of other partitions ({rows.crosses}), and a refresh recomputes only"
            " the partitions with new rows; drop `-- partition_by` (a refresh then recomputes every"
            " row its new rows reach) or materialize it as a table"
        )
    return Reach(rows.extent, problem)


def query_extent(
    query: exp.Expression, time_column: str | None = None, partition_by: Iterable[str] | None = None
) -> Extent:
    """Rows the whole query looks back/ahead (:func:`analyse`'s extent)."""
    return analyse(query, time_column, partition_by).extent


def _timed_tables(
    query: exp.Expression, time: str | None, ctes: Mapping[str, exp.Expression]
) -> frozenset[str]:
    """Base relations the query reads by their time column somewhere (``q.ts``, or ``ts`` with one
    source)."""
    if time is None:
        return frozenset()
    out = set()
    for select in query.find_all(exp.Select):
        tables = {_name(t.alias_or_name): _name(t) for t in _source_nodes(select) if _is_base(t, ctes)}
        for column in select.find_all(exp.Column):
            if _name(column) != time:
                continue
            table = _name(column.table)
            if table in tables:
                out.add(tables[table])
            elif not table and len(tables) == 1 and len(_source_nodes(select)) == 1:
                out.update(tables.values())
    return frozenset(out)


def _source_nodes(select: exp.Select) -> list[exp.Expression]:
    from_ = select.args.get("from_")
    out = [from_.this] if from_ is not None else []
    return out + [join.this for join in select.args.get("joins") or ()]


def _is_base(node: exp.Expression, ctes: Mapping[str, exp.Expression]) -> bool:
    return (
        isinstance(node, exp.Table)
        and isinstance(node.this, exp.Identifier)
        and (_name(node) not in ctes or bool(node.args.get("db")))
    )


def _query(node: exp.Expression, context: _Context) -> _Rows:
    if isinstance(node, exp.Subquery):
        return _query(node.this, context)
    if isinstance(node, exp.SetOperation):
        if context.time is not None and (node.args.get("limit") or node.args.get("offset")):
            return _whole("a LIMIT / OFFSET")
        left, right = _query(node.left, context), _query(node.right, context)
        return _Rows(
            left.extent.union(right.extent),
            left.timed or right.timed,
            left.inputs | right.inputs,
            left.thinned or right.thinned or not isinstance(node, exp.Union),
            left.crosses or right.crosses,
            left.problem or right.problem,
        )
    if not isinstance(node, exp.Select):
        return _Rows(Extent())
    if context.time is None:
        return _only_windows(node, context)
    return _select(node, context)


def _only_windows(select: exp.Select, context: _Context) -> _Rows:
    """Without a time column: the windows of the SELECT and of its FROM sources only."""
    own = _union(_window(w, _Time()) for w in _own_windows(select))
    inputs = Extent()
    for node in _source_nodes(select):
        if isinstance(node, exp.Table) and _name(node) in context.ctes and _name(node) not in context.seen:
            child = replace(context, seen=context.seen | {_name(node)})
            inputs = inputs.union(_query(context.ctes[_name(node)], child).extent)
        elif isinstance(node, exp.Subquery):
            inputs = inputs.union(_query(node.this, context).extent)
    return _Rows(own + inputs)


def _own_windows(select: exp.Select) -> Iterator[exp.Window]:
    for window in select.find_all(exp.Window):
        if not isinstance(window.this, exp.Identifier) and window.find_ancestor(exp.Select) is select:
            yield window


def _time_output(select: exp.Select, time: str) -> tuple[str, str, str]:
    """How the SELECT's rows get the time column: ('column', name, table) for a column as it is,
    ('star', time, table) through ``*``, ('derived', '', '') computed, ('missing', '', '') not at all."""
    for projection in select.expressions:
        if _name(projection.alias_or_name) != time or isinstance(projection, exp.Star):
            continue
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        if isinstance(inner, exp.Column) and not isinstance(inner.this, exp.Star):
            return "column", _name(inner), _name(inner.table)
        return "derived", "", ""
    for projection in select.expressions:
        star = projection.this if isinstance(projection, exp.Column) else projection
        if not isinstance(star, exp.Star):
            continue
        if any(_name(e.alias_or_name) == time for e in star.args.get("replace") or ()):
            return "derived", "", ""
        excluded = star.args.get("except_") or star.args.get("except") or ()
        if all(_name(e) != time for e in excluded):
            return "star", time, _name(projection.table) if isinstance(projection, exp.Column) else ""
    return "missing", "", ""


def _picks_rows(select: exp.Select, time: str) -> str:
    """Which rows (or columns) come out depends on rows of every time: the construct, else ''."""
    for key, what in (
        ("limit", "LIMIT"),
        ("offset", "OFFSET"),
        ("sample", "a sample"),
        ("connect", "CONNECT BY"),
    ):
        if select.args.get(key):
            return what
    if select.args.get("laterals") or any(isinstance(n, exp.Lateral) for n in _source_nodes(select)):
        return "a LATERAL subquery"
    for node in (select, *_source_nodes(select)):
        if node.args.get("pivots"):
            return "a PIVOT"
        if node is not select and node.args.get("sample"):
            return "a sample"
    distinct = select.args.get("distinct")
    on = distinct.args.get("on") if distinct is not None else None
    if on is not None and all(_name(e) != time for e in on.find_all(exp.Column)):
        return "DISTINCT ON without the time column"
    return ""


def _aggregates(select: exp.Select) -> bool:
    if select.args.get("group") is not None:
        return True
    for node in (*select.expressions, select.args.get("having")):
        if node is None:
            continue
        for agg in node.find_all(exp.AggFunc):
            if agg.find_ancestor(exp.Window, exp.Select) is select:
                return True
    return False


def _grouped_by(select: exp.Select, key: Callable[[exp.Expression], bool]) -> bool:
    """Whether the SELECT's GROUP BY (or GROUP BY ALL's keys) holds a plain key matching ``key``."""
    group = select.args.get("group")
    if group is None or any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets")):
        return False
    if group.args.get("all"):
        keys = [p.this if isinstance(p, exp.Alias) else p for p in select.expressions]
    else:
        keys = []
        for item in group.expressions:
            position = _signed(item, 0) if isinstance(item, exp.Literal) else None
            if position and 0 < position <= len(select.expressions):
                item = select.expressions[position - 1]
                item = item.this if isinstance(item, exp.Alias) else item
            keys.append(item)
    return any(key(k) for k in keys)


def _partition_key(context: _Context) -> Callable[[exp.Expression], bool]:
    keys = context.partitions or frozenset()
    return lambda node: isinstance(node, exp.Column) and _name(node) in keys


def _correlated(node: exp.Expression, names: set[str]) -> bool:
    """Whether a FROM subquery names a sibling source (an implicit LATERAL join)."""
    inner = {_name(t.alias_or_name) for t in node.find_all(exp.Table)}
    return any(_name(c.table) in names - inner for c in node.find_all(exp.Column) if c.table)


def _sources(select: exp.Select, context: _Context, time: str) -> list[_Source] | None:
    """FROM and JOIN sources with their rows; None when one cannot be analysed (lateral)."""
    out = []
    nodes = _source_nodes(select)
    names = {_name(n.alias_or_name) for n in nodes}
    joins = [None, *(select.args.get("joins") or ())]
    child = replace(context, time=time, outer=None)
    for node, join in zip(nodes, joins, strict=True):
        alias, name = _name(node.alias_or_name), _name(node)
        if isinstance(node, exp.Subquery) or (
            not _is_base(node, context.ctes) and isinstance(node, exp.Table) and name not in context.seen
        ):
            if isinstance(node, exp.Subquery) and _correlated(node, names - {alias}):
                return None
            body = node.this if isinstance(node, exp.Subquery) else context.ctes[name]
            seen = context.seen | ({name} if isinstance(node, exp.Table) else set())
            rows = _query(body, replace(child, seen=seen))
            out.append(_Source(alias, rows, rows.timed, join=join, node=node))
        elif isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            timed = False if name in DIMENSIONS else True if name in context.timed_tables else None
            if timed is None and any(
                _name(c) == time and _name(c.table) == alias for c in select.find_all(exp.Column)
            ):
                timed = True
            out.append(_Source(alias, _Rows(Extent()), timed, name, join, node))
        else:  # a table function, UNNEST, VALUES: no rows of other times
            out.append(_Source(alias, _Rows(Extent()), False, join=join, node=node))
    return out


def _subquery_expressions(select: exp.Select) -> Iterator[exp.Expression]:
    """Queries nested in the SELECT's expressions and conditions (not its FROM sources or CTEs)."""
    roots: list[exp.Expression] = [*select.expressions]
    for key in ("where", "having", "qualify"):
        if select.args.get(key) is not None:
            roots.append(select.args[key])
    roots += [j.args["on"] for j in select.args.get("joins") or () if j.args.get("on") is not None]
    stack = roots
    while stack:
        node = stack.pop()
        if isinstance(node, exp.Select | exp.SetOperation):
            yield node
            continue
        stack.extend(node.iter_expressions())


def _select(select: exp.Select, context: _Context) -> _Rows:
    time = context.time or ""
    correlated = context.outer is not None
    how, column, table = _time_output(select, time)
    if how == "derived" and not correlated:
        problem = f"its time column `{time}` is computed, not read from an input; materialize it as a table"
        return replace(_whole(""), problem=problem)
    picked = "" if correlated else _picks_rows(select, time)
    if picked:
        return _whole(picked)
    if how in ("column", "star"):
        time = column
    sources = _sources(select, context, time)
    if sources is None:
        return _whole("a subquery in FROM naming another source")
    if not sources:
        return _Rows(Extent())
    aggregated = _aggregates(select)
    distinct = how == "missing" and select.args.get("distinct") is not None
    for source in sources:
        if source.timed is None:  # see the module docstring
            source.timed = aggregated or correlated or distinct
    if correlated:
        return _subquery_scope(select, sources, time, context)
    if how == "missing":
        return _untimed_scope(select, sources, time, context, aggregated)
    timed = [s.alias for s in sources if s.timed]
    if table not in {s.alias for s in sources}:
        table = timed[0] if len(timed) == 1 else sources[0].alias
    next(s for s in sources if s.alias == table).timed = True
    return _timed_scope(select, sources, table, time, context, aggregated)


def _untimed_scope(
    select: exp.Select, sources: list[_Source], time: str, context: _Context, aggregated: bool
) -> _Rows:
    """A SELECT whose rows have no time column: a dimension lookup, or rows of many times folded
    together (then they depend on every time: one row per partition when grouped by it)."""
    nested = list(_nested(select, sources, {}, time, context))
    problem = next((r.problem for r in [*(s.rows for s in sources), *nested] if r.problem), "")
    crosses = next((r.crosses for r in [*(s.rows for s in sources), *nested] if r.crosses), "")
    if any(s.timed for s in sources):
        keyed = aggregated and _grouped_by(select, _partition_key(context))
        return _Rows(WHOLE, thinned=True, crosses=crosses, problem=problem, keyed=keyed)
    extent = _union(s.rows.extent for s in sources) + _union(r.extent for r in nested)
    return _Rows(extent, crosses=crosses, problem=problem)


def _solver(
    select: exp.Select, sources: list[_Source], time: str, context: _Context, outer: frozenset[str]
) -> _Solver:
    aliases = [s.alias for s in sources]
    solver = _Solver(time, context.partitions or frozenset(), set(aliases), outer)
    timed = [s.alias for s in sources if s.timed]
    solver.unqualified = timed[0] if len(timed) == 1 else None
    for condition in _conditions(select):
        solver.add(condition)
    for source in sources[1:]:
        join = source.join
        using = {_name(u) for u in (join.args.get("using") or ())} if join is not None else set()
        if join is not None and str(join.args.get("method", "")).upper() == "NATURAL":
            using |= {time, *solver.keys}  # every column the two have in common
        if time in using:
            solver.join(solver.times, source.alias, aliases[0])
        if using & solver.keys:
            solver.join(solver.partitions, source.alias, aliases[0])
    return solver


def _nested(
    select: exp.Select, sources: list[_Source], classes: Mapping[str, str], time: str, context: _Context
) -> Iterator[_Rows]:
    """The subquery expressions, each related to the row's time and partition (aliases in
    ``classes`` are at the row's time and in its partition)."""
    outer = frozenset(a for a, c in classes.items() if c == _HERE) | (context.outer or frozenset())
    outer -= {s.alias for s in sources if classes.get(s.alias) != _HERE}
    child = replace(context, time=time, outer=outer)
    keys = _partition_key(context)
    for query in _subquery_expressions(select):
        test = query.parent.parent if isinstance(query.parent, exp.Subquery) else None
        keyed = isinstance(test, exp.In) and keys(test.this) and _name(test.this.table) in {"", *outer}
        yield _query(query, replace(child, keyed_in=keyed))


def _reads(solver: _Solver, source: _Source, anchor: str) -> tuple[Extent, str]:
    """What one row of ``anchor`` reads of a source: its extent, and the source if that reaches later
    rows of other partitions."""
    rows = source.rows
    if not source.timed:  # a dimension, or rows folded without time (read whole, then)
        crosses = rows.crosses
        if rows.extent != Extent() and not (rows.keyed and solver.same_partition(source.alias, anchor)):
            crosses = crosses or _snippet(source.written)
        return rows.extent, crosses
    relation = solver.relation(source.alias, anchor)
    crosses = rows.crosses
    if (rows.extent + relation).ahead != 0 and not solver.same_partition(source.alias, anchor):
        crosses = crosses or _snippet(source.written)
    return rows.extent + relation, crosses


def _subquery_scope(select: exp.Select, sources: list[_Source], time: str, context: _Context) -> _Rows:
    """A subquery expression: what it reads is fixed by how its conditions relate it to the outer
    row; a source unrelated to it (an uncorrelated aggregate) is read whole."""
    solver = _solver(select, sources, time, context, context.outer or frozenset())
    picked = select.expressions[0] if len(select.expressions) == 1 else None
    if context.keyed_in and isinstance(picked, exp.Column) and _partition_key(context)(picked):
        alias = solver.alias(picked)  # `asset_id IN (SELECT q.asset_id ...)`: q is in the row's partition
        if alias is not None:
            solver.join(solver.partitions, alias, _HERE)
    reads = [_reads(solver, s, _HERE) for s in sources]
    classes = {s.alias: _HERE for s in sources if solver.same_time(s.alias, _HERE)}
    nested = list(_nested(select, sources, classes, time, context))
    window = _Time(time, frozenset(classes), context.partitions, False)
    own = _union(_window(w, window) for w in _own_windows(select))
    extent = own + _union(e for e, _ in reads).union(_union(r.extent for r in nested))
    crosses = next((c for c in [*(c for _, c in reads), *(r.crosses for r in nested)] if c), "")
    if crosses or own.ahead != 0:
        crosses = _snippet(exp.Subquery(this=select.copy()))  # the subquery as a whole
    problem = next((r.problem for r in [*(s.rows for s in sources), *nested] if r.problem), "")
    return _Rows(extent, crosses=crosses, problem=problem)


def _timed_scope(
    select: exp.Select, sources: list[_Source], anchor: str, time: str, context: _Context, aggregated: bool
) -> _Rows:
    """A SELECT whose rows carry the time column of ``anchor``."""
    solver = _solver(select, sources, time, context, frozenset())
    same = frozenset(s.alias for s in sources if solver.same_time(s.alias, anchor))
    row_time = _Time(time, same, context.partitions)
    if aggregated and not _grouped_by(select, row_time.is_time):
        keyed = _grouped_by(select, _partition_key(context))
        return _whole("" if keyed else "GROUP BY without the time column")
    reads = [_reads(solver, s, anchor) for s in sources]
    nested = list(_nested(select, sources, dict.fromkeys(same, _HERE), time, context))
    timed = [s for s in sources if s.timed]
    relations = frozenset().union(*(s.rows.inputs or {s.name} - {""} for s in timed))
    thinned = any(s.rows.thinned for s in timed) or _thins(select, sources, anchor, time, context)
    exact = replace(row_time, exact_rows=len(relations) <= 1 and not thinned)
    own, crosses = Extent(), ""
    for window in _own_windows(select):
        extent = _window(window, exact)
        own = own.union(extent)
        if extent.ahead != 0 and _across(window, row_time):
            crosses = crosses or _snippet(window)
    extent = own + _union(e for e, _ in reads).union(_union(r.extent for r in nested))
    crosses = next((c for c in [*(c for _, c in reads), *(r.crosses for r in nested), crosses] if c), "")
    problem = next((r.problem for r in [*(s.rows for s in sources), *nested] if r.problem), "")
    after = thinned or select.args.get("qualify") is not None
    return _Rows(extent, True, relations, after, crosses, problem)


def _across(window: exp.Window, time: _Time) -> bool:
    """Whether a window's partition spans several of the model's partitions."""
    if not time.partitions:
        return False
    definition = _named_window(window)
    parts = [*(window.args.get("partition_by") or ())]
    if definition is not None:
        parts += definition.args.get("partition_by") or ()
    return not any(isinstance(p, exp.Column) and _name(p) in time.partitions for p in parts)


def _thins(select: exp.Select, sources: list[_Source], anchor: str, time: str, context: _Context) -> bool:
    """Whether rows of the anchor's input may be missing when the windows run: an inner join with
    another relation read by time, or a condition that drops rows within a partition."""
    position = [s.alias for s in sources].index(anchor)
    conditions = []
    for i, source in enumerate(sources):
        join = source.join
        left = join is not None and str(join.args.get("side", "")).upper() == "LEFT"
        if source.alias != anchor and source.timed and not (i > position and left):
            return True
        if join is not None and not (i > position and left):
            conditions += _conjuncts(join.args.get("on"))
    for key in ("where", "having"):
        if select.args.get(key) is not None:
            conditions += _conjuncts(select.args[key].this)
    static = {s.alias for s in sources if not s.timed}
    return not all(_keeps_partitions(c, static, time, context) for c in conditions)


def _keeps_partitions(condition: exp.Expression, static: set[str], time: str, context: _Context) -> bool:
    """Whether a condition keeps or drops whole partitions or a span of time, so it thins nothing a
    window counts: on partition columns or a dimension's columns, a lookup in a dimension
    (``d.symbol = p.symbol``), or the time column against constants."""
    for query in condition.find_all(exp.Select):
        if any(
            _name(t) not in DIMENSIONS
            for t in query.find_all(exp.Table)
            if isinstance(t.this, exp.Identifier)
        ):
            return False  # a semi-join, or a value read from rows of any time
    columns = [
        c
        for c in condition.find_all(exp.Column)
        if not any(isinstance(a, exp.Query) for a in _ancestors(c, condition))
    ]
    partitions = context.partitions or frozenset()
    if all(_name(c) in partitions or _name(c.table) in static for c in columns):
        return True
    if isinstance(condition, exp.EQ) and any(_name(c.table) in static for c in columns):
        return all(_name(c) != time for c in columns)
    if len(columns) != 1 or _name(columns[0]) != time:
        return False
    if isinstance(condition, exp.Between):
        return condition.this is columns[0]
    return isinstance(condition, _COMPARISONS) and columns[0] in (condition.this, condition.expression)


def _ancestors(node: exp.Expression, stop: exp.Expression) -> Iterator[exp.Expression]:
    parent = node.parent
    while parent is not None and parent is not stop:
        yield parent
        parent = parent.parent


__all__ = ["DIMENSIONS", "WHOLE", "Extent", "query_extent", "window_extent"]
