"""Column-level lineage through the DAG back to source columns (traced by ``sqlglot.lineage``).

``column_lineage(dag, "training_set.ret_1d")`` follows the column through the model's SQL (CTEs,
joins, window functions) to the columns of the relations it reads; a relation that is itself a SQL
model is followed in turn, a source or a Python model ends the path. Each build also writes
``target/lineage.json``: every column of every SQL model mapped to the source columns it comes from
(recomputed only for models whose definition changed).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from features.errors import ModelError
from features.models.dag import did_you_mean

if TYPE_CHECKING:
    import duckdb

    from features.config import Project
    from features.models.dag import Dag

ARTIFACT = "lineage.json"


def warehouse_schema(con: duckdb.DuckDBPyConnection | None) -> dict[str, dict[str, str]]:
    """relation -> {column: type} for every relation in the warehouse's main schema."""
    if con is None:
        return {}
    schema: dict[str, dict[str, str]] = {}
    rows = con.execute(
        "select table_name, column_name, data_type from duckdb_columns() where schema_name = 'main'"
        " and database_name = current_database() order by table_name, column_index"
    ).fetchall()
    for table, column, dtype in rows:
        schema.setdefault(table, {})[column] = dtype
    return schema


def _trace(
    dag: Dag, model: str, column: str, schema: dict[str, dict[str, str]], memo: dict
) -> dict[str, Any]:
    key = (model, column)
    if key in memo:
        return memo[key]
    m = dag.models.get(model)
    if m is None:
        node = {"column": f"{model}.{column}", "kind": "source", "from": []}
    elif m.kind == "python":
        node = {
            "column": f"{model}.{column}",
            "kind": "python",
            "from": [],  # opaque: a Python function's columns cannot be traced
            "inputs": [r.name for r in m.refs],
        }
    else:
        node = {"column": f"{model}.{column}", "kind": "sql", "from": []}
        for table, col in _direct_sources(m.sql, column, schema, m):
            node["from"].append(_trace(dag, table, col, schema, memo))
    memo[key] = node
    return node


def _direct_sources(
    sql: str, column: str, schema: dict[str, dict[str, str]], model: Any
) -> list[tuple[str, str]]:
    """(relation, column) pairs a model's output column is computed from."""
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.lineage import lineage

    try:
        root = lineage(column, sql, schema=schema or None, dialect="duckdb")
    except SqlglotError as exc:
        known = list(schema.get(model.name, {}))
        hint = did_you_mean(column, known) if known else ""
        raise ModelError(
            f"cannot trace column `{column}` of `{model.name}`{hint}: {exc}", file=model.file
        ) from None
    out: dict[tuple[str, str], None] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node.source, exp.Table) and not node.downstream:
            out[(node.source.name, node.name.split(".")[-1])] = None
        stack.extend(node.downstream)
    return sorted(out)


def column_lineage(dag: Dag, target: str, con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """The lineage tree of ``MODEL.COLUMN``: {"column", "kind", "from": [subtrees]}."""
    model, _, column = target.partition(".")
    if not column:
        raise ModelError(f"expected MODEL.COLUMN, got `{target}`")
    if model not in dag.models:
        raise ModelError(f"no model named `{model}`{did_you_mean(model, dag.models)}")
    schema = warehouse_schema(con)
    cols = schema.get(model)
    if cols and column not in cols:
        raise ModelError(f"model `{model}` has no column `{column}`{did_you_mean(column, cols)}")
    return _trace(dag, model, column, schema, {})


def source_columns(tree: dict[str, Any]) -> list[str]:
    """The leaves of a lineage tree: source (or Python model) columns."""
    if not tree["from"]:
        return [tree["column"]]
    out: dict[str, None] = {}
    for child in tree["from"]:
        out.update(dict.fromkeys(source_columns(child)))
    return sorted(out)


def format_lineage(tree: dict[str, Any]) -> str:
    """An indented tree, then the source columns it comes from."""
    lines: list[str] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        note = {
            "source": "  (source)",
            "python": "  (python model: " + ", ".join(node.get("inputs", [])) + ")",
        }.get(node["kind"], "")
        lines.append("  " * depth + node["column"] + note)
        for child in node["from"]:
            walk(child, depth + 1)

    walk(tree, 0)
    lines.append("sources: " + ", ".join(source_columns(tree)))
    return "\n".join(lines) + "\n"


def write_lineage_artifact(con: duckdb.DuckDBPyConnection, project: Project, dag: Dag) -> None:
    """target/lineage.json: model -> {definition, columns: {column: [source columns]}}."""
    from features.models.fingerprint import digest

    path = project.path(project.paths.target) / ARTIFACT
    try:
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        old = {}
    schema = warehouse_schema(con)
    out: dict[str, Any] = {}
    for name in dag.order:
        m = dag.models[name]
        if m.kind != "sql" or name not in schema:
            continue
        key = digest(m.code_hash, [schema.get(r.name) for r in m.refs], sorted(schema[name]))
        if old.get(name, {}).get("key") == key:
            out[name] = old[name]
            continue
        columns: dict[str, list[str]] = {}
        for column in schema[name]:
            try:
                columns[column] = source_columns(_trace(dag, name, column, schema, {}))
            except ModelError:
                columns[column] = []
        out[name] = {"key": key, "columns": columns}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(out, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


__all__ = ["column_lineage", "format_lineage", "source_columns", "write_lineage_artifact"]
