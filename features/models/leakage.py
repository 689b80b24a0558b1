"""The leakage lint: a feature model must not look into the future.

A model that is not marked ``-- label: true`` fails validation when its SQL uses ``LEAD``, a window
frame reaching ``FOLLOWING`` rows, or a join that pulls a row from a later date than the row it
joins to (``p.ts = q.ts + 1``, ``r.ts > l.ts``, ``r.ts >= l.ts`` on the same time column).
"""

from __future__ import annotations

from sqlglot import exp

TIME_NAMES = frozenset({"ts", "date", "dt", "day", "time", "timestamp", "trade_date", "as_of"})


def _line(node: exp.Expression) -> int | None:
    lines = [i.meta["line"] for i in node.find_all(exp.Identifier) if "line" in i.meta]
    return min(lines) if lines else None


def find_leaks(query: exp.Expression, time_column: str | None = None) -> list[tuple[int | None, str]]:
    """Every look-ahead in ``query`` as (line, message)."""
    leaks: list[tuple[int | None, str]] = []
    for window in query.find_all(exp.Window):
        if isinstance(window.this, exp.Lead):
            leaks.append((_line(window), f"`{window.this.sql(dialect='duckdb')}` looks at later rows"))
            continue
        spec = window.args.get("spec")
        if spec is not None and any(
            str(spec.args.get(k, "")).lower() == "following" for k in ("start_side", "end_side")
        ):
            leaks.append((_line(window), "window frame reaches FOLLOWING rows"))
    names = set(TIME_NAMES) | ({time_column} if time_column else set())
    for join in query.find_all(exp.Join):
        on = join.args.get("on")
        if on is None:
            continue
        joined = join.this.alias_or_name
        for cmp in on.find_all(exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE):
            if _later(cmp, joined, names):
                leaks.append((_line(cmp), f"join condition `{cmp.sql(dialect='duckdb')}` reads a later date"))
    return leaks


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


def _later(cmp: exp.Expression, joined: str, names: set[str]) -> bool:
    left, lo = _side(cmp.this)
    right, ro = _side(cmp.expression)
    if left is None or right is None or left.name != right.name or left.name not in names:
        return False
    if left.table == joined and right.table != joined:
        # joined.col + lo  OP  other.col + ro  -> normalise to: joined.col OP other.col + (ro - lo)
        op, offset = type(cmp), ro - lo
    elif right.table == joined and left.table != joined:
        flip = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ}
        op, offset = flip[type(cmp)], lo - ro
    else:
        return False
    if op is exp.EQ:
        return offset > 0
    if op in (exp.GT, exp.GTE):
        return True
    return offset > 0  # joined.col < other.col + k reaches k ahead


__all__ = ["find_leaks"]
