"""How text in a price file becomes dates and numbers: the ``[ingest]`` settings and per-file detection.

Dates and numbers that DuckDB's reader types by itself (ISO dates, plain numbers) are used as read.
Everything else is read as text and parsed here, in SQL, inside the one scan of the file:

* **dates**: the format is detected per file from *all* its values among :data:`DATE_CANDIDATES`
  (ISO with or without a time and zone, ``%Y%m%d``, day-first and month-first with ``/ - .``, 2- or
  4-digit years, month names, Unix epochs). A file whose dates read both day-first and month-first
  (no day above 12 anywhere) is an error naming the file and the setting, never silently read one
  way. ``[ingest] date_format`` (a strptime format), when set, is used for every file whose dates it
  reads at least as well as the best detected layout, so it settles ambiguous files without
  misreading a file whose own dates show another layout.
* **numbers**: currency signs (``[ingest] currency``), spaces and apostrophes are stripped,
  ``(1.23)`` is -1.23, the thousands separator is removed and the decimal mark made a point;
  volumes may end in ``K``/``M``/``B``. The decimal mark is detected per file (``162,50`` or
  ``1.234,56``: a comma; ``230.54`` or ``29,044,171``: a point) unless ``[ingest] decimal`` sets it;
  a file that shows both, or only ``1,234``-shaped numbers, is an error naming the setting.
* **missing**: empty cells and the markers in :data:`MISSING_MARKERS` (FRED's ``.``, ``N/A``, ``-``,
  ``null`` …) are missing values, never unparseable ones.

Every SQL fragment here takes the text expression it parses; user values (formats, signs) only
reach SQL as named parameters (``$date_format``, ``$strip``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from features.config import Project
from features.errors import ConfigError, IngestError

MISSING_MARKERS = ("", ".", "-", "--", "null", "none", "nil", "n/a", "na", "#n/a")
DATE_RANGE = ("1800-01-01", "2200-12-31")  # a parsed date outside it is a typo, not a price date
ADJ_POLICIES = ("quarantine", "fill")
UNKNOWN_POLICIES = ("quarantine", "error")
DECIMALS = ("", ".", ",")
THOUSANDS = ("", ",", ".", " ", "'", "none")


@dataclass(frozen=True)
class DateCandidate:
    """One date layout: ``name`` (a strptime format, or ``epoch``), how to read it, and its guard."""

    name: str
    kind: str  # iso | token (first word of the text) | full (the whole text) | epoch
    guard: str = ""  # a regex the text must match in full (keeps %Y from reading "24" as year 24)


def _numeric_candidates() -> list[DateCandidate]:
    found = []
    for sep, esc in (("/", "/"), ("-", "-"), (".", r"\.")):
        for year, year_re in (("%Y", r"\d{4}"), ("%y", r"\d{2}")):
            guard = rf"\d{{1,2}}{esc}\d{{1,2}}{esc}{year_re}"
            found.append(DateCandidate(f"%d{sep}%m{sep}{year}", "token", guard))
            found.append(DateCandidate(f"%m{sep}%d{sep}{year}", "token", guard))
    return found


DATE_CANDIDATES: tuple[DateCandidate, ...] = (
    DateCandidate("%Y-%m-%d", "iso"),
    DateCandidate("%Y/%m/%d", "token", r"\d{4}/\d{1,2}/\d{1,2}"),
    DateCandidate("%Y.%m.%d", "token", r"\d{4}\.\d{1,2}\.\d{1,2}"),
    DateCandidate("%Y%m%d", "token", r"\d{8}"),
    *_numeric_candidates(),
    DateCandidate("%b %d, %Y", "full", r"[A-Za-z]{3} \d{1,2}, \d{4}"),
    DateCandidate("%B %d, %Y", "full", r"[A-Za-z]{4,} \d{1,2}, \d{4}"),
    DateCandidate("%d %b %Y", "full", r"\d{1,2} [A-Za-z]{3} \d{4}"),
    DateCandidate("%d-%b-%Y", "token", r"\d{1,2}-[A-Za-z]{3}-\d{4}"),
    DateCandidate("%d-%b-%y", "token", r"\d{1,2}-[A-Za-z]{3}-\d{2}"),
    DateCandidate("epoch", "epoch"),
)
_BY_NAME = {c.name: c for c in DATE_CANDIDATES}


def _mirror(name: str) -> str | None:
    """The other reading of a numeric day/month format (``%d/%m/%Y`` ↔ ``%m/%d/%Y``)."""
    if name.startswith("%d") and name[2:4] in ("/%", "-%", ".%") and name[4] == "m":
        return "%m" + name[2] + "%d" + name[5:]
    if name.startswith("%m") and name[2:4] in ("/%", "-%", ".%") and name[4] == "d":
        return "%d" + name[2] + "%m" + name[5:]
    return None


MIRRORS: tuple[tuple[str, str], ...] = tuple(
    (c.name, m) for c in DATE_CANDIDATES if (m := _mirror(c.name)) and c.name.startswith("%d")
)


# --------------------------------------------------------------------------------------------- settings


def check_settings(project: Project) -> None:
    """Refuse ``[ingest]`` values that cannot be right, naming the file and the setting."""
    cfg = project.ingest
    where = {"file": project.config_file}

    def choice(key: str, value: str, allowed: Sequence[str]) -> None:
        if value not in allowed:
            shown = ", ".join(f'"{a}"' for a in allowed)
            raise ConfigError(f"[ingest] {key} must be one of {shown}, got {value!r}", **where)

    choice("missing_adjusted_close", cfg.missing_adjusted_close, ADJ_POLICIES)
    choice("unknown_symbols", cfg.unknown_symbols, UNKNOWN_POLICIES)
    choice("decimal", cfg.decimal, DECIMALS)
    choice("thousands", cfg.thousands, THOUSANDS)
    if cfg.thousands and cfg.thousands == cfg.decimal:
        raise ConfigError(f'[ingest] thousands and decimal are both "{cfg.decimal}"', **where)
    for sign in cfg.currency:
        if not sign or re.search(r"[\d.,()+\-eE]", sign):
            raise ConfigError(
                f'[ingest] currency entries must be signs such as "$" or "USD", got {sign!r}',
                hint="a sign holding digits, '.', ',', '(', ')', '+', '-' or 'e' would change numbers",
                **where,
            )
    if cfg.date_format:
        _check_date_format(cfg.date_format, project)


def _check_date_format(fmt: str, project: Project) -> None:
    problem = "" if "%" in fmt else "it has no % directive"
    if not problem:
        try:
            duckdb.connect().execute("select try_strptime('2024-01-02', $f)", {"f": fmt}).fetchall()
        except duckdb.Error as exc:
            problem = str(exc).splitlines()[0]
    if problem:
        raise ConfigError(
            f"[ingest] date_format {fmt!r} is not a strptime format ({problem})",
            file=project.config_file,
            hint='e.g. "%m/%d/%Y" for 01/31/2024 or "%d.%m.%Y" for 31.01.2024',
        )


def strip_pattern(currency: Sequence[str]) -> str:
    """The regex of characters removed from text numbers: spaces (incl. no-break), ``'``, currency signs."""
    signs = sorted({re.escape(s) for s in currency}, key=len, reverse=True)
    return "|".join([r"[\s\x{00A0}\x{202F}']", *signs])


