"""How far back (and forward) in rows a model's SQL looks, derived from its window functions.

An incremental refresh must re-read enough history that every window sees its full window. We read
that off the SQL with sqlglot instead of asking the user:

    LAG(x, n)                               n rows back
    LEAD(x, n)                              n rows ahead (label models)
    ROWS BETWEEN n PRECEDING AND m FOLLOWING n back, m ahead
    UNBOUNDED PRECEDING, ranking functions,
    an ORDER BY window with the default frame,
    RANGE frames                            unbounded: the whole partition history is re-read
    PARTITION BY <time column>              none: the window sees only rows of the same time
                                            (cross-sectional ranks), so a new time touches itself only

Windows stacked through CTEs and subqueries add up (a 20-row average of a LAG(1) column needs 21 rows);
chaining across models is done by the planner (:mod:`features.models.incremental`). ``None`` means
unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

Rows = int | None  # None: unbounded

_RANKING = (exp.RowNumber, exp.Rank, exp.DenseRank)
_WHOLE_PARTITION = (exp.Ntile, exp.PercentRank, exp.CumeDist)


@dataclass(frozen=True)
class Extent:
    """Rows a model looks back and ahead within a partition; None is unbounded."""

    back: Rows = 0
    ahead: Rows = 0

    def __add__(self, other: Extent) -> Extent:
        return Extent(_add(self.back, other.back), _add(self.ahead, other.ahead))

    def union(self, other: Extent) -> Extent:
        return Extent(_max(self.back, other.back), _max(self.ahead, other.ahead))


def _add(a: Rows, b: Rows) -> Rows:
    return None if a is None or b is None else a + b


def _max(a: Rows, b: Rows) -> Rows:
    return None if a is None or b is None else max(a, b)


def _int(node: exp.Expression | None, default: int) -> int | None:
    if node is None:
        return default
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
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
    rows = None if text == "UNBOUNDED" else _int(value if isinstance(value, exp.Expression) else None, 0)
    direction = "ahead" if str(side).lower() == "following" else "back"
    return direction, rows


def _within_one_time(window: exp.Window, time_column: str | None) -> bool:
    """Whether the window is partitioned by the time column itself (every frame holds one time)."""
    if time_column is None:
        return False
    definition = _named_window(window)
    parts = [*(window.args.get("partition_by") or ())]
    if definition is not None:
        parts += definition.args.get("partition_by") or ()
    return any(isinstance(p, exp.Column) and not p.table and p.name == time_column for p in parts)


def window_extent(window: exp.Window, time_column: str | None = None) -> Extent:
    """The rows one window function call reads around the current row."""
    if _within_one_time(window, time_column):
        return Extent(0, 0)
    func = window.this
    if isinstance(func, exp.Lag):
        return Extent(back=_int(func.args.get("offset"), 1))
    if isinstance(func, exp.Lead):
        return Extent(ahead=_int(func.args.get("offset"), 1))
    if isinstance(func, _WHOLE_PARTITION):
        return Extent(None, None)
    if isinstance(func, _RANKING):
        return Extent(back=None)
    definition = _named_window(window) or window
    spec = definition.args.get("spec") or window.args.get("spec")
    if spec is None:
        if definition.args.get("order") is None and window.args.get("order") is None:
            return Extent(None, None)  # no ORDER BY: the whole partition
        return Extent(back=None)  # default frame: UNBOUNDED PRECEDING .. CURRENT ROW
    if str(spec.args.get("kind", "")).lower() != "rows":
        return Extent(back=None, ahead=None if _touches_following(spec) else 0)
    back: Rows = 0
    ahead: Rows = 0
    for value_key, side_key in (("start", "start_side"), ("end", "end_side")):
        direction, rows = _bound(spec.args.get(value_key), spec.args.get(side_key))
        if direction == "back":
            back = _max(back, rows)
        else:
            ahead = _max(ahead, rows)
    return Extent(back, ahead)


def _touches_following(spec: exp.Expression) -> bool:
    return any(str(spec.args.get(k, "")).lower() == "following" for k in ("start_side", "end_side"))


def query_extent(query: exp.Expression, time_column: str | None = None) -> Extent:
    """Rows the whole query looks back/ahead, windows stacked through CTEs and subqueries added up.

    ``time_column``: the model's time column; a window partitioned by it reads no other time.
    """
    ctes = {cte.alias_or_name: cte.this for cte in query.find_all(exp.CTE)}
    return _scope_extent(query, ctes, set(), time_column)


def _scope_extent(
    node: exp.Expression, ctes: dict[str, exp.Expression], seen: set[str], tc: str | None = None
) -> Extent:
    if isinstance(node, exp.Subquery):
        return _scope_extent(node.this, ctes, seen, tc)
    if isinstance(node, exp.SetOperation):
        return _scope_extent(node.left, ctes, seen, tc).union(_scope_extent(node.right, ctes, seen, tc))
    if not isinstance(node, exp.Select):
        return Extent()
    own = Extent()
    for window in node.find_all(exp.Window):
        if isinstance(window.this, exp.Identifier) or window.find_ancestor(exp.Select) is not node:
            continue
        own = own.union(window_extent(window, tc))
    inputs = Extent()
    from_ = node.args.get("from_") or node.args.get("from")
    sources = [from_.this] if from_ is not None else []
    sources += [join.this for join in node.args.get("joins") or ()]
    for source in sources:
        if isinstance(source, exp.Table) and source.name in ctes and source.name not in seen:
            inputs = inputs.union(_scope_extent(ctes[source.name], ctes, seen | {source.name}, tc))
        elif isinstance(source, exp.Subquery):
            inputs = inputs.union(_scope_extent(source.this, ctes, seen, tc))
    return own + inputs


__all__ = ["Extent", "query_extent", "window_extent"]
