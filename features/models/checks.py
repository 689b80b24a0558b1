"""Data tests declared in model headers: parse them, turn each into SQL, run it.

Each test is a query whose returned rows are failures (the dbt convention):

    not_null(col, ...)                  rows where any listed column is null
    unique(col, ...)                    key values that occur more than once
    accepted_range(col, min, max)       rows outside [min, max] (nulls pass; leave a bound empty to skip it)
    accepted_values(col, v1, v2, ...)   rows whose value is not listed (nulls pass)
    relationships(col, other.col)       values with no match in the other relation
    sql path/to/test.sql                a custom query (path relative to the project root); the name
                                        `{{ model }}`-free: write the model's relation name directly.
                                        It must be one query that only reads (checked when models are
                                        discovered and again before it runs), like a model

Prefix ``warn `` for warn severity: failures are reported but do not fail the command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from features.errors import ModelError

if TYPE_CHECKING:
    import duckdb

SAMPLE_ROWS = 5
_CALL = re.compile(r"^([a-z_]+)\s*\((.*)\)$", re.S)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE]-?\d+)?$")
KINDS = ("not_null", "unique", "accepted_range", "accepted_values", "relationships", "sql")


@dataclass(frozen=True)
class DataTest:
    """One parsed data test of one model."""

    model: str
    kind: str
    args: tuple[str, ...]
    severity: str = "error"  # error | warn
    file: str = ""
    line: int = 0

    @property
    def name(self) -> str:
        """A readable, stable name: ``not_null(asset_id, ts)``."""
        if self.kind == "sql":
            return f"sql {self.args[0]}"
        return f"{self.kind}({', '.join(self.args)})"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one data test."""

    test: DataTest
    failures: int
    sample: tuple[tuple[str, ...], tuple[tuple[object, ...], ...]]  # (columns, rows)
    error: str | None = None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        if self.failures == 0:
            return "pass"
        return "warn" if self.test.severity == "warn" else "fail"


def parse_test(text: str, model: str, file: str = "", line: int = 0) -> DataTest:
    """Parse one ``-- test:`` value; raise ModelError naming the file and line when it is malformed."""
    body = text.strip()
    severity = "error"
    if body.startswith("warn "):
        severity, body = "warn", body[5:].strip()
    if body.startswith("sql "):
        path = body[4:].strip()
        if not path:
            raise ModelError("test `sql` needs a file path", file=file, line=line, model=model)
        return DataTest(model, "sql", (path,), severity, file, line)
    match = _CALL.match(body)
    if match is None:
        raise ModelError(
            f"cannot read test `{text}`: expected name(args), e.g. not_null(asset_id, ts)",
            file=file,
            line=line,
            model=model,
        )
    kind, raw_args = match.group(1), match.group(2)
    args = tuple(a.strip() for a in raw_args.split(",")) if raw_args.strip() else ()
    if kind not in KINDS:
        raise ModelError(
            f"unknown test `{kind}` (known: {', '.join(KINDS)})", file=file, line=line, model=model
        )
    problem = _check_args(kind, args)
    if problem:
        raise ModelError(f"test `{text}`: {problem}", file=file, line=line, model=model)
    return DataTest(model, kind, args, severity, file, line)


def _check_args(kind: str, args: tuple[str, ...]) -> str | None:
    if kind in ("not_null", "unique"):
        if not args or not all(_IDENT.match(a) for a in args):
            return "expects one or more column names"
    elif kind == "accepted_range":
        if len(args) != 3 or not _IDENT.match(args[0]):
            return "expects (column, min, max)"
        if not all(a == "" or _NUMBER.match(a) for a in args[1:]):
            return "min and max must be numbers (or empty)"
    elif kind == "accepted_values":
        if len(args) < 2 or not _IDENT.match(args[0]):
            return "expects (column, value, ...)"
    elif kind == "relationships":
        other = args[1].split(".") if len(args) == 2 else []
        if (
            len(args) != 2
            or not _IDENT.match(args[0])
            or len(other) != 2
            or not all(map(_IDENT.match, other))
        ):
            return "expects (column, relation.column)"
    return None


def _literal(value: str) -> str:
    if _NUMBER.match(value):
        return value
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return "'" + value.replace("'", "''") + "'"