def sql_params(project: Project) -> dict[str, Any]:
    """The named parameters every parsing fragment may use."""
    return {"strip": strip_pattern(project.ingest.currency), "date_format": project.ingest.date_format}


# --------------------------------------------------------------------------------------------- SQL


def missing_sql(text: str) -> str:
    """True when the text cell is empty or a missing-value marker."""
    markers = ", ".join(f"'{m}'" for m in MISSING_MARKERS)
    return f"({text} is null or lower(trim({text})) in ({markers}))"


def _in_range(date_sql: str) -> str:
    lo, hi = DATE_RANGE
    return f"(case when {date_sql} between date '{lo}' and date '{hi}' then {date_sql} end)"


# what may follow a date: a time, then optionally fractions, AM/PM and a zone (Z, UTC, +05:30)
_TIME = r"\d{1,2}:\d{2}(:\d{2}(\.\d+)?)? ?([AaPp][Mm])? ?(Z|UTC|GMT|[+-]\d{2}(:?\d{2})?)?"


def _token(text: str) -> str:
    """The date part of a text cell: its first word, without a ``T…`` time (``2024-01-02T00:00Z``)."""
    return f"regexp_extract({text}, '^([^ ]+?)([T ]{_TIME})?$', 1)"


def candidate_sql(candidate: DateCandidate, text: str) -> str:
    """A DATE (or NULL) from trimmed ``text`` read as ``candidate`` (no range check)."""
    token = _token(text)
    if candidate.kind == "iso":
        return (
            f"try_cast(regexp_extract({text}, '^(\\d{{4}}-\\d{{1,2}}-\\d{{1,2}})([T ]{_TIME})?$', 1) as date)"
        )
    if candidate.kind == "epoch":
        digits = f"regexp_extract({text}, '^(\\d{{9,10}}|\\d{{12,13}})(\\.0+)?$', 1)"
        micros = f"(case when length({digits}) <= 10 then 1000000 else 1000 end)"
        return f"(case when {digits} <> '' then make_timestamp(({digits})::bigint * {micros})::date end)"
    source = token if candidate.kind == "token" else text
    name = candidate.name.replace("'", "''")  # a constant of this module
    return (
        f"(case when regexp_full_match({source}, '{candidate.guard}') "
        f"then try_strptime({source}, '{name}')::date end)"
    )


