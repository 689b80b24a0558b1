"""`fstore query`: SQL over the warehouse, read-only unless asked, printed for people or scripts.

Read-only (no ``--write``) holds by what a statement *does*, with two locks:

    1. every statement is checked before any runs: DuckDB's parser must call it a SELECT (or an
       EXPLAIN of one) and sqlglot must find nothing in it that writes (:mod:`features.statements`:
       DML in a CTE, COPY, ATTACH, PRAGMA, SET, nextval() …);
    2. it runs on a connection that cannot write: the warehouse opened read-only, DuckDB's external
       access disabled (no COPY/EXPORT to a file, no ATTACH, INSTALL or LOAD, no secrets) and its
       configuration locked, so a statement the parsers misread still cannot change a byte.

Reading Parquet files inside the project (``read_parquet('data/snapshots/x.parquet')``, a list or a
glob of them) still works: the files are opened by pyarrow and handed to DuckDB as a registered
dataset, so the connection itself never touches a file.

``fstore query "a; b"`` runs every statement, in order, and prints every result; with ``--write`` they
run in one transaction (all or nothing).
"""

from __future__ import annotations

import glob
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from features.errors import ConfigError, WarehouseError
from features.output import format_result, format_results
from features.warehouse import connect, transaction

if TYPE_CHECKING:
    from sqlglot import exp

# DuckDB statement types a read-only query may run (an EXPLAIN only of a SELECT)
_READ_ONLY_TYPES = {"SELECT", "EXPLAIN"}
# sqlglot classes a read-only statement may be: queries and DuckDB's DESCRIBE / SHOW / SUMMARIZE
_READ_ROOTS = ("Query", "Describe", "Show", "Summarize")
_PARQUET_PREFIX = "__fstore_parquet_"
_EXPLAIN = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*explain(?:\s+analyze)?\s", re.I | re.S)


@dataclass(frozen=True)
class QueryResult:
    """The rows one statement returned (``columns`` empty: it returned none), and its SQL text."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    statement: str = field(default="", compare=False)


def run_queries(
    db: str | Path, sql: str, *, write: bool = False, readable: Path | None = None
) -> list[QueryResult]:
    """Run every statement of ``sql`` on the warehouse, in order; one result per statement.

    Without ``write`` every statement is checked before any runs and they run on a connection that
    cannot write (see the module docstring); Parquet files under ``readable`` (the project folder)
    may be read. With ``write`` they run in one transaction unless the text manages its own.
    """
    if not sql.strip():
        raise ConfigError("empty query")
    with connect(db, read_only=not write) as con:
        statements = _statements(con, sql)
        if not statements:
            raise ConfigError("empty query: only comments")
        if write:
            return _run_writing(con, statements)
        _lock_down(con)
        texts = [_checked_read(con, s, readable) for s in statements]
        return [_execute(con, text, kind) for text, kind in texts]


def run_query(db: str | Path, sql: str, *, write: bool = False, readable: Path | None = None) -> QueryResult:
    """Run ``sql`` (see :func:`run_queries`) and return the last statement's result."""
    return run_queries(db, sql, write=write, readable=readable)[-1]


# --------------------------------------------------------------------------- the two locks


def _lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """Lock 2: no file access (COPY, EXPORT, ATTACH, INSTALL/LOAD, secrets, file readers) and no way
    back (the configuration is locked). The warehouse itself is already open read-only."""
    for setting in ("autoinstall_known_extensions", "autoload_known_extensions", "enable_external_access"):
        con.execute(f"set {setting} = false")
    con.execute("set lock_configuration = true")


def _checked_read(con: duckdb.DuckDBPyConnection, statement: Any, readable: Path | None) -> tuple[str, str]:
    """Lock 1 for one statement: (the SQL to run, its DuckDB type) or ConfigError saying why not."""
    kind = statement.type.name
    text = statement.query
    if kind not in _READ_ONLY_TYPES:
        raise _refused(text, f"it cannot run a {kind} statement")
    if kind == "EXPLAIN":
        inner = _explained(text)
        inner_kinds = [s.type.name for s in _statements(con, inner)] if inner else []
        if inner_kinds != ["SELECT"]:
            raise _refused(text, "it explains only a SELECT")
        _check_tree(inner)
        return text, kind
    from features.statements import may_write

    if not may_write(text) and (readable is None or "parquet" not in text.lower()):
        return text, kind  # nothing in it could write: no need to import sqlglot (lock 2 still holds)
    tree = _check_tree(text)
    if tree is not None and readable is not None:
        text = _register_parquet_reads(con, tree, readable) or text
    return text, kind


def _check_tree(text: str) -> exp.Expression | None:
    """sqlglot's view of one statement; ConfigError when anything in it writes. None when sqlglot
    cannot parse it (lock 2 still holds, and DuckDB already called it a SELECT)."""
    import sqlglot

    from features.statements import parse_statements, write_problems

    try:
        trees = parse_statements(text)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return None
    problems = write_problems(text, statements=trees, roots=_READ_ROOTS, what="a read-only query")
    if problems:
        raise _refused(text, f"in this statement, {problems[0].message}")
    return trees[0] if trees else None


