"""Per-symbol price coverage for the site, through one adapter: :func:`symbol_coverage`.

The ingest side owns the definition (``features.sources.coverage(con, project)``). Until that module
is on this branch, :func:`_coverage_query` computes the same keys with its own read-only query.
TEMPORARY: at merge, ``symbol_coverage`` calls ``features.sources.coverage`` and the query goes.

Each row: ``symbol``, ``asset_id``, ``category``, ``first_date``, ``last_date``, ``rows``,
``rejected_rows``, ``rejected_reasons`` (reason -> count), ``stale_days`` (days between the symbol's
last bar and the newest bar of any symbol), ``has_data``; plus rows for symbols that have prices but
are not in the universe (``asset_id`` None).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from features.config import Project


def symbol_coverage(con: duckdb.DuckDBPyConnection, project: Project) -> list[dict[str, Any]]:
    """Coverage of every universe symbol (and of priced symbols outside it); [] before a build."""
    if importlib.util.find_spec("features.sources") is not None:
        from features.sources import coverage  # type: ignore[import-not-found]

        return list(coverage(con, project))
    return _coverage_query(con)


# TEMPORARY (until features.sources.coverage is merged): the same keys from a read-only query.
_COVERAGE_SQL = """
with
universe as (select symbol, asset_id, category from dim_symbol where is_active),
prices as (
    select symbol, min(ts) as first_date, max(ts) as last_date, count(*) as rows
    from raw_prices group by symbol
),
rejected as (
    select symbol, sum(n)::bigint as rejected_rows, map(list(reason), list(n)) as reasons
    from (select symbol, coalesce(reason, 'unknown') as reason, count(*) as n
          from raw_prices_rejected group by all)
    group by symbol
),
newest as (select max(ts) as ts from raw_prices),
everyone as (select symbol from universe union select symbol from prices)
select
    e.symbol, u.asset_id, u.category, p.first_date, p.last_date, coalesce(p.rows, 0) as rows,
    coalesce(r.rejected_rows, 0) as rejected_rows, r.reasons,
    date_diff('day', p.last_date, (select ts from newest)) as stale_days,
    p.rows is not null as has_data
from everyone e
left join universe u using (symbol)
left join prices p using (symbol)
left join rejected r using (symbol)
order by u.asset_id nulls last, e.symbol
"""


def _coverage_query(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    from features.site.collect import relation_names

    if not {"dim_symbol", "raw_prices", "raw_prices_rejected"} <= relation_names(con):
        return []
    cur = con.execute(_COVERAGE_SQL)
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        rec = dict(zip(names, row, strict=True))
        reasons = rec.pop("reasons")
        rec["rejected_reasons"] = dict(reasons) if reasons else {}
        out.append(rec)
    return out


__all__ = ["symbol_coverage"]
