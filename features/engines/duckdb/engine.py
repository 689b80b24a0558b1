"""The DuckDB engine: models run in the warehouse itself, inside one transaction each.

DuckDB's DDL is transactional, which makes the transaction the staging area: ``create or replace``
inside it is only visible after the commit, and any error rolls back, so a failing model leaves the
relation it would have replaced (and the bookkeeping) exactly as before. Relations are created with
plain, unqualified names so the file still works attached under any alias.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar

from features.warehouse import quote_ident, scalar, transaction

if TYPE_CHECKING:
    import duckdb

    from features.config import Project
    from features.engines.base import Stats, Window
    from features.models.checks import CheckResult, DataTest
    from features.models.dag import Dag
    from features.models.discovery import Model

KINDS = ("table", "view")  # what drop() may drop


class DuckDBEngine:
    """Builds models into the open warehouse (the embedded default)."""

    name: ClassVar[str] = "duckdb"
    stateful: ClassVar[bool] = True
    in_warehouse: ClassVar[bool] = True

    def __init__(
        self, warehouse: duckdb.DuckDBPyConnection, project: Project, *, master: str | None = None
    ) -> None:
        self.con = warehouse
        self.project = project

    # ------------------------------------------------------------------ lifecycle

    def start(self, dag: Dag, names: Sequence[str]) -> list[str]:
        return list(names)

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ catalog

    def relations(self) -> dict[str, str]:
        from features.models.state import relations

        return relations(self.con)

    def columns(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        rows = self.con.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = 'main'"
            " and database_name = current_database()"
        ).fetchall()
        for table, column in rows:
            out.setdefault(table, set()).add(column)
        return out

    def row_count(self, name: str) -> int:
        return int(scalar(self.con, f"select count(*) from {quote_ident(name)}"))

    # ------------------------------------------------------------------ writes

    def transaction(self) -> AbstractContextManager[Any]:
        return transaction(self.con)

    def create_view(self, model: Model) -> None:
        self.con.execute(f"create or replace view {quote_ident(model.name)} as {model.sql}")

    def create_table(self, model: Model) -> int:
        return self._table(model.name, model.sql)

    def python_frame(self, model: Model, func: Callable[..., Any]) -> Any:
        from features.engines.duckdb.python import python_frame

        inputs = {r.name: f"select * from {quote_ident(r.name)}" for r in model.refs}
        return python_frame(self.con, model, func, inputs)

    def create_table_from_frame(self, model: Model, frame: Any) -> int:
        """Write a Polars frame (or an Arrow table) as the model's table through Arrow (no pandas)."""
        view = "__fstore_frame"
        self.con.register(view, frame.to_arrow() if hasattr(frame, "to_arrow") else frame)
        try:
            return self._table(model.name, f"select * from {view}")
        finally:
            self.con.unregister(view)

    def drop(self, name: str, kind: str) -> None:
        assert kind in KINDS, kind  # from relations(): never user text
        self.con.execute(f"drop {kind} {quote_ident(name)}")

    def _table(self, name: str, select_sql: str) -> int:
        """``create or replace table name as select_sql``; returns the row count."""
        return int(scalar(self.con, f"create or replace table {quote_ident(name)} as {select_sql}"))

    # ------------------------------------------------------------------ incremental

    def refresh(self, model: Model, window: Window) -> tuple[int, Stats]:
        from features.engines.duckdb.incremental import refresh

        return refresh(self.con, model, window)

    def input_stats(self, model: Model, window: Window) -> Stats:
        from features.engines.duckdb.incremental import input_stats

        return input_stats(self.con, model, window)

    # ------------------------------------------------------------------ data tests

    def run_tests(self, tests: Sequence[DataTest]) -> Iterator[CheckResult]:
        from features.models.checks import run_check

        for test in tests:
            yield run_check(self.con, test, self.project.root)


__all__ = ["DuckDBEngine"]
