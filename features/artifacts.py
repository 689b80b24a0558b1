"""Build artifacts for CI and the docs site: ``target/manifest.json`` and ``target/run_results.json``.

    write_manifest(project, dag, con)     every model and source: settings, SQL, columns with types,
                                          upstreams/downstreams, column lineage, tests, fingerprints
    write_run_results(project, result)    what the last build or ``fstore test`` did, per model and test
    read_manifest / read_run_results      load them back (None when absent), checking the schema number

Both carry ``schema_version`` (:data:`SCHEMA_VERSION`); the formats are documented in
docs/artifacts.md. Both are written atomically (:func:`features.warehouse.atomic_write`), so a reader
sees the previous file or the new one, whole. Column lineage is recomputed only for models whose SQL,
input columns or own columns changed since the manifest on disk (sqlglot is imported only then).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import ConfigError, ModelError

if TYPE_CHECKING:
    import duckdb

    from features.config import Project
    from features.models.dag import Dag
    from features.models.discovery import Model

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
RUN_RESULTS = "run_results.json"
FSTORE_VERSION = "0.1.0"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _target(project: Project) -> Path:
    return project.path(project.paths.target)


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _dump(data: Any) -> str:
    # one line: CPython's C encoder serves only indent=None (indent=1 ran the pure-Python one: ~50 ms a
    # no-op build on 200 models); `python -m json.tool target/manifest.json` prints it indented
    return json.dumps(data, default=str, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------- manifest


def _built_state(con: duckdb.DuckDBPyConnection | None) -> dict[str, dict[str, Any]]:
    """model -> what the warehouse says it was last built from (``_fstore_models``)."""
    from features.models.state import MODELS_TABLE
    from features.warehouse import table_exists

    if con is None or not table_exists(con, MODELS_TABLE, views=False):
        return {}
    rows = con.execute(f"select model, fingerprint, build_id, built_at, rows from {MODELS_TABLE}").fetchall()
    return {r[0]: {"fingerprint": r[1], "build_id": r[2], "at": _iso(r[3]), "rows": r[4]} for r in rows}


def _python_source(model: Model) -> dict[str, Any]:
    """A Python model's function: its source text (decorators included), docstring and line."""
    out: dict[str, Any] = {"function": model.name, "line": model.python_line or None, "source": None}
    if model.path is None or not model.path.is_file():
        return out
    text = model.path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return out
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == model.name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            lines = text.splitlines()[first - 1 : node.end_lineno]
            out.update(source="\n".join(lines), line=first, docstring=ast.get_docstring(node))
            break
    return out


class _Lineage:
    """Column lineage of every SQL model: direct input columns and the source columns at the end.

    Reuses ``previous`` (the manifest on disk) for a model whose lineage key is unchanged.
    """

    def __init__(self, dag: Dag, schema: dict[str, dict[str, str]], previous: Mapping[str, Any]) -> None:
        self.dag, self.schema, self.previous = dag, schema, previous
        self._tracer: Any = None  # a features.models.lineage.Tracer, made when a model needs tracing

    def key(self, model: Model) -> str:
        from features.models.fingerprint import digest

        return digest(
            model.code_hash, [self.schema.get(r.name) for r in model.refs], self.schema.get(model.name)
        )

    def _traced(self) -> Any:
        if self._tracer is None:
            from features.models.lineage import Tracer  # the engine's tracer: one analysis per model

            self._tracer = Tracer(self.dag, self.schema)
        return self._tracer

    def _direct(self, model: str) -> dict[str, list[tuple[str, str]]]:
        return self._traced().sources_of(model)

    def leaves(self, model: str, column: str) -> list[str]:
        """The source columns ``model.column`` comes from (:meth:`features.models.lineage.Tracer.leaves`)."""
        return self._traced().leaves(model, column)

    def columns(self, model: Model) -> tuple[str, list[dict[str, Any]]]:
        """(lineage key, columns with type and lineage) of one model."""
        key = self.key(model)
        old = self.previous.get(model.name) or {}
        if old.get("lineage_key") == key and old.get("columns") is not None:
            return key, old["columns"]
        types = self.schema.get(model.name, {})
        if model.kind != "sql":
            return key, [{"name": c, "type": t, "lineage": None} for c, t in types.items()]
        try:
            direct = self._direct(model.name)
            names = list(types) or list(direct)
            cols = [
                {
                    "name": c,
                    "type": types.get(c),
                    "lineage": {
                        "direct": [f"{t}.{col}" for t, col in direct.get(c, [])],
                        "sources": self.leaves(model.name, c),
                    },
                }
                for c in names
            ]
        except ModelError:  # SQL sqlglot cannot trace: columns without lineage
            cols = [{"name": c, "type": t, "lineage": None} for c, t in types.items()]
        return key, cols


