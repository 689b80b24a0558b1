"""Materializations: how each planned action turns a model into a relation, on any engine.

:data:`STRATEGIES` maps (action, model kind) to a short function over the
:class:`~features.engines.base.Engine` methods; the build loop looks the strategy up instead of
branching on strings. Each runs inside the engine's per-model transaction.

    ("view", "sql")            create_view (dropping a table of that name first)
    ("full", "sql")            create_table from the model's SQL (table models, and incremental
    ("full", "python")         python_frame → create_table_from_frame          ones rebuilt in full)
    ("incremental", "sql")     engine.refresh; restated history → the ("full", kind) strategy
    ("incremental", "python")  likewise

A new materialization is one function and one line here (plus its name in the header's choices).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from features.errors import ModelError

if TYPE_CHECKING:
    from features.engines.base import Engine, Stats, Window
    from features.models.discovery import Model
    from features.models.result import ModelRun


@dataclass
class Step:
    """What a strategy needs to build one model: the engine, the model and its planned run, the kind
    of relation in its place now, its Python function and its incremental window."""

    engine: Engine
    model: Model
    run: ModelRun
    have: str | None = None  # table | view | None
    func: Callable[..., Any] | None = None
    window: Window | None = None
    stats: Stats = field(default_factory=dict)  # filled by an incremental refresh


def _make_room(step: Step, kind: str) -> None:
    """Drop a relation of the other kind in the model's place (a view that becomes a table …)."""
    if step.have is not None and step.have != kind:
        step.engine.drop(step.model.name, step.have)


def view(step: Step) -> int | None:
    _make_room(step, "view")
    step.engine.create_view(step.model)
    return None


def table_from_sql(step: Step) -> int | None:
    _make_room(step, "table")
    return step.engine.create_table(step.model)


def table_from_python(step: Step) -> int | None:
    frame = step.engine.python_frame(step.model, step.func)
    _make_room(step, "table")
    return step.engine.create_table_from_frame(step.model, frame)


def incremental(step: Step) -> int | None:
    """Refresh the changed rows; when an input's history was restated, rebuild in full instead."""
    from features.models.incremental import Restated

    assert step.window is not None, step.model.name
    try:
        rows, step.stats = step.engine.refresh(step.model, step.window)
        return rows
    except Restated as restated:
        step.run.action, step.run.note = "full", f"history of `{restated}` changed since the last build"
    return materialize(step)


STRATEGIES: dict[tuple[str, str], Callable[[Step], int | None]] = {
    ("view", "sql"): view,
    ("full", "sql"): table_from_sql,
    ("full", "python"): table_from_python,
    ("incremental", "sql"): incremental,
    ("incremental", "python"): incremental,
}


def materialize(step: Step) -> int | None:
    """Build ``step.model`` by the strategy of its run's action; return the rows written (None: a view)."""
    strategy = STRATEGIES.get((step.run.action, step.model.kind))
    if strategy is None:
        raise ModelError(
            f"{step.model.kind} model `{step.model.name}` cannot be built as `{step.run.action}`",
            file=step.model.file,
            model=step.model.name,
        )
    return strategy(step)


__all__ = ["STRATEGIES", "Step", "incremental", "materialize", "table_from_python", "table_from_sql", "view"]
