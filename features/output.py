"""Result sets as text: a table for people, CSV and JSON for scripts.

    table   readable in a 100-column terminal: floats to 6 significant digits, long text cut with
            "…", NULL spelled out, numbers right-aligned, and a table wider than the terminal
            wrapped into blocks of columns (each repeating the first column)
    csv     every value at full precision: floats as Python's shortest exact repr, DECIMAL as its
            digits, BLOB as ``\\x`` + hex, nested values as JSON, NULL as an empty field
    json    always valid JSON (``json.loads`` reads it): NaN and ±inf as the strings "NaN",
            "Infinity", "-Infinity"; DECIMAL and HUGEINT as exact numbers; BLOB as ``\\x`` + hex;
            dates, times and timestamps as ISO 8601; intervals as DuckDB's text or ISO 8601
            durations; UUID as text; LIST/STRUCT/MAP as arrays and objects; a repeated column name
            gets a suffix (``a``, ``a_2``) so no value is lost

Several results (``fstore query "a; b"``) print one after another: tables and CSV blocks separated
by a blank line (tables captioned with their statement), JSON as one array holding each result's
array. Nothing here imports more than the standard library.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

MAX_CELL = 40  # characters a table cell shows before "…"
GAP = "  "  # between table columns
FALLBACK_WIDTH = 100  # when the width of the terminal is unknown (output piped)


# --------------------------------------------------------------------------- one value


def short_float(value: float) -> str:
    """A float for a table: 6 significant digits, no exponent between 1e-4 and 1e15."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    size = abs(value)
    if size == 0:
        return "0"
    if 1e-4 <= size < 1e6:
        return f"{value:.6g}"
    if 1e6 <= size < 1e15:
        return f"{value:,.0f}"
    return f"{value:.6g}"


def iso_duration(value: timedelta) -> str:
    """A timedelta as an ISO 8601 duration: ``P1DT2H3M4.5S``, ``-PT1S``."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    secs = f"{seconds + value.microseconds / 1e6:g}"
    clock = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M")) if n)
    clock += f"{secs}S" if secs != "0" else ""
    days = f"{value.days}D" if value.days else ""
    return f"{sign}P{days}" + (f"T{clock}" if clock else "" if days else "T0S")


def _scalar_text(value: Any) -> str | None:
    """Text of a scalar that is not a number, shared by every format (None: not such a scalar)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return None


def json_value(value: Any) -> str:
    """One value as JSON text (always valid JSON; see the module docstring)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        return '"NaN"' if math.isnan(value) else '"Infinity"' if value > 0 else '"-Infinity"'
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(json_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (
            f"{json.dumps(k if isinstance(k, str) else _key_text(k))}: {json_value(v)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    text = _scalar_text(value)
    return json.dumps(text if text is not None else str(value), ensure_ascii=False)


def _key_text(key: Any) -> str:
    text = _scalar_text(key)
    return text if text is not None else json_value(key)


def csv_value(value: Any) -> str:
    """One value as a CSV field's text, at full precision (NULL: empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else short_float(value)
    if isinstance(value, list | tuple | dict):
        return json_value(value)
    text = _scalar_text(value)
    return text if text is not None else str(value)


