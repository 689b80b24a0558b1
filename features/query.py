"""`fstore query`: SQL over the warehouse, read-only unless asked, printed for people or scripts."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from features.errors import ConfigError, WarehouseError
from features.warehouse import connect

# Statement types a read-only query may run. Everything else needs --write.
_READ_ONLY_TYPES = {"SELECT", "EXPLAIN"}


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def run_query(db: str | Path, sql: str, *, write: bool = False) -> QueryResult:
    """Run ``sql`` on the warehouse. Without ``write`` the file is opened read-only and only
    SELECT-like statements are accepted, so a query can never change the warehouse."""
    if not sql.strip():
        raise ConfigError("empty query")
    with connect(db, read_only=not write) as con:
        statements = _statements(con, sql)
        if not write:
            _check_read_only(statements)
        result = QueryResult([], [])
        try:
            for statement in statements:
                cursor = con.execute(statement.query)
                columns = [d[0] for d in cursor.description] if cursor.description else []
                result = QueryResult(columns, cursor.fetchall() if columns else [])
        except duckdb.Error as exc:
            raise WarehouseError(f"query failed: {_first_line(exc)}") from None
        return result


def _statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    try:
        return con.extract_statements(sql)
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {_first_line(exc)}") from None


def _check_read_only(statements: list[Any]) -> None:
    """Refuse any statement that is not SELECT-like (so a query never changes the warehouse)."""
    for statement in statements:
        kind = statement.type.name
        if kind not in _READ_ONLY_TYPES:
            raise ConfigError(
                f"`fstore query` is read-only and this is a {kind} statement",
                hint="pass --write to change the warehouse",
            )


def _first_line(exc: Exception) -> str:
    return str(exc).strip()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def format_result(result: Any, fmt: str, *, max_rows: int = 200) -> str | None:
    """csv/json return text; table prints a rich table and returns None."""
    columns, rows = result.columns, result.rows
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else _plain(v) for v in row])
        return buffer.getvalue()
    if fmt == "json":
        return (
            json.dumps([dict(zip(columns, map(_plain, row), strict=True)) for row in rows], indent=1) + "\n"
        )
    if not columns:
        return "ok\n"
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    shown = rows if max_rows <= 0 else rows[:max_rows]
    for row in shown:
        table.add_row(*("NULL" if v is None else str(_plain(v)) for v in row))
    console = Console(highlight=False, soft_wrap=False)
    console.print(table)
    if len(shown) < len(rows):
        console.print(f"({len(rows)} rows, {len(shown)} shown; --max-rows 0 shows all)")
    return None


__all__ = ["QueryResult", "format_result", "run_query"]
