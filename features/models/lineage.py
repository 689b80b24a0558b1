"""Column-level lineage through the DAG back to source columns (sqlglot.lineage)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

    from features.config import Project
    from features.models.dag import Dag


def write_lineage_artifact(con: duckdb.DuckDBPyConnection, project: Project, dag: Dag) -> None:
    """Placeholder until lineage lands: writes nothing."""
    del con, project, dag
