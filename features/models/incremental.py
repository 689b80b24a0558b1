"""Incremental models, engine-neutral: how far a change reaches, and the stats a build records so the
next build can refresh only what changed (which inputs are windowed is decided by the plan,
:func:`features.models.plan.is_windowed`).

The refresh itself runs on the engine (DuckDB: :mod:`features.engines.duckdb.incremental`, whose
docstring walks through it). Here the build loop decides, per incremental model:

- before it runs: whether a planned refresh must become a full rebuild after all, because an
  incremental upstream was rebuilt in full (now, or by an earlier build that left this model out:
  each model records the *generation*, the build that last rebuilt it in full, of every incremental
  input it read) — :func:`full_rebuild_reason`;
- what the refresh reads — :func:`refresh_window`: windowed and static inputs, the history hashes to
  check, the tails to start from;
- after it ran: the state to save — :func:`record_state`: the input stats the engine reports (after
  a full build: :meth:`Engine.input_stats`), generations, and the fingerprint of the static inputs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from features.engines.base import Engine, Stats, Window
    from features.models.dag import Dag
    from features.models.discovery import Model
    from features.models.plan import Plan
    from features.models.result import ModelRun
    from features.models.state import ModelState

OWN_TAIL = "__own_tail"  # key in the stats: the earliest per-partition max time of the model itself
GENERATION = "__full_build"  # key in the stats: the build that last rebuilt the model in full


class Restated(Exception):
    """An input's rows up to the last build's time changed (restated history): rebuild in full."""


def shift(model: Model, name: str, upstream_ahead: Mapping[str, int | None]) -> int | None:
    """Rows before an input's first new row whose output may change (its and the model's lookahead)."""
    a_in, a_own = upstream_ahead.get(name, 0), model.ahead
    return None if a_in is None or a_own is None else a_in + a_own


def depth(model: Model, name: str, windowed: Sequence[str], upstream_ahead: Mapping[str, int | None]) -> int:
    """Rows per partition at or before the high-water mark the first pass needs from this input."""
    n_shift, back = shift(model, name, upstream_ahead), model.lookback
    return (n_shift or 0) + (back or 0) if len(windowed) == 1 and back is not None else n_shift or 0


def checked_inputs(dag: Dag, windowed: Sequence[str]) -> list[str]:
    """Windowed inputs fstore does not refresh incrementally itself: their history is hash-checked."""
    return [i for i in windowed if i not in dag.models or dag.models[i].materialized != "incremental"]


def generation(p: Plan, name: str, state: ModelState | None = None) -> str | None:
    """The build that last rebuilt incremental model ``name`` in full (as of now, in this build)."""
    state = state or (
        p.states[name] if name in p.rebuilt_in_full or name in p.refreshed else p.previous.get(name)
    )
    if state is None:
        return None
    return (json.loads(state.input_stats).get(GENERATION) or [None])[0]


def full_rebuild_reason(dag: Dag, p: Plan, name: str) -> str | None:
    """Why a planned refresh of ``name`` must rebuild in full after all (None: it need not)."""
    windowed = p.windowed[name][0]
    if any(u in p.rebuilt_in_full for u in windowed):
        return "an incremental upstream was rebuilt in full"
    recorded = json.loads(p.previous[name].input_stats)
    for u in windowed:  # rebuilt in full by an earlier build that left this model out
        seen = recorded.get(u)
        if u in dag.models and seen and len(seen) > 3 and seen[3] != generation(p, u):
            return f"`{u}` was rebuilt in full since this model's last build"
    return None


def refresh_window(dag: Dag, p: Plan, name: str, func: Callable[..., Any] | None) -> Window:
    """What the refresh of ``name`` reads, from the plan and the stats its last build recorded."""
    from features.engines.base import Window

    windowed, static = p.windowed[name]
    recorded = json.loads(p.previous[name].input_stats)
    checked = {i: recorded.get(i, [None, "none recorded"]) for i in checked_inputs(dag, windowed)}
    tails = {i: _tail(recorded.get(i)) for i in windowed if i not in checked}
    own_tail = (recorded.get(OWN_TAIL) or [None])[0]
    return Window(windowed, static, p.ahead, func, checked, tails, own_tail)


def _tail(recorded: list[str | None] | None) -> str | None:
    """The tail time recorded for an input (None: not recorded, e.g. by an older fstore)."""
    return recorded[2] if recorded and len(recorded) > 2 else None


def with_own_ahead(model: Model, p: Plan) -> Model:
    """``model`` with its lookahead as resolved by the plan (a Python label's is read at build time)."""
    ahead = p.own_ahead[model.name]
    return model if ahead == model.ahead else dataclasses.replace(model, ahead=ahead)


def record_state(
    con: duckdb.DuckDBPyConnection,
    engine: Engine,
    dag: Dag,
    p: Plan,
    run: ModelRun,
    stats: Stats,
    build_id: str,
) -> ModelState:
    """The state to save for an incremental model just built (``stats``: what its refresh reported)."""
    name = run.model
    model = with_own_ahead(dag.models[name], p)
    state = p.states[name]
    if run.action == "full":
        window, static_fp = _full_build_window(con, engine, dag, p, model)
        stats = engine.input_stats(model, window)
        state = dataclasses.replace(state, static_inputs=static_fp)
        p.rebuilt_in_full.add(name)
    # this model's generation, and the generation of each incremental input it has now read: a later
    # mismatch means a rebuild it did not see
    gen = build_id if run.action == "full" else generation(p, name, p.previous.get(name))
    for u, rec in stats.items():
        if u in dag.models and dag.models[u].materialized == "incremental":
            stats[u] = [*rec[:3], generation(p, u)]
    stats[GENERATION] = [gen]
    state = dataclasses.replace(state, input_stats=json.dumps(stats))
    p.states[name] = state
    if run.action == "incremental":
        p.refreshed.add(name)
    return state


def _full_build_window(
    con: duckdb.DuckDBPyConnection, engine: Engine, dag: Dag, p: Plan, model: Model
) -> tuple[Window, str]:
    """After a full build: the windowed inputs as they are now, and the static inputs' fingerprint."""
    from features.engines.base import Window
    from features.models.fingerprint import data_version, digest
    from features.models.plan import is_windowed

    inputs = [r.name for r in model.refs]
    cols = engine.columns()
    windowed = [i for i in inputs if is_windowed(model, cols.get(i, set()))]
    static = [i for i in inputs if i not in windowed]
    fps = {n: p.states[n].fingerprint for n in dag.upstream[model.name]}
    static_fp = digest([fps.get(i) or data_version(con, i) for i in static])
    checked = {i: [None, None] for i in checked_inputs(dag, windowed)}
    return Window(windowed, static, p.ahead, checked=checked), static_fp


__all__ = [
    "GENERATION",
    "OWN_TAIL",
    "Restated",
    "checked_inputs",
    "depth",
    "full_rebuild_reason",
    "generation",
    "record_state",
    "refresh_window",
    "shift",
    "with_own_ahead",
]
