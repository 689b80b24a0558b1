"""Per-symbol price coverage for the site: :func:`features.sources.coverage`, the definition
``fstore sources`` prints, or nothing before the first build."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from features.config import Project


def symbol_coverage(con: duckdb.DuckDBPyConnection, project: Project) -> list[dict[str, Any]]:
    """Coverage of every universe symbol (and of priced symbols outside it); [] before a build."""
    from features.sources import coverage
    from features.warehouse import table_exists

    if not table_exists(con, "raw_prices"):
        return []
    return coverage(con, project)


__all__ = ["symbol_coverage"]
