"""Progress display: one line per model as it finishes, and a summary line (rich console)."""

from __future__ import annotations

from typing import Any

from features.models.checks import CheckResult, format_failure
from features.models.result import BuildResult, ModelRun

_STYLE = {"success": "green", "failed": "bold red", "skipped": "yellow"}


def reporter(console: Any) -> Any:
    """A runner ``report`` callback printing to ``console`` (a rich Console)."""
    if console is None:
        return None

    live: list[Any] = []  # the spinner of the model now running (terminals only)

    def report(event: str, payload: Any) -> None:
        while live:
            live.pop().stop()
        if event == "start" and isinstance(payload, ModelRun):
            if console.is_terminal:
                status = console.status(f"building {payload.model} ({payload.action}) …")
                status.start()
                live.append(status)
            return
        if isinstance(payload, ModelRun):
            run = payload
            style = _STYLE.get(run.status, "")
            rows = f"{run.rows:,} rows" if run.rows is not None else ""
            what = run.action if run.action != "none" else run.materialized
            line = f"[{style}]{run.status:>8}[/] {run.model:<28} {what:<12} {rows:>14} {run.seconds:7.2f}s"
            console.print(line, highlight=False)
            if run.note:
                console.print(f"         ({run.note})", markup=False, highlight=False)
            if run.error:
                console.print(f"         {run.error}", markup=False, highlight=False)
        elif isinstance(payload, CheckResult):
            if payload.status == "pass":
                return
            style = "yellow" if payload.status == "warn" else "bold red"
            console.print(f"[{style}]{payload.status:>8}[/] " + format_failure(payload), highlight=False)

    return report


def summary(result: BuildResult) -> str:
    """``built 3, up to date 9 …`` or ``nothing to do: 12 models up to date``."""
    if result.nothing_to_do and not result.failed_tests:
        tested = f"; {len(result.tests)} test(s) run" if result.tests else ""
        return f"nothing to do: {len(result.up_to_date)} model(s) up to date{tested}"
    parts = [f"built {len(result.built)}", f"up to date {len(result.up_to_date)}"]
    if result.failed:
        parts.append(f"failed {len(result.failed)}")
    if result.skipped:
        parts.append(f"skipped {len(result.skipped)}")
    passed = sum(1 for t in result.tests if t.status == "pass")
    warned = sum(1 for t in result.tests if t.status == "warn")
    parts.append(
        f"tests: {passed} passed, {len(result.failed_tests)} failed, {warned} warned, {result.tests_cached} unchanged"
    )
    seconds = (result.ended_at - result.started_at).total_seconds() if result.ended_at else 0.0
    return f"build {result.build_id}: " + ", ".join(parts) + f" ({seconds:.2f}s)"


__all__ = ["reporter", "summary"]
