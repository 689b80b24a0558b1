"""The build loop: plan what changed, materialize in topological order, log, run data tests.

plan      fingerprint every model; decide per selected model: up to date | full | incremental | view
execute   one transaction per model (relation + its bookkeeping); a failure rolls back, its
          descendants are skipped, independent models still build
log       build_runs / build_models / build_tests rows
test      data tests of built models (cached per fingerprint: an unchanged model is not re-tested)
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from features.errors import BuildError, DataTestError, FstoreError, ModelError
from features.models import state as st
from features.models.checks import CheckResult, format_failure, run_check
from features.models.fingerprint import data_version, definition, digest, fingerprint

if TYPE_CHECKING:
    import duckdb

    from features.config import Project
    from features.models.dag import Dag


@dataclass
class ModelRun:
    """What happened to one model in one build."""

    model: str
    kind: str
    materialized: str
    action: str  # full | incremental | view | none
    status: str = "pending"  # success | up_to_date | failed | skipped
    rows: int | None = None
    seconds: float = 0.0
    fingerprint: str = ""
    error: str | None = None
    note: str | None = None  # e.g. why an incremental model was rebuilt in full


@dataclass
class BuildResult:
    """The outcome of a build: per-model runs and data-test results."""

    build_id: str
    started_at: datetime
    ended_at: datetime | None = None
    runs: list[ModelRun] = field(default_factory=list)
    tests: list[CheckResult] = field(default_factory=list)
    tests_cached: int = 0

    def _with(self, status: str) -> list[str]:
        return [r.model for r in self.runs if r.status == status]

    @property
    def built(self) -> list[str]:
        return self._with("success")

    @property
    def up_to_date(self) -> list[str]:
        return self._with("up_to_date")

    @property
    def failed(self) -> list[str]:
        return self._with("failed")

    @property
    def skipped(self) -> list[str]:
        return self._with("skipped")

    @property
    def failed_tests(self) -> list[CheckResult]:
        return [t for t in self.tests if t.status in ("fail", "error")]

    @property
    def nothing_to_do(self) -> bool:
        return not self.built and not self.failed and not self.skipped

    @property
    def status(self) -> str:
        if self.failed or self.skipped:
            return "failed"
        if self.failed_tests:
            return "tests_failed"
        return "success"

    @property
    def ok(self) -> bool:
        return self.status == "success"


Reporter = Callable[
    [str, Any], None
]  # (event, payload): "start" ModelRun, "done" ModelRun, "test" CheckResult


@dataclass
class Plan:
    """Fingerprints of every model and the run (action) of each selected one."""

    runs: dict[str, ModelRun]
    states: dict[str, st.ModelState]  # state each model will have once built
    windowed: dict[str, tuple[list[str], list[str]]]  # incremental model -> (windowed, static) inputs
    ahead: dict[str, int | None]  # chained lookahead per model
    own_ahead: dict[str, int | None]  # each model's own lookahead (read from the warehouse if declared so)
    existing: dict[str, str]
    previous: dict[str, st.ModelState] = field(default_factory=dict)  # stored state before this build
    rebuilt_in_full: set[str] = field(default_factory=set)  # incremental models rebuilt in full now
    refreshed: set[str] = field(default_factory=set)  # incremental models refreshed incrementally now


def _own_ahead(con: duckdb.DuckDBPyConnection, dag: Dag, resolve: bool) -> dict[str, int | None]:
    """Rows each model looks ahead; a Python label's ``lookahead="relation.column"`` is read now
    (only when ``resolve``: some model refreshes incrementally; otherwise it is unused)."""
    from features.models.materialize import quote

    own: dict[str, int | None] = {}
    for name, model in dag.models.items():
        own[name] = model.ahead
        if model.ahead_from is None or not resolve:
            continue
        relation, column = model.ahead_from.split(".")  # validated identifiers; quoted anyway
        lo, hi = con.execute(
            f"select min({quote(column)}), max({quote(column)}) from {quote(relation)}"
        ).fetchall()[0]
        if lo != hi or not isinstance(hi, int) or hi < 0:
            raise ModelError(
                f"python model `{name}`: lookahead `{model.ahead_from}` must hold one non-negative"
                f" integer, found {lo!r}..{hi!r}",
                file=model.file,
                line=model.python_line,
                model=name,
            )
        own[name] = hi
    return own


def _chained_ahead(dag: Dag, own_ahead: dict[str, int | None]) -> dict[str, int | None]:
    ahead: dict[str, int | None] = {}
    for name in dag.order:
        own = own_ahead[name]
        ups = [ahead[u] for u in dag.upstream[name]]
        if own is None or any(a is None for a in ups):
            ahead[name] = None
        else:
            ahead[name] = own + max((a for a in ups if a is not None), default=0)
    return ahead


def plan(
    con: duckdb.DuckDBPyConnection,
    dag: Dag,
    selected: Sequence[str],
    *,
    full_refresh: bool = False,
) -> Plan:
    """Decide what to run. Reads only bookkeeping and source versions; builds nothing."""
    from features.models.incremental import all_columns, is_windowed

    existing = st.relations(con)
    stored = st.load_states(con, existing)
    versions: dict[str, str] = {}
    defs: dict[str, str] = {}
    fps: dict[str, str] = {}
    runs: dict[str, ModelRun] = {}
    states: dict[str, st.ModelState] = {}
    windowed: dict[str, tuple[list[str], list[str]]] = {}
    chosen = set(selected)
    cols: dict[str, set[str]] | None = None  # catalog columns, read once when an incremental model needs them
    for name in dag.order:
        model = dag.models[name]
        sources = list(dag.sources[name])
        for s in sources:
            if s not in versions:
                versions[s] = data_version(con, s)
        ups = list(dag.upstream[name])
        defs[name] = definition(model, [defs[u] for u in ups], sources)
        fps[name] = fingerprint(defs[name], [fps[u] for u in ups], [versions[s] for s in sources])
        old = stored.get(name)
        if name not in chosen and old is not None:
            fps[name] = old.fingerprint  # not rebuilt now: downstream sees what the relation holds
        static_fp = ""
        if model.materialized == "incremental" and name in existing:
            inputs = [r.name for r in model.refs]
            if cols is None:
                cols = all_columns(con)
            win = [i for i in inputs if is_windowed(model, cols.get(i, set()))]
            static = [i for i in inputs if i not in win]
            windowed[name] = (win, static)
            static_fp = digest([fps.get(i) or versions.get(i) for i in static])
        states[name] = st.ModelState(fps[name], defs[name], static_fp, model.materialized)
        if name not in chosen:
            continue
        run = ModelRun(name, model.kind, model.materialized, "full", fingerprint=fps[name])
        have = existing.get(name)
        if model.materialized == "view":
            run.action = "view"
            if not full_refresh and old is not None and old.definition == defs[name] and have == "view":
                run.action, run.status = "none", "up_to_date"
        elif full_refresh or old is None or have != "table" or old.materialized != model.materialized:
            run.action = "full"
        elif old.fingerprint == fps[name]:
            run.action, run.status = "none", "up_to_date"
        elif (
            model.materialized == "incremental"
            and old.definition == defs[name]
            and old.static_inputs == static_fp
        ):
            run.action = "incremental"
        runs[name] = run
    building = any(r.materialized == "incremental" and r.action != "none" for r in runs.values())
    own = _own_ahead(con, dag, building)
    return Plan(runs, states, windowed, _chained_ahead(dag, own), own, existing, stored)


def _execute(con: duckdb.DuckDBPyConnection, dag: Dag, p: Plan, run: ModelRun, build_id: str) -> None:
    from features.models import materialize as mat

    model = dag.models[run.model]
    have = p.existing.get(model.name)
    func = None
    if model.kind == "python":
        from features.models.discovery import load_python_function

        func = load_python_function(model)
    incremental = model.materialized == "incremental"
    stats: dict[str, list[str | None]] = {}
    if run.action == "incremental" and any(u in p.rebuilt_in_full for u in p.windowed[model.name][0]):
        run.action, run.note = "full", "an incremental upstream was rebuilt in full"
    elif run.action == "incremental":  # or rebuilt in full by an earlier build that left this one out
        recorded = json.loads(p.previous[model.name].input_stats)
        for u in p.windowed[model.name][0]:
            seen = recorded.get(u)
            if u in dag.models and seen and len(seen) > 3 and seen[3] != _generation(p, u):
                run.action, run.note = "full", f"`{u}` was rebuilt in full since this model's last build"
                break
    con.execute("begin transaction")
    try:
        if run.action == "view":
            mat.create_view(con, model, have)
        elif run.action == "incremental":
            from features.models.incremental import OWN_TAIL, Restated, refresh

            win, static = p.windowed[model.name]
            recorded = json.loads(p.previous[model.name].input_stats)
            checked = {i: recorded.get(i, [None, "none recorded"]) for i in _checked_inputs(dag, win)}
            tails = {i: _tail(recorded.get(i)) for i in win if i not in checked}
            try:
                ahead = dataclasses.replace(model, ahead=p.own_ahead[model.name])
                own_tail = (recorded.get(OWN_TAIL) or [None])[0]
                run.rows, stats = refresh(con, ahead, win, static, p.ahead, func, checked, tails, own_tail)
            except Restated as restated:
                run.action, run.note = "full", f"history of `{restated}` changed since the last build"
        if run.action == "full" and model.kind == "python":
            inputs = {r.name: f"select * from {mat.quote(r.name)}" for r in model.refs}
            frame = mat.python_frame(con, model, func, inputs)
            run.rows = mat.create_table_from_frame(con, model.name, frame, have)
        elif run.action == "full":
            run.rows = mat.create_table(con, model.name, model.sql, have)
        state = p.states[model.name]
        if incremental and run.action == "full":
            from features.models.incremental import columns, input_stats, is_windowed

            inputs = [r.name for r in model.refs]
            win = [i for i in inputs if is_windowed(model, columns(con, i))]
            fps = {n: p.states[n].fingerprint for n in dag.upstream[model.name]}
            static_fp = digest([fps.get(i) or _source_version(con, i) for i in inputs if i not in win])
            ahead = dataclasses.replace(model, ahead=p.own_ahead[model.name])
            stats = input_stats(con, ahead, _checked_inputs(dag, win), win, p.ahead)
            state = st.ModelState(state.fingerprint, state.definition, static_fp, state.materialized)
            p.rebuilt_in_full.add(model.name)
        if incremental:
            # this model's generation (the build that last rebuilt it in full), and the generation of
            # each incremental input it has now read: a later mismatch means a rebuild it did not see
            previous = p.previous.get(model.name)
            gen = build_id if run.action == "full" else _generation(p, model.name, previous)
            for u, rec in stats.items():
                if u in dag.models and dag.models[u].materialized == "incremental":
                    stats[u] = [*rec[:3], _generation(p, u)]
            stats[GENERATION] = [gen]
            state = st.ModelState(
                state.fingerprint,
                state.definition,
                state.static_inputs,
                state.materialized,
                json.dumps(stats),
            )
            p.states[model.name] = state
            if run.action == "incremental":
                p.refreshed.add(model.name)
        total = run.rows
        if run.action == "incremental":
            total = int(con.execute(f"select count(*) from {mat.quote(model.name)}").fetchall()[0][0])
        st.save_state(con, model.name, model.kind, model.materialized, state, build_id, total)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    p.existing[model.name] = "view" if run.action == "view" else "table"


GENERATION = "__full_build"  # key in input_stats: the build that last rebuilt the model in full


def _generation(p: Plan, name: str, state: st.ModelState | None = None) -> str | None:
    """The build that last rebuilt incremental model ``name`` in full (as of now, in this build)."""
    state = state or (
        p.states[name] if name in p.rebuilt_in_full or name in p.refreshed else p.previous.get(name)
    )
    if state is None:
        return None
    return (json.loads(state.input_stats).get(GENERATION) or [None])[0]


def _tail(recorded: list[str | None] | None) -> str | None:
    """The tail time recorded for an input (None: not recorded, e.g. by an older fstore)."""
    return recorded[2] if recorded and len(recorded) > 2 else None


def _checked_inputs(dag: Dag, windowed: Sequence[str]) -> list[str]:
    """Windowed inputs fstore does not refresh incrementally itself: their history is hash-checked."""
    return [i for i in windowed if i not in dag.models or dag.models[i].materialized != "incremental"]


def _source_version(con: duckdb.DuckDBPyConnection, name: str) -> str:
    return data_version(con, name)


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if isinstance(exc, FstoreError) else f"{type(exc).__name__}: {text}"


def skip_after_failed_upstream(run: ModelRun, upstream: Sequence[str], bad: set[str], emit: Reporter) -> bool:
    """Mark ``run`` skipped (and failed for its own descendants) when an upstream failed; report it."""
    failed = [u for u in upstream if u in bad]
    if not failed:
        return False
    run.status, run.action = "skipped", "none"
    run.error = "upstream failed: " + ", ".join(failed)
    bad.add(run.model)
    emit("done", run)
    return True


def build_models(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    dag: Dag,
    *,
    select: Sequence[str] = (),
    full_refresh: bool = False,
    run_tests: bool = True,
    report: Reporter | None = None,
    raise_on_failure: bool = True,
) -> BuildResult:
    """Build the selected models of a validated DAG into ``con``; log the build; run data tests.

    Raises BuildError (models failed; ``err.result`` holds the BuildResult) or DataTestError (tests of
    error severity failed) after everything that could run has run and been logged.
    """
    from features.models.dag import select as select_models

    started = datetime.now()
    result = BuildResult(uuid.uuid4().hex[:12], started)
    emit = report or (lambda _e, _p: None)
    st.ensure_tables(con)
    chosen = select_models(dag, select)
    p = plan(con, dag, chosen, full_refresh=full_refresh)
    bad: set[str] = set()
    for name in chosen:
        run = p.runs[name]
        result.runs.append(run)
        if skip_after_failed_upstream(run, dag.upstream[name], bad, emit):
            continue
        if run.status == "up_to_date":
            continue
        emit("start", run)
        t0 = time.perf_counter()
        try:
            _execute(con, dag, p, run, result.build_id)
            run.status = "success"
        except Exception as exc:  # any failure of one model: record it, skip its descendants, go on
            run.status, run.error = "failed", _error_text(exc)
            bad.add(name)
        run.seconds = time.perf_counter() - t0
        emit("done", run)
    if run_tests:
        _run_tests(con, project, dag, result, [n for n in chosen if n not in bad], p, emit)
    result.ended_at = datetime.now()
    _log(con, result, select, full_refresh)
    if raise_on_failure:
        raise_for_result(result)
    return result


def _run_tests(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    dag: Dag,
    result: BuildResult,
    names: Sequence[str],
    p: Plan | None,
    emit: Reporter,
    use_cache: bool = True,
) -> None:
    existing = p.existing if p else st.relations(con)
    passed = st.passed_tests(con, existing) if use_cache else set()
    for name in names:
        fp = p.states[name].fingerprint if p else ""
        for test in dag.models[name].tests:
            key = digest(test.kind, test.args, test.severity)
            if use_cache and (name, key, fp) in passed:
                result.tests_cached += 1
                continue
            outcome = run_check(con, test, project.root)
            result.tests.append(outcome)
            emit("test", outcome)
            con.execute(f"delete from {st.TESTS_TABLE} where model = ? and test = ?", [name, key])
            if outcome.status == "pass" and fp:
                con.execute(f"insert into {st.TESTS_TABLE} values (?, ?, ?)", [name, key, fp])


def run_tests(
    con: duckdb.DuckDBPyConnection,
    project: Project,
    dag: Dag,
    *,
    select: Sequence[str] = (),
    report: Reporter | None = None,
) -> BuildResult:
    """Run the data tests of the selected models now (no cache), log them, raise DataTestError on failure."""
    from features.models.dag import select as select_models

    st.ensure_tables(con)
    result = BuildResult(uuid.uuid4().hex[:12], datetime.now())
    existing = st.relations(con)
    names = [n for n in select_models(dag, select) if n in existing]
    _run_tests(con, project, dag, result, names, None, report or (lambda _e, _p: None), use_cache=False)
    result.ended_at = datetime.now()
    _log(con, result, select, False, kind="test")
    raise_for_result(result)
    return result


def _log(
    con: duckdb.DuckDBPyConnection,
    result: BuildResult,
    select: Sequence[str],
    full: bool,
    kind: str = "build",
) -> None:
    built = [r for r in result.runs if r.status in ("success", "failed", "skipped")]
    message = "nothing to do" if result.nothing_to_do and kind == "build" else kind
    con.execute("begin transaction")
    con.execute(
        "insert into build_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            result.build_id,
            result.started_at,
            result.ended_at,
            result.status,
            " ".join(select),
            full,
            len(result.built),
            len(result.up_to_date),
            len(result.failed),
            len(result.skipped),
            len(result.failed_tests),
            message,
        ],
    )
    if built:
        con.executemany(
            "insert into build_models values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    result.build_id,
                    r.model,
                    r.kind,
                    r.materialized,
                    r.action,
                    r.status,
                    r.rows,
                    r.seconds,
                    r.fingerprint,
                    r.error,
                ]
                for r in built
            ],
        )
    if result.tests:
        con.executemany(
            "insert into build_tests values (?, ?, ?, ?, ?, ?)",
            [
                [result.build_id, t.test.model, t.test.name, t.test.severity, t.status, t.failures]
                for t in result.tests
            ],
        )
    con.execute("commit")


def raise_for_result(result: BuildResult) -> None:
    """BuildError when models failed or were skipped, DataTestError when error-severity tests failed."""
    if result.failed or result.skipped:
        lines = [
            f"{len(result.failed)} model(s) failed, {len(result.skipped)} skipped (relations unchanged):"
        ]
        for r in result.runs:
            if r.status in ("failed", "skipped"):
                first = (r.error or "").splitlines()[0] if r.error else ""
                lines.append(f"  {r.model}: {r.status}: {first}")
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


__all__ = ["BuildResult", "ModelRun", "Plan", "build_models", "plan", "raise_for_result", "run_tests"]
