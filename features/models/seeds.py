"""Files a SQL model reads itself (``read_csv('seeds/weights.csv')``): their paths and their content.

A model may read a file with DuckDB's file functions (:data:`FILE_FUNCTIONS`) given a string literal
or a list of them. Two rules make such a model behave like one reading a table:

- a relative path resolves against the project root, never the current directory:
  :func:`resolve_paths` rewrites it to an absolute path in the SQL that runs (a view keeps working
  from any folder), while the model's hash still sees the path as written;
- the content of every file it reads (a glob: every matching file) is part of the model's definition
  (:func:`files_digest`), so editing a seed rebuilds the model in full and, through it, its descendants.

URLs (``s3://``, ``https://``) and ``~`` paths are left as written and not hashed. The scan is a small
tokenizer over the SQL text (comments, strings and quoted identifiers are skipped), so it costs no
sqlglot import on a no-op build.
"""

from __future__ import annotations

import glob
import hashlib
import re
from pathlib import Path

# DuckDB table functions whose first argument is a path, a glob or a list of them
FILE_FUNCTIONS = (
    "read_blob",
    "read_csv",
    "read_csv_auto",
    "read_json",
    "read_json_auto",
    "read_json_objects",
    "read_ndjson",
    "read_ndjson_auto",
    "read_ndjson_objects",
    "read_parquet",
    "read_text",
    "read_xlsx",
    "parquet_scan",
)

_TOKEN = re.compile(
    r"""(?P<skip>--[^\n]*|/\*.*?\*/|"(?:[^"]|"")*"|'(?:[^']|'')*')"""
    r"|(?P<call>\b(?:" + "|".join(FILE_FUNCTIONS) + r")\s*\(\s*)",
    re.IGNORECASE | re.DOTALL,
)
_STRING = re.compile(r"'((?:[^']|'')*)'")
_LIST_ITEM = re.compile(r"\s*'((?:[^']|'')*)'\s*(,|\])")
_GLOB = re.compile(r"[*?\[]")


def path_literals(sql: str) -> list[tuple[int, int, str]]:
    """``(start, end, path)`` of every string literal passed as a path to a file function, in order."""
    found: list[tuple[int, int, str]] = []
    lowered = sql.lower()
    if "read_" not in lowered and "parquet_scan" not in lowered:  # the common case, at memchr speed
        return found
    pos = 0
    while (match := _TOKEN.search(sql, pos)) is not None:
        pos = match.end()
        if match["call"] is None:
            continue
        if (string := _STRING.match(sql, pos)) is not None:
            found.append((string.start(), string.end(), string[1].replace("''", "'")))
            pos = string.end()
        elif sql.startswith("[", pos):
            pos += 1
            while (item := _LIST_ITEM.match(sql, pos)) is not None:
                found.append((item.start(1) - 1, item.end(1) + 1, item[1].replace("''", "'")))
                pos = item.end()
                if item[2] == "]":
                    break
    return found


def is_local(path: str) -> bool:
    """Whether a path names a local file fstore resolves and hashes (not a URL, not ``~``)."""
    return "://" not in path and not path.startswith("~")


def resolve_paths(sql: str, root: Path) -> str:
    """``sql`` with every relative local path of a file function made absolute under ``root``."""
    literals = [(s, e, p) for s, e, p in path_literals(sql) if is_local(p) and not Path(p).is_absolute()]
    for start, end, path in reversed(literals):
        absolute = str(root / path).replace("'", "''")
        sql = f"{sql[:start]}'{absolute}'{sql[end:]}"
    return sql


def files_read(sql: str) -> list[str]:
    """The local paths (or globs) a model's SQL reads, as they appear in it."""
    return [path for _start, _end, path in path_literals(sql) if is_local(path)]


def files_digest(sql: str) -> str | None:
    """A hash of the names and content of every file the SQL reads (globs expanded), None when it reads
    none. Run :func:`resolve_paths` first: relative paths here are taken from the current directory."""
    paths = files_read(sql)
    if not paths:
        return None
    h = hashlib.sha256()
    for pattern in paths:
        h.update(b"\0pattern\0" + pattern.encode())
        matches = sorted(glob.glob(pattern, recursive=True)) if _GLOB.search(pattern) else [pattern]
        for name in matches:
            h.update(b"\0file\0" + name.encode())
            h.update(_content_hash(Path(name)).encode())
    return h.hexdigest()[:32]


def _content_hash(path: Path) -> str:
    """sha256 of the file's bytes, or ``missing`` (the build then fails naming the file)."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return "missing"


__all__ = ["FILE_FUNCTIONS", "files_digest", "files_read", "is_local", "path_literals", "resolve_paths"]