def _model_entry(
    model: Model,
    dag: Dag,
    downstream: Sequence[str],
    lineage: _Lineage,
    built: dict[str, Any] | None,
    definition: str,
) -> dict[str, Any]:
    h = model.header
    key, columns = lineage.columns(model)
    python = _python_source(model) if model.kind == "python" else None
    return {
        "name": model.name,
        "kind": model.kind,
        "file": model.file,
        "materialized": model.materialized,
        "tags": list(h.tags),
        "description": h.description or (python or {}).get("docstring") or None,
        "settings": h.settings(),
        "window": {
            "lookback": model.lookback,
            "lookback_declared": h.lookback is not None,
            "lookahead": model.ahead,
            "lookahead_from": model.ahead_from,
            "continues_from_this": model.stateful,
        },
        "sql": model.sql if model.kind == "sql" else None,
        "python": python,
        "upstream": list(dag.upstream[model.name]),
        "sources": list(dag.sources[model.name]),
        "downstream": list(downstream),
        "columns": columns,
        "lineage_key": key,
        "tests": [
            {"name": t.name, "kind": t.kind, "args": list(t.args), "severity": t.severity, "line": t.line}
            for t in model.tests
        ],
        "fingerprints": {
            "code": model.code_hash,
            "definition": definition,
            "built": (built or {}).get("fingerprint"),
        },
        "built": {k: v for k, v in built.items() if k != "fingerprint"} if built else None,
    }


def _definitions(dag: Dag) -> dict[str, str]:
    """Every model's definition fingerprint (SQL, settings, upstream definitions), as the engine hashes it."""
    from features.models.fingerprint import definition

    defs: dict[str, str] = {}
    for name in dag.order:
        m = dag.models[name]
        defs[name] = definition(m, [defs[u] for u in dag.upstream[name]], list(dag.sources[name]))
    return defs


