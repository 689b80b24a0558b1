"""Data tests on Spark: each test's DuckDB query transpiled and run in the session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from features.engines.spark.tables import SparkBuild
    from features.models.checks import CheckResult, DataTest


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (Spark appends query plans and JVM stack traces)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def run_check(b: SparkBuild, test: DataTest) -> CheckResult:
    """One data test, its DuckDB query transpiled and run in the session."""
    from features.engines.transpile import to_spark
    from features.models.checks import SAMPLE_ROWS, CheckResult, check_sql

    try:
        sql = to_spark(check_sql(test, b.project.root), b.columns.get)
        failures = b.spark.sql(sql)
        count = failures.count()
        sample: tuple[tuple[str, ...], tuple[tuple[object, ...], ...]] = ((), ())
        if count:
            rows = failures.limit(SAMPLE_ROWS).collect()
            sample = (tuple(failures.columns), tuple(tuple(r) for r in rows))
        return CheckResult(test, int(count), sample)
    except Exception as exc:  # AnalysisException and friends: reported like a DuckDB error
        return CheckResult(test, 0, ((), ()), error=first_line(exc))


def run_checks(b: SparkBuild, tests: Sequence[DataTest]) -> list[CheckResult]:
    """Every test's failure count in one Spark job; samples (and errors) then per failing test."""
    from features.engines.transpile import to_spark
    from features.models.checks import CheckResult, check_sql

    if not tests:
        return []
    try:
        counts = " union all ".join(
            f"select {i} as i, count(*) as n from ({to_spark(check_sql(t, b.project.root), b.columns.get)})"
            for i, t in enumerate(tests)
        )
        failures = {row["i"]: int(row["n"]) for row in b.spark.sql(counts).collect()}
    except Exception:  # one test cannot run: run each alone so the error lands on the right test
        return [run_check(b, t) for t in tests]
    return [CheckResult(t, 0, ((), ())) if not failures[i] else run_check(b, t) for i, t in enumerate(tests)]


__all__ = ["first_line", "run_check", "run_checks"]
