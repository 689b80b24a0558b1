"""What a build did: one :class:`ModelRun` per selected model and the data-test outcomes.

The build loop (:mod:`features.models.runner`) fills a :class:`BuildResult`; the progress display,
the build log and the CLI read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from features.models.checks import CheckResult


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


# (event, payload): "start" ModelRun, "done" ModelRun, "test" CheckResult
Reporter = Callable[[str, Any], None]


__all__ = ["BuildResult", "ModelRun", "Reporter"]
