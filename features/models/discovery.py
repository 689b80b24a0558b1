"""Find every model of a project: SQL files under ``paths.sql`` and ``@model`` Python functions.

SQL files are parsed with sqlglot to find their upstream relations (every table reference that is not
a CTE), their window extent (for incremental refresh) and look-aheads (for the leakage lint). What
parsing learns depends only on a file's bytes, so it is cached by content hash under ``target/``: a
build where nothing changed reads headers and hashes and never imports sqlglot. Python model files
are likewise only imported when their hash is new or a model must run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import FstoreError, ModelError
from features.models.checks import DataTest, parse_test
from features.models.headers import Header, HeaderTest, parse_header
from features.models.seeds import resolve_paths
from features.statements import syntax_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from features.config import Project

CACHE_FILE = "fstore_parse_cache.json"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CACHE_VERSION = "5"  # bump when parsing learns more (5: models and custom tests are checked to only read)
_PARSED = {"refs", "hash", "back", "ahead", "refresh_problem", "leaks"}  # what parse_sql returns


@dataclass(frozen=True)
class Ref:
    """A table reference in a model's SQL (or a Python model's parameter)."""

    name: str
    line: int | None = None
    column: int | None = None


@dataclass
class Model:
    """One node of the DAG: a SQL file or a Python function."""

    name: str
    kind: str  # sql | python
    file: str  # path as shown in messages (relative to the project root when inside it)
    header: Header
    refs: tuple[Ref, ...]
    code_hash: str  # normalised SQL (formatting and comments do not count) or the Python file's source
    back: int | None = 0  # rows the SQL looks back (None: unbounded), before a header `lookback`
    ahead: int | None = 0  # rows it looks ahead
    leaks: tuple[tuple[int | None, str], ...] = ()
    sql: str = ""  # the SELECT as it runs (SQL models)
    path: Path | None = None
    python_line: int = 0
    tests: tuple[DataTest, ...] = field(default_factory=tuple)
    stateful: bool = False  # python: takes `this`, its own last rows, and continues from them
    ahead_from: str | None = None  # python label: "relation.column" holding its lookahead in rows
    refresh_problem: str = ""  # why no incremental refresh of this SQL can be exact ('': none)

    @property
    def materialized(self) -> str:
        return self.header.materialized

    @property
    def lookback(self) -> int | None:
        """Rows of history an incremental refresh re-reads per partition (None: all)."""
        return self.header.lookback if self.header.lookback is not None else self.back


@dataclass
class Discovery:
    """Models found in a project, plus every problem met while reading them."""

    models: dict[str, Model]
    problems: list[FstoreError]
    unread: set[str] = field(default_factory=set)  # stems of SQL files that could not be read
    python_failed: bool = False  # a Python model file could not be read: its models are unknown


def _display(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


class ParseCache:
    """What parsing learned per file content hash, kept as JSON under the project's target folder."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, Any] = {}
        self.dirty = False
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("version") == CACHE_VERSION:
                    self.entries = data.get("entries", {})
            except (OSError, ValueError):
                self.entries = {}

    def get(self, key: str) -> Any:
        return self.entries.get(key)

    def put(self, key: str, value: Any) -> None:
        self.entries[key] = value
        self.dirty = True

    def save(self, keep: set[str]) -> None:
        if self.path is None or not self.dirty:
            return
        from features.warehouse import atomic_write

        entries = {k: v for k, v in self.entries.items() if k in keep}
        atomic_write(self.path, json.dumps({"version": CACHE_VERSION, "entries": entries}))


# --------------------------------------------------------------------------- SQL


