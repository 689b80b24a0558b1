"""What a person sees and does while a run trains: progress bars, and Ctrl-C / SIGTERM handled safely.

Progress      the training display: one bar per epoch (running loss, samples/s, time left in the
              epoch), a ``run`` bar over every epoch still to come (time left in the run), and extra
              lines (validation, test scoring) through :meth:`Progress.task`
progress_for  a bar for any other step that can take seconds (loading windows, evaluating, exporting,
              predicting): ``with progress_for("scoring", total) as task: task.advance(n)``; shown on
              a terminal only (stderr), gone when the step ends
Task          one line of a display: ``reset(label, total)``, ``advance(n)``, ``done()``; a disabled one
              does nothing
StopSignals   SIGINT / SIGTERM stop the run at the next safe point (a second one at once)

rich is imported only when a display is really shown.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any


class StopSignals:
    """SIGINT / SIGTERM ask the run to stop at the next safe point (between steps, outside DuckDB).

    A handler that raised at once could land inside a DuckDB call, which turns it into its own error
    and leaves the run 'failed'; the flag is checked by :meth:`check` from plain Python instead. A
    second signal stops at once. Only the main thread can install handlers; elsewhere this is a no-op.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)

    def _handler(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            raise KeyboardInterrupt(f"signal {signum} (second)")
        self.received = signum

    def check(self) -> None:
        if self.received is not None:
            raise KeyboardInterrupt(f"signal {self.received}")


class Task:
    """One line of a live display (or nothing, when ``bar`` is None): a label, a total and a count."""

    def __init__(
        self,
        bar: Any = None,
        label: str = "",
        total: int | None = None,
        *,
        visible: bool = True,
        **fields: Any,
    ) -> None:
        self.bar = bar
        fields.setdefault("stats", "")
        self.id = bar.add_task(label, total=total, visible=visible, **fields) if bar is not None else None
        self.completed = 0

    def reset(self, label: str, total: int | None) -> None:
        """Start over as another step: a new label and total, nothing done yet, shown."""
        self.completed = 0
        if self.bar is not None:
            self.bar.reset(self.id, total=total, description=label, visible=True)

    def advance(self, n: int = 1, **fields: Any) -> None:
        self.completed += n
        if self.bar is not None:
            self.bar.update(self.id, advance=n, **fields)

    def done(self) -> None:
        """The step is over: hide its line (a later :meth:`reset` shows it again)."""
        if self.bar is not None:
            self.bar.update(self.id, visible=False)

    def remove(self) -> None:
        if self.bar is not None:
            self.bar.remove_task(self.id)
            self.bar = None


def _columns(*extra: Any) -> tuple[Any, ...]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,  # e.g. the training lines' running loss and samples/s
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )


def _shown(enabled: bool | None, console: Any) -> bool:
    if enabled is not None:
        return enabled
    if console is not None:
        return bool(console.is_terminal)
    return sys.stderr.isatty()


@contextlib.contextmanager
def progress_for(
    label: str, total: int | None = None, *, enabled: bool | None = None, console: Any = None
) -> Iterator[Task]:
    """A bar for one step, on stderr when it is a terminal (``enabled=None``), always (``True``) or never
    (``False``); ``console``: a rich Console to draw on instead (tests). Yields its :class:`Task`."""
    if not _shown(enabled, console):
        yield Task()
        return
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    bar = RichProgress(*_columns(), console=console or Console(stderr=True), transient=True)
    with bar:
        yield Task(bar, label, total)


class Progress:
    """The training display: an epoch bar (running loss, samples/s, time left in the epoch) under a
    ``run`` bar that counts every sample still to train in this run and shows the time left."""

    def __init__(self, enabled: bool, total_per_epoch: int, epochs: int = 1, *, console: Any = None) -> None:
        self.enabled = enabled
        self.total = total_per_epoch
        self.epochs = max(int(epochs), 0)
        self.console = console
        self.bar = None
        self.task: Task | None = None
        self.run: Task | None = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.progress import Progress as RichProgress
            from rich.progress import TextColumn

            self.bar = RichProgress(*_columns(TextColumn("{task.fields[stats]}")), console=self.console)
            self.bar.__enter__()
            if self.epochs:
                # the whole run: an upper bound (early stopping may end it sooner), for its time left
                self.run = Task(self.bar, "run", self.total * self.epochs)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def epoch(self, epoch: int) -> None:
        if self.bar is not None:
            if self.task is not None:
                self.task.remove()
            self.task = Task(self.bar, f"epoch {epoch}", self.total)

    def step(self, b: int, loss: float, rate: float) -> None:
        stats = f"loss {loss:.4f}  {rate:,.0f} samples/s"
        if self.task is not None:
            self.task.advance(b, stats=stats)
        if self.run is not None:
            self.run.advance(b, stats=stats)

    def side_task(self, label: str, total: int | None) -> Task:
        """An extra line for a step inside the run (validation, test scoring), hidden until it starts."""
        if self.bar is None:
            return Task()
        return Task(self.bar, label, total, visible=False)

    def log(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text, highlight=False)


__all__ = ["Progress", "StopSignals", "Task", "progress_for"]