def configured_date_sql(text: str) -> str:
    """A DATE from ``text`` with ``[ingest] date_format`` (the whole text, or its first word)."""
    token = _token(text)
    return f"coalesce(try_strptime({text}, $date_format), try_strptime({token}, $date_format))::date"


def date_sql(text: str, formats: Sequence[str], *, per_file: str) -> str:
    """A DATE from ``text`` with the format each file was detected to use (``per_file`` names it)."""
    if not formats:
        return "null::date"
    branches = " ".join(
        f"when '{name}' then {configured_date_sql(text) if name == 'configured' else candidate_sql(_BY_NAME[name], text)}"
        for name in formats
    )
    return f"(case {per_file} {branches} end)"


def number_sql(text: str, *, decimal: str, thousands: str, volume: bool) -> str:
    """A DOUBLE (NULL when missing or unparseable) from a text cell.

    ``decimal``/``thousands`` are SQL expressions (a file's detected marks, from the files table).
    """
    s = f"regexp_replace(trim({text}), $strip, '', 'g')"
    s = f"(case when {s} like '(%)' then '-' || {s}[2:-2] else {s} end)"
    s = f"replace(replace({s}, {thousands}, ''), {decimal}, '.')"
    if not volume:
        return f"try_cast({s} as double)"
    unit = f"upper(right({s}, 1))"
    scale = f"(case {unit} when 'K' then 1e3 when 'M' then 1e6 when 'B' then 1e9 else 1 end)"
    digits = f"(case when {unit} in ('K', 'M', 'B') then {s}[1:-2] else {s} end)"
    return f"(try_cast({digits} as double) * {scale})"


# --------------------------------------------------------------------------------------------- detection


def detection_sql(date_text: str | None, number_texts: Sequence[str], *, configured: bool = False) -> str:
    """Aggregates over one file's text cells that :func:`decide` turns into its formats;
    ``configured``: also count the dates ``$date_format`` reads (``[ingest] date_format``)."""
    parts = ["count(*) as n_rows"]
    if date_text is not None:
        present = f"not {missing_sql(date_text)}"
        parts.append(f"count(*) filter (where {present}) as n_dates")
        parts.append(f"any_value(trim({date_text})) filter (where {present}) as date_sample")
        if configured:
            parts.append(f"count({_in_range(configured_date_sql(f'trim({date_text})'))}) as d_configured")
        for i, cand in enumerate(DATE_CANDIDATES):
            parsed = _in_range(candidate_sql(cand, f"trim({date_text})"))
            parts.append(f"count({parsed}) as d{i}")
        for i, (day_first, month_first) in enumerate(MIRRORS):
            a = _in_range(candidate_sql(_BY_NAME[day_first], f"trim({date_text})"))
            b = _in_range(candidate_sql(_BY_NAME[month_first], f"trim({date_text})"))
            parts.append(f"count(*) filter (where {a} <> {b}) as m{i}")
    evidence = {
        "comma_decimal": r"(^[^.,]*\d,(\d{1,2}|\d{4,})\D*$)|(\.\d{3},\d)|(\d\.\d{3}\.\d{3})",
        "point_decimal": r"(^[^.,]*\d\.(\d{1,2}|\d{4,})\D*$)|(,\d{3}\.\d)|(\d,\d{3},\d{3})",
        "has_comma": r",",
    }
    for key, pattern in evidence.items():
        if number_texts:
            tests = " or ".join(f"regexp_matches(trim({t}), '{pattern}')" for t in number_texts)
            parts.append(f"coalesce(bool_or({tests}), false) as {key}")
        else:
            parts.append(f"false as {key}")
    return ", ".join(parts)