def parse_sql(
    text: str, file: str, time_column: str | None = None, partition_by: str | None = None
) -> dict[str, Any]:
    """Parse one model's SQL: upstream refs, normalised hash, window extent, look-aheads.

    ``time_column`` and ``partition_by`` (from the header) are what rows are counted in: time order
    within the model's partitions.
    """
    import sqlglot
    from sqlglot import exp

    from features.models.leakage import find_leaks
    from features.models.lookback import analyse
    from features.statements import parse_statements, write_problems

    try:
        statements = parse_statements(text)
        problems = write_problems(text, statements=statements, what="a model")
    except sqlglot.errors.ParseError as err:
        raise syntax_error(err, text, file) from None
    except sqlglot.errors.TokenError as err:
        raise ModelError(f"SQL syntax error: {err}", file=file) from None
    if problems:
        raise ModelError(problems[0].message, file=file, line=problems[0].line)
    query = statements[0]
    ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
    refs: dict[str, tuple[int | None, int | None]] = {}
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or (table.name in ctes and not table.db):
            continue
        meta = table.this.meta
        line = meta.get("line")
        col = meta["col"] - len(table.name) + 1 if "col" in meta else None
        refs.setdefault(table.name, (line, col))
    reach = analyse(query, time_column, (partition_by,) if partition_by else ())
    normalised = query.sql(dialect="duckdb", comments=False)
    return {
        "refs": [[name, line, col] for name, (line, col) in refs.items()],
        "hash": hashlib.sha256(normalised.encode()).hexdigest(),
        "back": reach.extent.back,
        "ahead": reach.extent.ahead,
        "refresh_problem": reach.problem,
        "leaks": [list(leak) for leak in find_leaks(query, time_column)],
    }


