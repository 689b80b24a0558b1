"""What a person sees and does while a run trains: a progress bar, and Ctrl-C / SIGTERM handled safely.

Progress      a rich progress bar, one task per epoch, with the running loss and samples/s
StopSignals   SIGINT / SIGTERM stop the run at the next safe point (a second one at once)
"""

from __future__ import annotations

import signal
import threading
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


class Progress:
    """A rich progress bar: one task per epoch with the running loss and samples/s."""

    def __init__(self, enabled: bool, total_per_epoch: int) -> None:
        self.enabled = enabled
        self.total = total_per_epoch
        self.bar = None
        self.task = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TextColumn("{task.fields[rate]:,.0f} samples/s"),
                TimeElapsedColumn(),
            )
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def epoch(self, epoch: int) -> None:
        if self.bar is not None:
            self.task = self.bar.add_task(f"epoch {epoch}", total=self.total, loss=float("nan"), rate=0.0)

    def step(self, b: int, loss: float, rate: float) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, advance=b, loss=loss, rate=rate)

    def log(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text, highlight=False)


__all__ = ["Progress", "StopSignals"]
