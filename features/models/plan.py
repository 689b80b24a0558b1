"""Plan a build: fingerprint every model and decide, per selected model, what to do.

    up to date    the stored fingerprint matches (a view: its definition matches)
    full          no relation yet, a changed table model, --full-refresh, a stateless engine
    incremental   an incremental model whose definition and static inputs are unchanged
    view          (re)create a view

A stateful engine's plan reads only bookkeeping, source versions and the catalog; a stateless engine
(Spark) builds every selected model in full, so its plan reads nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from features.errors import ModelError
from features.models import state as st
from features.models.fingerprint import data_versions, definition, digest, fingerprint
from features.models.result import ModelRun

if TYPE_CHECKING:
    import duckdb

    from features.engines.base import Engine
    from features.models.dag import Dag
    from features.models.discovery import Model


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


def plan(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    dag: Dag,
    selected: Sequence[str],
    *,
    full_refresh: bool = False,
) -> Plan:
    """Decide what to run on ``engine`` (bookkeeping and sources are read from the warehouse ``con``)."""
    existing = engine.relations()
    if not engine.stateful:
        runs = {
            n: _run(dag.models[n], "view" if dag.models[n].materialized == "view" else "full")
            for n in selected
        }
        return Plan(runs, {}, {}, {}, {}, existing)
    p = Plan({}, {}, {}, {}, {}, existing, st.load_states(con, existing))
    _fingerprint_models(con, engine, dag, set(selected), p, full_refresh)
    building = any(r.materialized == "incremental" and r.action != "none" for r in p.runs.values())
    p.own_ahead = _own_ahead(con, dag, building)
    p.ahead = _chained_ahead(dag, p.own_ahead)
    return p


def _run(model: Model, action: str, fp: str = "") -> ModelRun:
    return ModelRun(model.name, model.kind, model.materialized, action, fingerprint=fp)


def _fingerprint_models(
    con: duckdb.DuckDBPyConnection, engine: Engine, dag: Dag, chosen: set[str], p: Plan, full_refresh: bool
) -> None:
    """Fill ``p.states`` (every model, in DAG order), ``p.windowed`` and ``p.runs`` (the chosen ones)."""
    versions = data_versions(con, sorted({s for sources in dag.sources.values() for s in sources}))
    defs: dict[str, str] = {}
    fps: dict[str, str] = {}
    cols: dict[str, set[str]] | None = None  # the catalog, read once when an incremental model needs it
    for name in dag.order:
        model = dag.models[name]
        sources = list(dag.sources[name])
        ups = list(dag.upstream[name])
        defs[name] = definition(model, [defs[u] for u in ups], sources)
        fps[name] = fingerprint(defs[name], [fps[u] for u in ups], [versions[s] for s in sources])
        old = p.previous.get(name)
        if name not in chosen and old is not None:
            fps[name] = old.fingerprint  # not rebuilt now: downstream sees what the relation holds
        static_fp = ""
        if model.materialized == "incremental" and name in p.existing:
            inputs = [r.name for r in model.refs]
            cols = engine.columns() if cols is None else cols
            win = [i for i in inputs if is_windowed(model, cols.get(i, set()))]
            p.windowed[name] = (win, [i for i in inputs if i not in win])
            static_fp = digest([fps.get(i) or versions.get(i) for i in inputs if i not in win])
        p.states[name] = st.ModelState(fps[name], defs[name], static_fp, model.materialized)
        if name in chosen:
            p.runs[name] = _decide(model, p.states[name], old, p.existing.get(name), full_refresh)


def is_windowed(model: Model, cols: set[str]) -> bool:
    """Whether an incremental model reads an input with columns ``cols`` by time window (it has the
    model's time column, and its partition column when there is one); else the input is read whole."""
    h = model.header
    return h.time_column in cols and (h.partition_by is None or h.partition_by in cols)


def _decide(
    model: Model, new: st.ModelState, old: st.ModelState | None, have: str | None, full_refresh: bool
) -> ModelRun:
    """The run of one selected model, from its new state, its stored state and the relation there now."""
    run = _run(model, "full", new.fingerprint)
    if model.materialized == "view":
        run.action = "view"
        if not full_refresh and old is not None and old.definition == new.definition and have == "view":
            run.action, run.status = "none", "up_to_date"
    elif full_refresh or old is None or have != "table" or old.materialized != model.materialized:
        run.action = "full"
    elif old.fingerprint == new.fingerprint:
        run.action, run.status = "none", "up_to_date"
    elif (
        model.materialized == "incremental"
        and old.definition == new.definition
        and old.static_inputs == new.static_inputs
    ):
        run.action = "incremental"
    return run


def _own_ahead(con: duckdb.DuckDBPyConnection, dag: Dag, resolve: bool) -> dict[str, int | None]:
    """Rows each model looks ahead; a Python label's ``lookahead="relation.column"`` is read now
    (only when ``resolve``: some model refreshes incrementally; otherwise it is unused)."""
    from features.warehouse import first_row, quote_ident

    own: dict[str, int | None] = {}
    for name, model in dag.models.items():
        own[name] = model.ahead
        if model.ahead_from is None or not resolve:
            continue
        relation, column = model.ahead_from.split(".")  # validated identifiers; quoted anyway
        row = first_row(
            con, f"select min({quote_ident(column)}), max({quote_ident(column)}) from {quote_ident(relation)}"
        )
        lo, hi = row if row is not None else (None, None)
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


__all__ = ["Plan", "is_windowed", "plan"]