def _explained(text: str) -> str:
    """The statement an EXPLAIN [ANALYZE] explains (its text), or "" when the form is another one."""
    match = _EXPLAIN.match(text)
    return text[match.end() :] if match else ""


def _refused(text: str, why: str) -> ConfigError:
    first = " ".join(text.split())[:80]
    return ConfigError(
        f"`fstore query` is read-only, and {why}: {first}",
        hint="pass --write to run statements that change the warehouse or write files",
    )


# --------------------------------------------------------------------------- Parquet files, read safely


def _register_parquet_reads(con: duckdb.DuckDBPyConnection, tree: exp.Expression, root: Path) -> str | None:
    """Replace each ``read_parquet('path' | ['a', 'b'] | 'glob*')`` and ``FROM 'file.parquet'`` naming
    files inside ``root`` by a dataset pyarrow opened (read-only by construction) and registered on
    the connection; return the rewritten SQL (None when there was nothing to replace)."""
    from sqlglot import exp

    replaced = False
    for table in list(tree.find_all(exp.Table)):
        patterns = _parquet_patterns(table)
        files = _project_files(patterns, root) if patterns else None
        if not files:
            continue
        import pyarrow.dataset as ds

        name = f"{_PARQUET_PREFIX}{secrets.token_hex(4)}"
        con.register(name, ds.dataset(files, format="parquet"))
        alias = table.args.get("alias")
        table.replace(exp.Table(this=exp.to_identifier(name), alias=alias))
        replaced = True
    return tree.sql(dialect="duckdb") if replaced else None


def _parquet_patterns(table: exp.Table) -> list[str] | None:
    """The literal paths a table reference reads as Parquet (None: not a plain Parquet read)."""
    from sqlglot import exp

    this = table.this
    if isinstance(this, exp.Identifier) and this.quoted and this.name.lower().endswith(".parquet"):
        return [this.name] if not table.db else None
    if not isinstance(this, exp.Func):
        return None
    name = this.name if isinstance(this, exp.Anonymous) else this.sql_name()
    args = list(this.expressions)
    if name.lower() != "read_parquet" or len(args) != 1:
        return None  # options (hive_partitioning …) are left to DuckDB, which cannot read files here
    values = args[0].expressions if isinstance(args[0], exp.Array) else [args[0]]
    if not values or not all(isinstance(v, exp.Literal) and v.is_string for v in values):
        return None
    return [v.this for v in values]


def _project_files(patterns: list[str], root: Path) -> list[str] | None:
    """Every file the patterns name (globs expanded, relative to the current folder as DuckDB
    resolves them), when each is a Parquet file inside ``root``; None otherwise."""
    inside = os.path.realpath(root)
    files: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        for match in matches:
            real = os.path.realpath(match)
            if not os.path.isfile(real) or os.path.commonpath([real, inside]) != inside:
                return None
            files.append(real)
    return files or None


# --------------------------------------------------------------------------- running


def _statements(con: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    try:
        return con.extract_statements(sql)
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {_first_line(exc)}") from None


def _run_writing(con: duckdb.DuckDBPyConnection, statements: list[Any]) -> list[QueryResult]:
    """``--write``: every statement in one transaction, unless the text begins/commits its own."""
    if any(s.type.name == "TRANSACTION" for s in statements):
        return [_execute(con, s.query, s.type.name) for s in statements]
    with transaction(con):
        return [_execute(con, s.query, s.type.name) for s in statements]


def _execute(con: duckdb.DuckDBPyConnection, text: str, kind: str) -> QueryResult:
    """Run one statement; a SELECT's INTERVAL columns come back as DuckDB's own text ("1 month 2
    days"): Python's timedelta would turn a month into 30 days."""
    try:
        if kind == "SELECT":
            relation = con.sql(text)
            if relation is not None:
                relation = _intervals_as_text(relation)
                return QueryResult(list(relation.columns), relation.fetchall(), text)
        cursor = con.execute(text)
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return QueryResult(columns, cursor.fetchall() if columns else [], text)
    except duckdb.PermissionException as exc:
        raise ConfigError(
            f"`fstore query` is read-only, and this needs file access: {_first_line(exc)}",
            hint="Parquet files inside the project can be read with read_parquet('path');"
            " pass --write for anything else",
        ) from None
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {_first_line(exc)}") from None


def _intervals_as_text(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """INTERVAL columns cast to DuckDB's text (nested ones stay timedeltas: ISO 8601 durations)."""
    types = [str(t) for t in relation.types]
    if "INTERVAL" not in types:
        return relation
    from features.warehouse import quote_ident

    columns = [
        (f"cast(#{i} as varchar)" if t == "INTERVAL" else f"#{i}") + f" as {quote_ident(name)}"
        for i, (name, t) in enumerate(zip(relation.columns, types, strict=True), start=1)
    ]
    return relation.project(", ".join(columns))


def _first_line(exc: Exception) -> str:
    return str(exc).strip()


__all__ = ["QueryResult", "format_result", "format_results", "run_queries", "run_query"]
