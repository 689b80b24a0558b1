"""The leakage lint: a feature model must not look into the future.

A model that is not marked ``-- label: true`` fails validation when its SQL certainly reads rows of a
later date than the row it computes. What it reads is derived by :mod:`features.models.lookback`, the
analysis that sizes incremental refreshes (its extent ahead is not 0), which names the construct:

- ``LEAD``, or ``LAG`` with a negative offset (``lead(x, -1)`` is a lag and passes);
- a window frame reaching ``FOLLOWING`` rows;
- a window ordered by time descending (``over (order by ts desc)``: the "earlier" rows are later dates),
  or by a value (``rank() over (partition by asset_id order by ret)`` ranks against later rows too);
- ``percent_rank``, ``cume_dist`` and ``ntile`` over time: they count the whole partition;
- an aggregate window without ``ORDER BY`` over more than one date (``max(x) over (partition by
  asset_id)``; a cross-section ``partition by ts`` and ``min(ts)``, the first date, are fine);
- a join or correlated subquery whose condition lets the other row's date pass the row's
  (``q.ts = p.ts + 1``, ``q.ts > p.ts``, ``q.ts between p.ts and p.ts + 5``), in ``ON`` or ``WHERE``;
- rows of a relation read by time with no condition on time (``(select max(q.x) from t q where
  q.asset_id = p.asset_id)``, ``x / (select avg(x) from t)``);
- an aggregate over every date joined to each row (``join (select asset_id, avg(ret) m from t group
  by asset_id) a using (asset_id)``, a one-row aggregate cross joined).

The time column is the model's ``time_column``, else the first output column named like time
(``TIME_NAMES``); renames (``ts as bar_time``) are followed. What the analysis only cannot bound (a
computed offset, a relation not known to have a time column, DISTINCT, LIMIT) is not reported: the lint
errs on the side of no false positives. A window in a SELECT that does not carry the time column is
judged on its own, by column names, so a window ordered by a value is caught only where the time is
known. Not caught either: anything Python models do.
"""

from __future__ import annotations

from sqlglot import exp

from features.models.lookback import later_reads

TIME_NAMES = frozenset({"ts", "date", "dt", "day", "time", "timestamp", "trade_date", "as_of"})
_PREFERENCE = ("ts", "date", "dt", "trade_date", "timestamp", "time", "day", "as_of")  # several: the first

Leak = tuple[int | None, str]


def find_leaks(query: exp.Expression, time_column: str | None = None) -> list[Leak]:
    """Every look-ahead in ``query`` as (line, message), by line."""
    names = _time_names(query, time_column)
    time = _row_time(query, time_column, names)
    leaks = dict.fromkeys((_line(node), why) for node, why in later_reads(query, time, names))
    return sorted(leaks, key=lambda leak: leak[0] or 0)


def _line(node: exp.Expression) -> int | None:
    lines = [i.meta["line"] for i in node.find_all(exp.Identifier) if "line" in i.meta]
    return min(lines) if lines else None


def _time_names(query: exp.Expression, time_column: str | None) -> set[str]:
    """Columns taken as time: the usual names, the model's time column, and what they are renamed to."""
    names = set(TIME_NAMES) | ({time_column.lower()} if time_column else set())
    for alias in query.find_all(exp.Alias):
        if isinstance(alias.this, exp.Column) and alias.this.name.lower() in names:
            names.add(alias.alias.lower())
    return names


def _row_time(query: exp.Expression, time_column: str | None, names: set[str]) -> str | None:
    """The time column of the query's rows: the output column named like time (the declared one
    first), else the declared one, else a column named like time that the query reads (its rows may
    carry it through ``*``, or drop it); None if it reads none."""
    outputs = {name.lower() for name in query.named_selects} if isinstance(query, exp.Query) else set()
    order = [time_column.lower()] if time_column else []
    order += [*_PREFERENCE, *sorted(names - set(_PREFERENCE))]
    found = next((n for n in order if n in outputs), None)
    if found is not None or time_column:
        return found or time_column
    read = {c.name.lower() for c in query.find_all(exp.Column)}
    return next((n for n in order if n in read), None)


__all__ = ["TIME_NAMES", "find_leaks"]