@dataclass(frozen=True)
class FileFormat:
    """What one file's text was detected (or configured) to mean."""

    date_format: str | None  # a DATE_CANDIDATES name, "configured", or None when dates are typed
    decimal: str = "."
    thousands: str = ","


def decide(stats: Mapping[str, Any], project: Project, *, file: str, dates_are_text: bool) -> FileFormat:
    """A file's formats from :func:`detection_sql`'s aggregates (raises IngestError when ambiguous)."""
    cfg = project.ingest
    date_format = None
    if dates_are_text:
        date_format = _decide_date(stats, file, configured=bool(cfg.date_format))
    decimal, thousands = _decide_number(stats, cfg.decimal, cfg.thousands, file)
    return FileFormat(date_format, decimal, thousands)


def _decide_date(stats: Mapping[str, Any], file: str, *, configured: bool = False) -> str | None:
    """A file's date layout. ``[ingest] date_format`` (``configured``) wins unless the file's dates show
    a layout it cannot read as well: one setting that settles an ambiguous day-first file must not
    misread a month-first download beside it (``02/13/2024`` proves month-first)."""
    present = int(stats.get("n_dates") or 0)
    counts = {c.name: int(stats[f"d{i}"]) for i, c in enumerate(DATE_CANDIDATES)}
    best = max(counts.values(), default=0)
    if configured and int(stats.get("d_configured") or 0) >= best:
        return "configured"
    if present == 0 or best == 0:  # every row will be an unparseable date: the file is refused
        return DATE_CANDIDATES[0].name
    winners = [name for name, n in counts.items() if n == best]
    for i, (day_first, month_first) in enumerate(MIRRORS):
        if day_first in winners and month_first in winners and int(stats[f"m{i}"]) > 0:
            raise IngestError(
                f"its dates are ambiguous: {stats.get('date_sample')!r} reads as {day_first} or "
                f"{month_first} (no day above 12 in any of its {present:,} dates)",
                file=file,
                hint=f'set [ingest] date_format = "{day_first}" or "{month_first}" in config/project.toml',
            )
    return winners[0]


def _decide_number(stats: Mapping[str, Any], decimal: str, thousands: str, file: str) -> tuple[str, str]:
    if not decimal:
        comma, point = bool(stats.get("comma_decimal")), bool(stats.get("point_decimal"))
        if comma and point:
            raise IngestError(
                "its numbers mix decimal commas (1.234,56) and decimal points (1,234.56)",
                file=file,
                hint='set [ingest] decimal = "," or "." in config/project.toml',
            )
        if not comma and not point and stats.get("has_comma"):
            raise IngestError(
                "its numbers such as 1,234 may hold a thousands separator or a decimal comma",
                file=file,
                hint='set [ingest] decimal = "." (1,234 is 1234) or "," (1,234 is 1.234) in config/project.toml',
            )
        decimal = "," if comma else "."
    if not thousands:
        thousands = "." if decimal == "," else ","
    return decimal, "" if thousands == "none" else thousands


__all__ = [
    "DATE_CANDIDATES",
    "DATE_RANGE",
    "MISSING_MARKERS",
    "DateCandidate",
    "FileFormat",
    "candidate_sql",
    "check_settings",
    "configured_date_sql",
    "date_sql",
    "decide",
    "detection_sql",
    "missing_sql",
    "number_sql",
    "sql_params",
    "strip_pattern",
]