def check_sql(test: DataTest, root: Path | None = None) -> str:
    """The query whose rows are the failures of ``test``."""
    rel, a = test.model, test.args
    if test.kind == "not_null":
        return f"select * from {rel} where " + " or ".join(f"{c} is null" for c in a)
    if test.kind == "unique":
        cols = ", ".join(a)
        return f"select {cols}, count(*) as n from {rel} group by {cols} having count(*) > 1"
    if test.kind == "accepted_range":
        col, low, high = a
        conds = ([f"{col} < {low}"] if low else []) + ([f"{col} > {high}"] if high else [])
        return f"select * from {rel} where " + (" or ".join(conds) or "false")
    if test.kind == "accepted_values":
        values = ", ".join(_literal(v) for v in a[1:])
        return f"select * from {rel} where {a[0]} is not null and {a[0]} not in ({values})"
    if test.kind == "relationships":
        other, other_col = a[1].split(".")
        return (
            f"select m.* from {rel} m where m.{a[0]} is not null and not exists "
            f"(select 1 from {other} o where o.{other_col} = m.{a[0]})"
        )
    return custom_test_sql(test, root)


def custom_test_path(test: DataTest, root: Path | None = None) -> Path:
    """The file of a ``sql`` test (relative paths resolve against the project root)."""
    path = Path(test.args[0])
    return root / path if root is not None and not path.is_absolute() else path


def custom_test_sql(test: DataTest, root: Path | None = None, text: str | None = None) -> str:
    """The query of a ``sql`` test, checked to be one statement that only reads (it is pasted into a
    counting wrapper, so anything else would run as its own statement). ModelError names the test
    file and line, and the model header that declares it."""
    import sqlglot

    from features.statements import syntax_error, write_problems

    if text is None:
        try:
            text = custom_test_path(test, root).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ModelError(
                f"custom test file {test.args[0]} cannot be read: {reason}",
                file=test.file,
                line=test.line,
                model=test.model,
            ) from None
    declared = f" (the `-- test: sql` of {test.file}:{test.line})" if test.file else ""
    try:
        problems = write_problems(text, what="a custom data test")
    except sqlglot.errors.ParseError as err:
        error = syntax_error(err, text, test.args[0])
        raise ModelError(
            error.message + declared,
            file=test.args[0],
            line=error.line,
            column=error.column,
            model=test.model,
        ) from None
    except sqlglot.errors.TokenError as err:
        raise ModelError(f"SQL syntax error: {err}{declared}", file=test.args[0], model=test.model) from None
    if problems:
        first = problems[0]
        raise ModelError(first.message + declared, file=test.args[0], line=first.line, model=test.model)
    return text.strip().rstrip(";").strip()


def run_check(con: duckdb.DuckDBPyConnection, test: DataTest, root: Path | None = None) -> CheckResult:
    """Run one test: count its failing rows and keep a few as a sample."""
    import duckdb

    from features.warehouse import scalar

    try:
        sql = check_sql(test, root)
        count = scalar(con, f"select count(*) from ({sql}) as failures")
        sample: tuple[tuple[str, ...], tuple[tuple[object, ...], ...]] = ((), ())
        if count:
            cur = con.execute(f"select * from ({sql}) as failures limit {SAMPLE_ROWS}")
            sample = (tuple(d[0] for d in cur.description), tuple(cur.fetchall()))
        return CheckResult(test, int(count), sample)
    except (duckdb.Error, ModelError) as exc:
        return CheckResult(test, 0, ((), ()), error=str(exc).splitlines()[0])


def format_failure(result: CheckResult) -> str:
    """A person-readable report of one failing test with its sample rows."""
    t = result.test
    where = f"{t.file}:{t.line}: " if t.file else ""
    if result.error:
        return f"{where}{t.model}: test {t.name} could not run: {result.error}"
    lines = [
        f"{where}{t.model}: test {t.name} failed ({result.failures} failing row(s)){' [warn]' if t.severity == 'warn' else ''}"
    ]
    cols, rows = result.sample
    if cols:
        lines.append("    " + " | ".join(cols))
        lines += ["    " + " | ".join(str(v) for v in row) for row in rows]
    return "\n".join(lines)


__all__ = [
    "KINDS",
    "CheckResult",
    "DataTest",
    "check_sql",
    "custom_test_path",
    "custom_test_sql",
    "format_failure",
    "parse_test",
    "run_check",
]
