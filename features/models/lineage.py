"""Column-level lineage through the DAG back to source columns (traced by ``sqlglot.lineage``).

``column_lineage(dag, "training_set.ret_1d")`` follows the column through the model's SQL (CTEs,
joins, window functions) to the columns of the relations it reads; a relation that is itself a SQL
model is followed in turn, a source or a Python model ends the path. Each build also writes
``target/lineage.json``: every column of every SQL model mapped to the source columns it comes from
(recomputed only for models whose definition changed).
"""

from __future__ import annotations

import json
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


class Tracer:
    """Traces columns through the DAG; each model's SQL is analysed once for all its columns.

    :meth:`trace` gives a column's whole tree (``fstore lineage``), :meth:`leaves` only the source
    columns at its ends (``target/lineage.json`` and the manifest, :mod:`features.artifacts`).
    """

    def __init__(self, dag: Dag, schema: dict[str, dict[str, str]]) -> None:
        self.dag, self.schema = dag, schema
        self.direct: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self.trees: dict[tuple[str, str], dict[str, Any]] = {}
        self._leaves: dict[tuple[str, str], list[str]] = {}

    def sources_of(self, model: str) -> dict[str, list[tuple[str, str]]]:
        """column -> (relation, column) pairs it is computed from, for every output column of a SQL model."""
        if model not in self.direct:
            self.direct[model] = _direct_sources(self.dag.models[model], self.schema)
        return self.direct[model]

    def leaves(self, model: str, column: str) -> list[str]:
        """The source columns (``relation.column``, sorted) that ``model.column`` is computed from; a
        source or a Python model's column is its own leaf. ModelError when SQL cannot be traced."""
        key = (model, column)
        if key not in self._leaves:
            m = self.dag.models.get(model)
            if m is None or m.kind != "sql":
                self._leaves[key] = [f"{model}.{column}"]
            else:
                found: dict[str, None] = {}
                for table, col in self.sources_of(model).get(column, []):
                    found.update(dict.fromkeys(self.leaves(table, col)))
                self._leaves[key] = sorted(found)
        return self._leaves[key]

    def trace(self, model: str, column: str) -> dict[str, Any]:
        """The lineage tree of ``model.column``: {"column", "kind", "from": [subtrees]}."""
        key = (model, column)
        if key in self.trees:
            return self.trees[key]
        m = self.dag.models.get(model)
        if m is None:
            node: dict[str, Any] = {"column": f"{model}.{column}", "kind": "source", "from": []}
        elif m.kind == "python":  # opaque: a Python function's columns cannot be traced
            node = {
                "column": f"{model}.{column}",
                "kind": "python",
                "from": [],
                "inputs": [r.name for r in m.refs],
            }
        else:
            direct = self.sources_of(model)
            if column not in direct:
                raise ModelError(
                    f"model `{model}` has no column `{column}`{did_you_mean(column, direct)}", file=m.file
                )
            node = {"column": f"{model}.{column}", "kind": "sql", "from": []}
            for table, col in direct[column]:
                node["from"].append(self.trace(table, col))
        self.trees[key] = node
        return node


# (SQL, input schemas) -> direct sources: one build writes the manifest and lineage.json, each with its
# own tracer; the second reuses the first's analysis instead of running sqlglot's lineage again
_DIRECT: dict[str, dict[str, list[tuple[str, str]]]] = {}


def _direct_sources(model: Any, schema: dict[str, dict[str, str]]) -> dict[str, list[tuple[str, str]]]:
    refs = {r.name: schema[r.name] for r in model.refs if r.name in schema}
    key = json.dumps([model.sql, refs], sort_keys=True)
    if key not in _DIRECT:
        if len(_DIRECT) > 4096:  # a long-lived process (tests, a notebook) keeps a bounded memo
            _DIRECT.clear()
        _DIRECT[key] = _trace_direct(model, refs)
    return {column: list(pairs) for column, pairs in _DIRECT[key].items()}


def _trace_direct(model: Any, refs: dict[str, dict[str, str]]) -> dict[str, list[tuple[str, str]]]:
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    from sqlglot.lineage import lineage

    try:
        roots = lineage(None, model.sql, schema=refs, dialect="duckdb")
    except SqlglotError as exc:
        raise ModelError(f"cannot trace the columns of `{model.name}`: {exc}", file=model.file) from None
    if not isinstance(roots, dict):
        roots = {roots.name: roots}
    out: dict[str, list[tuple[str, str]]] = {}
    for column, root in roots.items():
        found: dict[tuple[str, str], None] = {}
        stack = [root]
        while stack:
            node = stack.pop()
            if isinstance(node.source, exp.Table) and not node.downstream:
                found[(node.source.name, exp.to_column(node.name, dialect="duckdb").name)] = None  # unquoted
            stack.extend(node.downstream)
        out[column] = sorted(found)
    return out


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
    return Tracer(dag, schema).trace(model, column)


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
    from features.warehouse import atomic_write

    path = project.path(project.paths.target) / ARTIFACT
    try:
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        old = {}
    schema = warehouse_schema(con)
    out: dict[str, Any] = {}
    tracer = Tracer(dag, schema)
    for name in dag.order:
        m = dag.models[name]
        if m.kind != "sql" or name not in schema:
            continue
        key = digest(m.code_hash, [schema.get(r.name) for r in m.refs], sorted(schema[name]))
        if old.get(name, {}).get("key") == key:
            out[name] = old[name]
            continue
        try:
            columns = {column: tracer.leaves(name, column) for column in schema[name]}
        except ModelError:
            columns = {}
        out[name] = {"key": key, "columns": columns}
    atomic_write(path, json.dumps(out, indent=1, sort_keys=True))


__all__ = ["Tracer", "column_lineage", "format_lineage", "source_columns", "write_lineage_artifact"]