def build_manifest(
    project: Project,
    dag: Dag,
    con: duckdb.DuckDBPyConnection | None,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest as a dict (see docs/artifacts.md); ``previous`` is the manifest on disk (for reuse)."""
    from features.models.lineage import warehouse_schema

    schema = warehouse_schema(con)
    built = _built_state(con)
    lineage = _Lineage(dag, schema, (previous or {}).get("models", {}))
    downstream = dag.downstream()
    defs = _definitions(dag)
    sources: dict[str, Any] = {}
    for name in dag.all_sources:
        users = sorted(m for m, srcs in dag.sources.items() if name in srcs)
        cols = [{"name": c, "type": t} for c, t in schema.get(name, {}).items()]
        sources[name] = {"name": name, "columns": cols, "downstream": users, "exists": name in schema}
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "fstore.manifest",
        "fstore_version": FSTORE_VERSION,
        "generated_at": _now(),
        "project": {
            "name": project.root.name,
            "root": str(project.root),
            "warehouse": project.paths.warehouse,
            "built": con is not None,
        },
        "order": list(dag.order),
        "models": {
            n: _model_entry(dag.models[n], dag, downstream[n], lineage, built.get(n), defs[n])
            for n in dag.order
        },
        "sources": sources,
    }


def write_manifest(
    project: Project, dag: Dag, con: duckdb.DuckDBPyConnection | None = None, *, path: Path | None = None
) -> Path:
    """Write ``target/manifest.json`` (or ``path``) atomically; return its path.

    ``con`` (read-only is enough) adds column types, lineage through the catalog and what each model
    was last built from; without it the manifest holds what the project files say.
    """
    from features.warehouse import atomic_write

    path = path or _target(project) / MANIFEST
    previous = _read(path, "manifest", strict=False)
    return atomic_write(path, _dump(build_manifest(project, dag, con, previous)))


# --------------------------------------------------------------------------------------- run results


def _sample(sample: Any) -> dict[str, Any] | None:
    if not sample or not sample[0]:
        return None
    columns, rows = sample
    return {"columns": list(columns), "rows": [[_iso(v) for v in row] for row in rows]}


def _count(values: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def build_run_results(result: Any, command: str = "build") -> dict[str, Any]:
    """run_results as a dict from a :class:`features.models.runner.BuildResult`."""
    ended = result.ended_at or datetime.now()
    models = [
        {
            "model": r.model,
            "kind": r.kind,
            "materialized": r.materialized,
            "action": r.action,
            "status": r.status,
            "rows": r.rows,
            "seconds": round(float(r.seconds), 6),
            "fingerprint": r.fingerprint or None,
            "message": r.error or r.note,
        }
        for r in result.runs
    ]
    tests = [
        {
            "model": t.test.model,
            "test": t.test.name,
            "kind": t.test.kind,
            "severity": t.test.severity,
            "status": t.status,
            "failures": t.failures,
            "message": t.error,
            "sample": _sample(t.sample),
        }
        for t in result.tests
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "fstore.run_results",
        "fstore_version": FSTORE_VERSION,
        "generated_at": _now(),
        "command": command,
        "invocation_id": result.build_id,
        "started_at": _iso(result.started_at),
        "ended_at": _iso(ended),
        "elapsed_seconds": round((ended - result.started_at).total_seconds(), 6),
        "status": result.status,
        "models": models,
        "tests": tests,
        "tests_cached": result.tests_cached,
        "counts": {
            "models": _count([m["status"] for m in models]),
            "tests": _count([t["status"] for t in tests]),
        },
    }


def write_run_results(
    project: Project, result: Any, *, command: str = "build", path: Path | None = None
) -> Path:
    """Write ``target/run_results.json`` (or ``path``) atomically from a build's or test run's result."""
    from features.warehouse import atomic_write

    if command not in ("build", "test"):
        raise ConfigError(f"run_results command must be build or test, got `{command}`")
    path = path or _target(project) / RUN_RESULTS
    return atomic_write(path, _dump(build_run_results(result, command)))


# --------------------------------------------------------------------------------------- reading


def _read(path: Path, what: str, *, strict: bool = True) -> dict[str, Any] | None:
    """A JSON artifact, or None when absent. ``strict``: a malformed or newer file is a ConfigError
    (otherwise it is ignored, as when a writer only wants the old file for reuse)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = data.get("schema_version") if isinstance(data, dict) else None
    except (OSError, ValueError) as exc:
        if not strict:
            return None
        raise ConfigError(
            f"cannot read the {what}: {exc}", file=path, hint="rebuild it with `fstore build`"
        ) from None
    if version != SCHEMA_VERSION:
        if not strict:
            return None
        raise ConfigError(
            f"{what} schema_version {version!r} is not the {SCHEMA_VERSION} this fstore reads",
            file=path,
            hint="rebuild it with `fstore build` (or `fstore docs generate`)",
        )
    return data


def read_manifest(project: Project, path: Path | None = None) -> dict[str, Any] | None:
    """``target/manifest.json`` as a dict, or None when there is none."""
    return _read(path or _target(project) / MANIFEST, "manifest")


def read_run_results(project: Project, path: Path | None = None) -> dict[str, Any] | None:
    """``target/run_results.json`` as a dict, or None when there is none."""
    return _read(path or _target(project) / RUN_RESULTS, "run results")


__all__ = [
    "MANIFEST",
    "RUN_RESULTS",
    "SCHEMA_VERSION",
    "build_manifest",
    "build_run_results",
    "read_manifest",
    "read_run_results",
    "write_manifest",
    "write_run_results",
]
