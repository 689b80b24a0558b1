"""The seam between the engine-neutral build loop and the engines that run models.

The loop (:mod:`features.models.runner`) plans, orders, skips after failures, runs data tests and
logs; it talks to an engine only through :class:`Engine`. A materialization (view, table,
incremental, see :mod:`features.models.materialize`) is a short function over these methods.

    lifecycle     start(dag, names) -> build order · close()
    catalog       relations() · columns() · row_count(name)
    writes        transaction() · create_view(model) · create_table(model)
                  python_frame(model, func) · create_table_from_frame(model, frame) · drop(name, kind)
    incremental   refresh(model, window) · input_stats(model, window)      (stateful engines only)
    data tests    run_tests(tests)

Two capability flags tell the loop what an engine keeps:

- ``stateful``: fingerprints, up-to-date skips, incremental refresh, the test cache and the build log
  live in the DuckDB warehouse beside the relations (DuckDB). A stateless engine builds every selected
  model in full and writes no bookkeeping (Spark).
- ``in_warehouse``: the built relations land in the DuckDB warehouse, so build artifacts that read
  them (column lineage) are written.

Engines are constructed as ``Engine(warehouse, project, master=...)``: the open DuckDB warehouse
(sources and bookkeeping live there), the project, and where to run (an engine-specific URL such as
a Spark master; in-process engines ignore it). Foreign errors are mapped at the seam: inside
``transaction()`` an engine turns its library's exceptions into an :class:`~features.errors.FstoreError`
or lets them through whole; the loop turns either into one line of text with
:func:`features.models.runner.error_text`.

Register a new engine with one line in :data:`features.engines.ENGINES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import duckdb

    from features.config import Project
    from features.models.checks import CheckResult, DataTest
    from features.models.dag import Dag
    from features.models.discovery import Model

Stats = dict[str, list[str | None]]  # input -> [max time, row-hash sum, tail time, generation], as text


@dataclass(frozen=True)
class Window:
    """What an incremental refresh of one model reads (see :mod:`features.models.incremental`).

    ``windowed`` inputs are read by time window, ``static`` ones whole. ``checked`` maps the windowed
    inputs fstore does not refresh itself to the [max time, row-hash sum] recorded last build (their
    history must hash the same, else the refresh raises ``Restated``); ``tails`` maps the others to the
    tail time recorded last build (None: scan whole); ``own_tail`` is the model's own earliest
    partition maximum last build; ``upstream_ahead`` the chained lookahead of every model.
    """

    windowed: list[str]
    static: list[str]
    upstream_ahead: Mapping[str, int | None]
    func: Callable[..., Any] | None = None
    checked: Mapping[str, list[str | None]] = field(default_factory=dict)
    tails: Mapping[str, str | None] = field(default_factory=dict)
    own_tail: str | None = None


class Engine(Protocol):
    """Where the models of a validated DAG run. One instance per build."""

    name: ClassVar[str]
    stateful: ClassVar[bool]
    in_warehouse: ClassVar[bool]

    def __init__(
        self, warehouse: duckdb.DuckDBPyConnection, project: Project, *, master: str | None = None
    ) -> None: ...

    def start(self, dag: Dag, names: Sequence[str]) -> list[str]:
        """Get ready to build ``names`` (already in topological order): check they can run here,
        start sessions, load sources. Raise before anything runs when some cannot (all at once).
        Return the order to build them in."""
        ...

    def close(self) -> None:
        """Release what :meth:`start` acquired; safe to call after a failed or skipped start."""
        ...

    def relations(self) -> dict[str, str]:
        """Every relation the engine's models can read: name -> ``table`` | ``view``."""
        ...

    def columns(self) -> dict[str, set[str]]:
        """The columns of every relation, in one catalog read."""
        ...

    def row_count(self, name: str) -> int:
        """Rows in relation ``name`` now."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """One model's writes (and, on a stateful engine, its bookkeeping) as one unit: on an error
        nothing it replaced changes and the error is re-raised (foreign errors may be mapped)."""
        ...

    def create_view(self, model: Model) -> None:
        """``model``'s SQL as a view named after it."""
        ...

    def create_table(self, model: Model) -> int:
        """``model``'s SQL as a table named after it; return the rows written."""
        ...

    def python_frame(self, model: Model, func: Callable[..., Any]) -> Any:
        """Run a Python model on its inputs: a Polars frame, or the engine's own frame type."""
        ...

    def create_table_from_frame(self, model: Model, frame: Any) -> int:
        """A frame (Polars, Arrow or one :meth:`python_frame` returned) as ``model``'s table."""
        ...

    def drop(self, name: str, kind: str) -> None:
        """Drop relation ``name`` of ``kind`` (``table`` | ``view``)."""
        ...

    def refresh(self, model: Model, window: Window) -> tuple[int, Stats]:
        """Recompute only ``model``'s changed rows; return the rows written and the new input stats."""
        ...

    def input_stats(self, model: Model, window: Window) -> Stats:
        """The input stats a later :meth:`refresh` starts from, right after a full build."""
        ...

    def run_tests(self, tests: Sequence[DataTest]) -> Iterator[CheckResult]:
        """Run data tests, yielding each outcome (in order) as it is known."""
        ...


__all__ = ["Engine", "Stats", "Window"]
