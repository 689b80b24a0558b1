"""The build loop, the same on every engine: plan, build in order, test, log.

    start     the engine gets ready (Spark: transpile every model, start a session, load sources)
              and says in which order to build
    plan      fingerprint every model; decide per selected model: up to date | full | incremental |
              view (:mod:`features.models.plan`; a stateless engine builds everything in full)
    execute   one engine transaction per model: the strategy of its action
              (:mod:`features.models.materialize`) and, on a stateful engine, its bookkeeping. A
              failure rolls back; its descendants are skipped, independent models still build
    test      data tests of built models (on a stateful engine cached per fingerprint: an unchanged
              model is not re-tested)
    log       build_runs / build_models / build_tests rows (stateful engines)

The engine is any :class:`features.engines.base.Engine`; the default is DuckDB on the warehouse.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import BuildError, DataTestError, FstoreError
from features.models import state as st
from features.models.checks import format_failure
from features.models.fingerprint import digest
from features.models.plan import Plan, plan
from features.models.result import BuildResult, ModelRun, Reporter
from features.warehouse import transaction

if TYPE_CHECKING:
    import duckdb

    from features.config import Project
    from features.engines.base import Engine
    from features.models.dag import Dag
    from features.models.discovery import Model
    from features.models.materialize import Step


def build_models(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    dag: Dag,
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    full_refresh: bool = False,
    run_tests: bool = True,
    report: Reporter | None = None,
    raise_on_failure: bool = True,
    engine: Engine | None = None,
) -> BuildResult:
    """Build the selected models (``select`` less ``exclude``, see :func:`features.models.dag.select`) of
    a validated DAG on ``engine`` (default: DuckDB in the warehouse ``con``); run their data tests; log
    the build (stateful engines).

    Raises BuildError (models failed; ``err.result`` holds the BuildResult) or DataTestError (tests of
    error severity failed) after everything that could run has run and been logged; an engine that
    cannot run the selection at all (e.g. a model Spark cannot transpile) raises before anything runs.
    """
    from features.models.dag import select as select_models

    engine = engine or default_engine(con, project)
    result = BuildResult(uuid.uuid4().hex[:12], datetime.now())
    emit = report or _silent
    if engine.stateful:
        st.ensure_tables(con)
    try:
        order = engine.start(dag, select_models(dag, select, exclude))
        p = plan(con, engine, dag, order, full_refresh=full_refresh)
        bad = _build_in_order(con, engine, dag, p, order, result, emit)
        if run_tests:
            passed = st.passed_tests(con, p.existing) if engine.stateful else set()
            fps = {n: s.fingerprint for n, s in p.states.items()}
            _run_tests(con, engine, dag, result, [n for n in order if n not in bad], fps, passed, emit)
    finally:
        engine.close()
    result.ended_at = datetime.now()
    if engine.stateful:
        _log(con, result, _selection_text(select, exclude), full_refresh)
    if raise_on_failure:
        raise_for_result(result)
    return result


def _selection_text(select: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """The selection as build_runs.selected records it: ``a +b --exclude c``."""
    return [*select, "--exclude", *exclude] if exclude else list(select)


def default_engine(con: duckdb.DuckDBPyConnection, project: Project) -> Engine:
    """The DuckDB engine on the warehouse ``con`` (through the registry, like any other engine)."""
    from features.engines import engine_class

    engine: Engine = engine_class("duckdb")(con, project)
    return engine


def _silent(_event: str, _payload: Any) -> None:
    return None


def _build_in_order(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    dag: Dag,
    p: Plan,
    order: Sequence[str],
    result: BuildResult,
    emit: Reporter,
) -> set[str]:
    """Execute every planned run in ``order``; return the models that failed or were skipped."""
    bad: set[str] = set()
    for name in order:
        run = p.runs[name]
        result.runs.append(run)
        if _skip_after_failed_upstream(run, dag.upstream[name], bad, emit) or run.status == "up_to_date":
            continue
        emit("start", run)
        t0 = time.perf_counter()
        try:
            execute(con, engine, dag, p, run, result.build_id)
            run.status = "success"
        except Exception as exc:  # any failure of one model: record it, skip its descendants, go on
            run.status, run.error = "failed", error_text(exc, dag.models[name])
            bad.add(name)
        run.seconds = time.perf_counter() - t0
        emit("done", run)
    return bad


def execute(
    con: duckdb.DuckDBPyConnection, engine: Engine, dag: Dag, p: Plan, run: ModelRun, build_id: str
) -> None:
    """Build one model in one engine transaction (with its bookkeeping on a stateful engine)."""
    from features.models.incremental import full_rebuild_reason, refresh_window, with_own_ahead
    from features.models.materialize import Step, materialize

    model = dag.models[run.model]
    step = Step(engine, model, run, p.existing.get(model.name), _function(model))
    if run.action == "incremental":
        reason = full_rebuild_reason(dag, p, model.name)
        if reason is not None:
            run.action, run.note = "full", reason
        else:
            step.model = with_own_ahead(model, p)
            step.window = refresh_window(dag, p, model.name, step.func)
    with engine.transaction():
        run.rows = materialize(step)
        if engine.stateful:
            _save_state(con, engine, dag, p, step, build_id)
    p.existing[model.name] = "view" if run.action == "view" else "table"


def _function(model: Any) -> Any:
    """A Python model's function (its file imported now), None for a SQL model."""
    if model.kind != "python":
        return None
    from features.models.discovery import load_python_function

    return load_python_function(model)