def _read_model_file(path: Path, file: str) -> bytes:
    """A model file's bytes; one that cannot be read (a dangling link, no permission) is a ModelError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the model file: {exc.strerror}", file=file) from None


def _sql_model(path: Path, root: Path, cache: ParseCache, keep: set[str]) -> Model:
    file = _display(path, root)
    raw = _read_model_file(path, file)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ModelError(
            f"not UTF-8 text (byte {raw[exc.start]:#04x})",
            file=file,
            line=line,
            hint="save the file as UTF-8",
        ) from None
    header = parse_header(text, file)
    key = "sql:" + hashlib.sha256(raw).hexdigest()
    keep.add(key)
    info = cache.get(key)
    if info is None or not info.keys() >= _PARSED:  # a key missing: written by another fstore
        info = parse_sql(text, file, header.time_column, header.partition_by)
        cache.put(key, info)
    sql = resolve_paths(text.strip().rstrip(";").strip(), root)  # read_csv('seeds/x.csv'): from the root
    return Model(
        name=path.stem,
        kind="sql",
        file=file,
        header=header,
        refs=tuple(Ref(n, line, col) for n, line, col in info["refs"]),
        code_hash=info["hash"],
        back=info["back"],
        ahead=info["ahead"],
        refresh_problem=info["refresh_problem"],
        leaks=tuple((line, msg) for line, msg in info["leaks"]),
        sql=sql,
        path=path,
        tests=_tests(path.stem, header.tests, file, root, cache, keep),
    )


def _tests(
    model: str, tests: tuple[HeaderTest, ...], file: str, root: Path, cache: ParseCache, keep: set[str]
) -> tuple[DataTest, ...]:
    """The parsed ``-- test:`` lines of a model; a custom ``sql`` test's file is checked to be one
    query that only reads (cached by its content, like a model's parse)."""
    parsed = tuple(parse_test(t.text, model, file, t.line) for t in tests)
    for test in parsed:
        if test.kind == "sql":
            _check_custom_test(test, root, cache, keep)
    return parsed


def _check_custom_test(test: DataTest, root: Path, cache: ParseCache, keep: set[str]) -> None:
    from features.models.checks import custom_test_path, custom_test_sql

    try:
        raw = custom_test_path(test, root).read_bytes()
    except OSError as exc:
        raise ModelError(
            f"custom test file {test.args[0]} cannot be read: {exc.strerror}",
            file=test.file,
            line=test.line,
            model=test.model,
        ) from None
    key = "test:" + hashlib.sha256(raw).hexdigest()
    keep.add(key)
    if cache.get(key) is None:
        custom_test_sql(test, root, raw.decode("utf-8", errors="replace"))
        cache.put(key, True)


# --------------------------------------------------------------------------- Python


def load_module(path: Path) -> Any:
    """Import a Python file by path (no package needed), under a name derived from its path."""
    name = "fstore_models_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelError("cannot import this file", file=path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except FstoreError:
        raise
    except Exception as exc:
        sys.modules.pop(name, None)
        tb = exc.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        raise ModelError(
            f"importing this file failed: {type(exc).__name__}: {exc}", file=path, line=line
        ) from None
    return module


def python_specs(path: Path) -> list[Any]:
    """The ``@model`` specs defined in one Python file (not those it imports)."""
    from features.models.python import ATTRIBUTE

    module = load_module(path)
    specs = []
    for attr, value in vars(module).items():
        spec = getattr(value, ATTRIBUTE, None)
        if spec is None or attr.startswith("_") or spec.name.startswith("_"):
            continue
        if Path(spec.file).resolve() != path.resolve():
            continue
        specs.append(spec)
    return sorted(specs, key=lambda s: s.line)


def _spec_entry(spec: Any) -> dict[str, Any]:
    return {
        "name": spec.name,
        "params": list(spec.params),
        "materialized": spec.materialized,
        "unique_key": list(spec.unique_key),
        "time_column": spec.time_column,
        "lookback": spec.lookback,
        "group_by": spec.group_by,
        "lookahead": spec.lookahead,
        "tags": list(spec.tags),
        "tests": list(spec.tests),
        "label": spec.label,
        "line": spec.line,
    }


def _python_models(path: Path, root: Path, cache: ParseCache, keep: set[str]) -> list[Model]:
    file = _display(path, root)
    raw = _read_model_file(path, file)
    digest = hashlib.sha256(raw).hexdigest()
    key = "py:" + digest
    keep.add(key)
    entries = cache.get(key)
    if entries is None:
        entries = [_spec_entry(s) for s in python_specs(path)]
        cache.put(key, entries)
    from features.models.python import MATERIALIZATIONS

    models = []
    for e in entries:
        if e["materialized"] not in MATERIALIZATIONS:
            raise ModelError(
                f"python model `{e['name']}`: materialized must be {' or '.join(MATERIALIZATIONS)},"
                f" got `{e['materialized']}`",
                file=file,
                line=e["line"],
            )
        header = Header(
            materialized=e["materialized"],
            unique_key=tuple(e["unique_key"]),
            time_column=e["time_column"],
            lookback=e["lookback"],
            partition_by=e["group_by"],
            tags=tuple(e["tags"]),
            label=e["label"],
            tests=tuple(HeaderTest(t, e["line"]) for t in e["tests"]),
        )
        stateful = THIS in e["params"]
        ahead, ahead_from = _python_lookahead(e, file, stateful)
        models.append(
            Model(
                name=e["name"],
                kind="python",
                file=file,
                header=header,
                refs=tuple(Ref(p, e["line"]) for p in e["params"] if p != THIS),
                code_hash=hashlib.sha256(f"{digest}:{e['name']}".encode()).hexdigest(),
                # opaque unless declared: an incremental refresh re-reads whole affected groups; a
                # model continuing from `this` reads only the rows it recomputes
                back=0 if stateful else None,
                ahead=ahead,
                ahead_from=ahead_from,
                stateful=stateful,
                path=path,
                python_line=e["line"],
                tests=_tests(e["name"], header.tests, file, root, cache, keep),
            )
        )
    return models


THIS = "this"  # the parameter through which a Python model receives its own previous rows
_AHEAD_FROM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")


def _python_lookahead(e: dict[str, Any], file: str, stateful: bool) -> tuple[int | None, str | None]:
    """(ahead rows or None = unbounded, "relation.column" to read it from) of a Python model entry."""
    declared = e.get("lookahead")
    if stateful and e["lookback"] not in (None, 0):
        raise ModelError(
            f"python model `{e['name']}`: takes `this`, so it reads no history before its new rows:"
            f" drop lookback={e['lookback']}",
            file=file,
            line=e["line"],
        )
    if declared is None:
        return (None if e["label"] else 0), None
    if not e["label"]:
        raise ModelError(
            f"python model `{e['name']}`: lookahead is for label models (add label=True)",
            file=file,
            line=e["line"],
        )
    if isinstance(declared, int) and not isinstance(declared, bool) and declared >= 0:
        return declared, None
    match = _AHEAD_FROM.match(declared) if isinstance(declared, str) else None
    if match is None or match.group(1) not in e["params"]:
        raise ModelError(
            f"python model `{e['name']}`: lookahead must be a row count or `relation.column` naming"
            f" one of its parameters, got {declared!r}",
            file=file,
            line=e["line"],
        )
    return None, declared


def load_python_function(model: Model) -> Callable[..., Any]:
    """Import a Python model's file and return its function (only when the model must run)."""
    assert model.path is not None
    for spec in python_specs(model.path):
        if spec.name == model.name:
            return spec.func
    raise ModelError(f"python model `{model.name}` is no longer defined in this file", file=model.file)


# --------------------------------------------------------------------------- both


def name_problem(model: Model, by_lower: dict[str, Model]) -> ModelError | None:
    """Why ``model`` cannot join the models found so far (``by_lower``: lower-case name -> model)
    under its name: not an identifier, a name fstore owns, or the same name as one of them (DuckDB
    compares identifiers case-insensitively)."""
    from features.system import reserved_reason

    where = {"file": model.file, "line": model.python_line or None, "model": model.name}
    if not _IDENTIFIER.fullmatch(model.name):
        return ModelError(
            f"model name `{model.name}` is not an identifier: a model's name (its file stem or "
            "function name) may hold only letters, digits and _, and not start with a digit",
            **where,
        )
    reason = reserved_reason(model.name)
    if reason is not None:
        return ModelError(
            f"model name `{model.name}` is reserved: fstore keeps {reason} under it; rename the model",
            **where,
        )
    other = by_lower.get(model.name.lower())
    if other is not None and other.name == model.name:
        return ModelError(f"two models are named `{model.name}`: {other.file} and {model.file}", **where)
    if other is not None:
        return ModelError(
            f"two models differ only by case: `{other.name}` ({other.file}) and `{model.name}` "
            f"({model.file}); DuckDB's names are case-insensitive, so one would overwrite the other",
            **where,
        )
    return None


def discover(project: Project) -> Discovery:
    """Read every model of ``project``; collect problems instead of stopping at the first."""
    root = project.root
    cache = ParseCache(project.path(project.paths.target) / CACHE_FILE)
    keep: set[str] = set()
    models: dict[str, Model] = {}
    problems: list[FstoreError] = []
    found = Discovery(models, problems)
    by_lower: dict[str, Model] = {}

    def add(model: Model) -> None:
        problem = name_problem(model, by_lower)
        if problem is not None:
            problems.append(problem)
            return
        models[model.name] = by_lower[model.name.lower()] = model

    sql_dir = project.path(project.paths.sql)
    if sql_dir.is_dir():
        for path in sorted(sql_dir.rglob("*.sql")):
            if path.is_dir():  # a folder named like a model (its files are found on their own)
                continue
            try:
                add(_sql_model(path, root, cache, keep))
            except FstoreError as err:
                problems.append(err)
                found.unread.add(path.stem)
    for folder in project.paths.python_models:
        py_dir = project.path(folder)
        if not py_dir.is_dir():
            continue
        for path in sorted(py_dir.rglob("*.py")):
            if path.name.startswith("_") or "__pycache__" in path.parts or path.is_dir():
                continue
            try:
                for model in _python_models(path, root, cache, keep):
                    add(model)
            except FstoreError as err:
                problems.append(err)
                found.python_failed = True
    cache.save(keep)
    return found


__all__ = [
    "Discovery",
    "Model",
    "Ref",
    "discover",
    "load_python_function",
    "name_problem",
    "parse_sql",
    "syntax_error",
]
