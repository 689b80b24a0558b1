"""Model headers: the leading ``-- key: value`` comment lines of a SQL model file.

    -- materialized: incremental
    -- unique_key: asset_id, ts
    -- time_column: ts
    -- partition_by: asset_id
    -- tags: features, daily
    -- test: not_null(asset_id, ts)
    -- test: warn accepted_range(rsi_14, 0, 100)
    select ...

The header is every comment or blank line before the first line of SQL. A comment line of the form
``-- word: value`` is a setting; any other comment line is just a comment. An unknown key, a bad value
or a repeated key (other than ``test``) is a :class:`ModelError` naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from features.errors import ModelError

MATERIALIZATIONS = ("view", "table", "incremental")

# key -> one-line meaning (shown in the error for an unknown key and documented in docs/models.md)
HEADER_KEYS = {
    "materialized": "view | table | incremental (default table)",
    "unique_key": "comma list of columns identifying a row (incremental replaces by it)",
    "time_column": "the column that grows over time (incremental)",
    "lookback": "rows of history per partition an incremental refresh re-reads (derived when absent)",
    "partition_by": "column the window functions partition by, e.g. asset_id (incremental)",
    "tags": "comma list, selectable as tag:x",
    "label": "true if the model may look forward (LEAD, FOLLOWING); the leakage lint skips it",
    "description": "free text shown by `fstore ls`",
    "test": "a data test, one per line, e.g. not_null(asset_id, ts); prefix `warn ` for warn severity",
}

_SETTING = re.compile(r"^--\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True)
class HeaderTest:
    """One ``-- test:`` line, kept raw here and parsed by :mod:`features.models.checks`."""

    text: str
    line: int


@dataclass(frozen=True)
class Header:
    """Settings of one model, from a SQL header or a Python ``@model`` decorator."""

    materialized: str = "table"
    unique_key: tuple[str, ...] = ()
    time_column: str | None = None
    lookback: int | None = None
    partition_by: str | None = None
    tags: tuple[str, ...] = ()
    label: bool = False
    description: str = ""
    tests: tuple[HeaderTest, ...] = ()
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    def settings(self) -> dict[str, object]:
        """The settings that change what a model builds (part of its fingerprint)."""
        return {
            "materialized": self.materialized,
            "unique_key": list(self.unique_key),
            "time_column": self.time_column,
            "lookback": self.lookback,
            "partition_by": self.partition_by,
            "label": self.label,
        }


def _comma_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def parse_header(text: str, file: str | Path) -> Header:
    """Parse the header of a SQL model file's ``text``; raise ModelError on a bad setting."""
    values: dict[str, object] = {}
    lines: dict[str, int] = {}
    tests: list[HeaderTest] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        match = _SETTING.match(line)
        if match is None:
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key not in HEADER_KEYS:
            known = ", ".join(HEADER_KEYS)
            raise ModelError(f"unknown header key `{key}` (known keys: {known})", file=file, line=number)
        if key == "test":
            tests.append(HeaderTest(value, number))
            continue
        if key in values:
            raise ModelError(
                f"header key `{key}` given twice (first on line {lines[key]})", file=file, line=number
            )
        values[key] = _convert(key, value, file, number)
        lines[key] = number
    return Header(tests=tuple(tests), lines=lines, **values)  # type: ignore[arg-type]


def _convert(key: str, value: str, file: str | Path, line: int) -> object:
    if key == "materialized":
        if value not in MATERIALIZATIONS:
            raise ModelError(
                f"materialized must be one of {', '.join(MATERIALIZATIONS)}, got `{value}`",
                file=file,
                line=line,
            )
        return value
    if key in ("unique_key", "tags"):
        return _comma_list(value)
    if key == "lookback":
        if not value.isdigit():
            raise ModelError(f"lookback must be a whole number of rows, got `{value}`", file=file, line=line)
        return int(value)
    if key == "label":
        if value.lower() not in ("true", "false"):
            raise ModelError(f"label must be true or false, got `{value}`", file=file, line=line)
        return value.lower() == "true"
    if key in ("time_column", "partition_by"):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ModelError(f"{key} must be one column name, got `{value}`", file=file, line=line)
        return value
    return value


__all__ = ["HEADER_KEYS", "MATERIALIZATIONS", "Header", "HeaderTest", "parse_header"]