def _save_state(
    con: duckdb.DuckDBPyConnection, engine: Engine, dag: Dag, p: Plan, step: Step, build_id: str
) -> None:
    """Record what the model's relation was built from, in the model's transaction."""
    from features.models.incremental import record_state

    model, run = step.model, step.run
    state = p.states[model.name]
    if model.materialized == "incremental":
        state = record_state(con, engine, dag, p, run, step.stats, build_id)
    total = engine.row_count(model.name) if run.action == "incremental" else run.rows
    st.save_state(con, model.name, model.kind, model.materialized, state, build_id, total)


def error_text(exc: BaseException, model: Model | None = None) -> str:
    """The text recorded for a failed model, led by where it failed: ``sql/marts/x.sql: model x failed:
    BinderException: …``; for a Python model ``models/x.py:LINE``, the line of its file where it raised
    (from the traceback), else its ``@model`` line. An FstoreError that names a file already says where."""
    text = str(exc).strip()
    if not isinstance(exc, FstoreError):
        text = f"{type(exc).__name__}: {text}"
    if model is None or (isinstance(exc, FstoreError) and exc.file == model.file):
        return text
    where = model.file
    if model.kind == "python":
        where += f":{_raised_at(exc, model) or model.python_line}"
    return f"{where}: model {model.name} failed: {text}"


def _raised_at(exc: BaseException, model: Model) -> int | None:
    """The last line of the model's own file in the traceback of ``exc`` (or of the error it wraps)."""
    if model.path is None:
        return None
    file = str(model.path.resolve())
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        line = None
        tb = error.__traceback__
        while tb is not None:
            if str(Path(tb.tb_frame.f_code.co_filename).resolve()) == file:
                line = tb.tb_lineno
            tb = tb.tb_next
        if line is not None:
            return line
        error = error.__cause__ or error.__context__
    return None


def _skip_after_failed_upstream(
    run: ModelRun, upstream: Sequence[str], bad: set[str], emit: Reporter
) -> bool:
    """Mark ``run`` skipped (and failed for its own descendants) when an upstream failed; report it."""
    failed = [u for u in upstream if u in bad]
    if not failed:
        return False
    run.status, run.action = "skipped", "none"
    run.error = "upstream failed: " + ", ".join(failed)
    bad.add(run.model)
    emit("done", run)
    return True


def _run_tests(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    dag: Dag,
    result: BuildResult,
    names: Sequence[str],
    fingerprints: Mapping[str, str],
    passed: set[tuple[str, str, str]],
    emit: Reporter,
) -> None:
    """Run the data tests of ``names`` on the engine, except those ``passed`` on the same fingerprint;
    a stateful engine remembers which passed on which fingerprint."""
    todo: list[tuple[str, str, str]] = []  # (model, test key, fingerprint) of each test to run
    tests = []
    for name in names:
        fp = fingerprints.get(name, "")
        for test in dag.models[name].tests:
            key = digest(test.kind, test.args, test.severity)
            if (name, key, fp) in passed:
                result.tests_cached += 1
                continue
            todo.append((name, key, fp))
            tests.append(test)
    for (name, key, fp), outcome in zip(todo, engine.run_tests(tests), strict=True):
        result.tests.append(outcome)
        emit("test", outcome)
        if engine.stateful:
            st.record_test(con, name, key, fp, passed=outcome.status == "pass")