def table_cell(value: Any) -> str:
    """One value as a table cell: short numbers, visible control characters, at most MAX_CELL wide."""
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return short_float(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        text = value.isoformat(sep=" ")
    else:
        text = csv_value(value)
    text = _CONTROL.sub(_escape, text)
    return text if display_width(text) <= MAX_CELL else _cut(text, MAX_CELL - 1) + "…"


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # would break or garble a line
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide East Asian characters count 2, combining marks 0)."""
    return len(text) if text.isascii() else sum(map(_char_width, text))


def _cut(text: str, width: int) -> str:
    """The longest start of ``text`` that fits ``width`` columns."""
    used = 0
    for i, char in enumerate(text):
        used += _char_width(char)
        if used > width:
            return text[:i]
    return text


def _pad(text: str, width: int, *, right: bool) -> str:
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


# --------------------------------------------------------------------------- one result


def _csv(result: Any) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow([csv_value(v) for v in row])
    return buffer.getvalue()


def unique_names(columns: Sequence[Any]) -> list[str]:
    """Column names made unique for JSON objects (``select 1 as a, 2 as a`` -> ``a``, ``a_2``): a
    repeated key would keep only its last value in most JSON readers."""
    seen: set[str] = set()
    out = []
    for column in map(str, columns):
        name, n = column, 1
        while name in seen:
            n += 1
            name = f"{column}_{n}"
        seen.add(name)
        out.append(name)
    return out


def _json(result: Any) -> str:
    names = [json.dumps(c, ensure_ascii=False) for c in unique_names(result.columns)]
    rows = [
        "{" + ", ".join(f"{n}: {json_value(v)}" for n, v in zip(names, row, strict=True)) + "}"
        for row in result.rows
    ]
    return "[\n" + ",\n".join(" " + r for r in rows) + "\n]" if rows else "[]"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _blocks(widths: list[int], width: int) -> list[list[int]]:
    """Column indexes in blocks that each fit ``width``; later blocks repeat the first column when it
    is narrow enough to help reading (a column wider than ``width`` gets a block of its own)."""
    repeat = widths[0] <= width // 3
    blocks: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i, w in enumerate(widths):
        need = used + len(GAP) + w if current else w
        if current and need > width and current != [0]:
            blocks.append(current)
            current, used = ([0], widths[0]) if repeat else ([], 0)
            need = used + len(GAP) + w if current else w
        current.append(i)
        used = need
    blocks.append(current)
    return blocks


def _table(columns: Sequence[Any], rows: Sequence[Sequence[Any]], width: int) -> str:
    header = [table_cell(c) for c in columns]
    cells = [[table_cell(v) for v in row] for row in rows]
    widths = [
        max([display_width(header[i]), *(display_width(r[i]) for r in cells)]) for i in range(len(header))
    ]
    numeric = [
        any(_is_number(r[i]) for r in rows) and all(r[i] is None or _is_number(r[i]) for r in rows)
        for i in range(len(header))
    ]

    def line(values: Sequence[str], block: list[int]) -> str:
        parts = [_pad(values[i], widths[i], right=numeric[i]) for i in block]
        return GAP.join(parts).rstrip()

    out = []
    for block in _blocks(widths, width):
        out.append(line(header, block))
        out.append(GAP.join("-" * widths[i] for i in block))
        out += [line(row, block) for row in cells]
        out.append("")
    return "\n".join(out[:-1]) + "\n"


def terminal_width() -> int:
    """Columns of the terminal (``COLUMNS`` when set), FALLBACK_WIDTH when output is piped."""
    return shutil.get_terminal_size((FALLBACK_WIDTH, 24)).columns


def format_result(result: Any, fmt: str, *, max_rows: int = 200, width: int | None = None) -> str:
    """One result (anything with ``columns`` and ``rows``) as text in ``fmt`` (table | csv | json).
    ``max_rows`` limits the rows of a table (0: all); csv and json always hold every row."""
    if fmt == "csv":
        return _csv(result)
    if fmt == "json":
        return _json(result) + "\n"
    if not result.columns:
        return "ok\n"
    if list(result.columns) == ["explain_key", "explain_value"]:  # EXPLAIN: its plan, drawn as is
        return "".join(f"{value}\n" for _key, value in result.rows)
    rows = result.rows if max_rows <= 0 else result.rows[:max_rows]
    text = _table(result.columns, rows, width or terminal_width())
    if len(rows) < len(result.rows):
        text += f"({len(result.rows)} rows, {len(rows)} shown; --max-rows 0 shows all)\n"
    return text


def format_results(results: Sequence[Any], fmt: str, *, max_rows: int = 200, width: int | None = None) -> str:
    """Every result of ``fstore query "a; b"`` (one result prints as :func:`format_result` does)."""
    if len(results) == 1:
        return format_result(results[0], fmt, max_rows=max_rows, width=width)
    if fmt == "json":
        return "[\n" + ",\n".join(_json(r) for r in results) + "\n]\n"
    parts = []
    for number, result in enumerate(results, start=1):
        text = format_result(result, fmt, max_rows=max_rows, width=width)
        if fmt == "table":
            statement = " ".join(getattr(result, "statement", "").split())
            caption = f"-- {number}: {statement}"
            text = (
                (caption[: MAX_CELL * 2 - 1] + "…" if len(caption) > MAX_CELL * 2 else caption) + "\n" + text
            )
        parts.append(text)
    return "\n".join(parts)


__all__ = [
    "FALLBACK_WIDTH",
    "MAX_CELL",
    "csv_value",
    "display_width",
    "format_result",
    "format_results",
    "iso_duration",
    "json_value",
    "short_float",
    "table_cell",
    "terminal_width",
    "unique_names",
]