def run_tests(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    dag: Dag,
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    report: Reporter | None = None,
    engine: Engine | None = None,
) -> BuildResult:
    """Run the data tests of the selected models now (no cache), log them, raise DataTestError on
    failure, or before running anything when a selected model with tests is not built."""
    from features.models.dag import select as select_models

    engine = engine or default_engine(con, project)
    names = select_models(dag, select, exclude)
    refuse_unbuilt(dag, names, engine.relations())
    st.ensure_tables(con)
    result = BuildResult(uuid.uuid4().hex[:12], datetime.now())
    _run_tests(con, engine, dag, result, names, {}, set(), report or _silent)
    result.ended_at = datetime.now()
    _log(con, result, _selection_text(select, exclude), False, kind="test")
    raise_for_result(result)
    return result


def refuse_unbuilt(dag: Dag, names: Sequence[str], built: Collection[str], where: str = "") -> None:
    """DataTestError naming every model of ``names`` that has data tests but no relation in ``built``:
    testing a model that is not there must not pass as "0 tests"."""
    missing = [n for n in names if dag.models[n].tests and n not in built]
    if missing:
        raise DataTestError(
            f"cannot test {len(missing)} model(s) that are not built{where}: {', '.join(missing)}",
            model=missing[0],
            hint="run `fstore build` first (or `fstore build --select` those models)",
        )


def _log(
    con: duckdb.DuckDBPyConnection,
    result: BuildResult,
    select: Sequence[str],
    full: bool,
    kind: str = "build",
) -> None:
    """One build_runs row, and its build_models and build_tests rows, in one transaction."""
    built = [r for r in result.runs if r.status in ("success", "failed", "skipped")]
    message = "nothing to do" if result.nothing_to_do and kind == "build" else kind
    run = (result.build_id, result.started_at, result.ended_at, result.status, " ".join(select), full)
    counts = (len(result.built), len(result.up_to_date), len(result.failed), len(result.skipped))
    with transaction(con):
        con.execute(
            f"insert into build_runs ({st.columns_of('build_runs')}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [*run, *counts, len(result.failed_tests), message],
        )
        if built:
            con.executemany(
                f"insert into build_models ({st.columns_of('build_models')}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_model_row(result.build_id, r) for r in built],
            )
        if result.tests:
            con.executemany(
                f"insert into build_tests ({st.columns_of('build_tests')}) values (?, ?, ?, ?, ?, ?)",
                [
                    (result.build_id, t.test.model, t.test.name, t.test.severity, t.status, t.failures)
                    for t in result.tests
                ],
            )


def _model_row(build_id: str, r: ModelRun) -> tuple[object, ...]:
    """One build_models row."""
    return (
        build_id,
        r.model,
        r.kind,
        r.materialized,
        r.action,
        r.status,
        r.rows,
        r.seconds,
        r.fingerprint,
        r.error,
    )


def raise_for_result(result: BuildResult) -> None:
    """BuildError when models failed or were skipped, DataTestError when error-severity tests failed."""
    if result.failed or result.skipped:
        lines = [
            f"{len(result.failed)} model(s) failed, {len(result.skipped)} skipped (relations unchanged):"
        ]
        for r in result.runs:
            if r.status in ("failed", "skipped"):
                first = (r.error or "").splitlines()[0] if r.error else ""
                # a failure's text leads with the model's file and names the model (error_text)
                named = r.status == "failed" and (f"model {r.model} " in first or f"`{r.model}`" in first)
                lines.append(f"  {first}" if named else f"  {r.model}: {r.status}: {first}")
        if result.failed_tests:
            lines.append(f"and {len(result.failed_tests)} data test(s) failed")
        err = BuildError("\n".join(lines), model=result.failed[0] if result.failed else None)
        err.result = result  # type: ignore[attr-defined]
        raise err
    if result.failed_tests:
        lines = [f"{len(result.failed_tests)} data test(s) failed:"]
        lines += ["  " + format_failure(t).replace("\n", "\n  ") for t in result.failed_tests]
        err2 = DataTestError("\n".join(lines), model=result.failed_tests[0].test.model)
        err2.result = result  # type: ignore[attr-defined]
        raise err2


__all__ = [
    "BuildResult",
    "ModelRun",
    "Plan",
    "build_models",
    "default_engine",
    "error_text",
    "execute",
    "plan",
    "raise_for_result",
    "refuse_unbuilt",
    "run_tests",
]
