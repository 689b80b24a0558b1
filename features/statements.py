"""What a piece of SQL does: one query that only reads, or something that could change state.

A model, a custom data test (``-- test: sql file.sql``) and a read-only ``fstore query`` must each be
a query that reads. :func:`write_problems` parses the text with sqlglot and lists every reason it is
not: more than one statement, a statement that is not a query, and anything that writes *anywhere*
in the tree (``with t as (delete … returning *) select …``, ``COPY``, ``ATTACH``, ``PRAGMA``,
``INSTALL``, ``SET``, a sequence's ``nextval`` …), each with the line it starts on.

This is the first of two locks for ``fstore query``: the second is a connection that cannot write
(read-only, no file access, configuration locked; see :mod:`features.query`), so a statement this
parser misreads still cannot change anything.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import ModelError

if TYPE_CHECKING:
    from sqlglot import exp

# sqlglot expression classes that write or change a session (looked up by name: the set sqlglot
# defines differs between versions)
_WRITE_NODES = (
    "Alter",
    "AlterTable",
    "Analyze",
    "Attach",
    "Cache",
    "Command",  # anything sqlglot only knows as opaque text (EXPLAIN, CALL, LOAD, CREATE SECRET …)
    "Comment",
    "Commit",
    "Copy",
    "Create",
    "Declare",
    "Delete",
    "Detach",
    "Drop",
    "Export",
    "Grant",
    "Insert",
    "Install",
    "Kill",
    "LoadData",
    "Merge",
    "Pragma",
    "Refresh",
    "Revoke",
    "Rollback",
    "Set",
    "Transaction",
    "TruncateTable",
    "Uncache",
    "Update",
    "Use",
)
# functions with a side effect (sequences, checkpoints); called anywhere, they make a query write
SIDE_EFFECT_FUNCTIONS = frozenset({"nextval", "setval", "checkpoint", "force_checkpoint"})

# Every keyword that starts one of the nodes above (or names such a function), as a whole word. A text
# holding none of them cannot contain one, so a caller may skip parsing it (``fstore query`` does, to
# keep a plain SELECT from importing sqlglot); any match, even inside a string, means: parse it.
WRITE_KEYWORDS = frozenset(
    {
        "abort", "alter", "analyze", "attach", "begin", "cache", "call", "checkpoint", "comment",
        "commit", "copy", "create", "declare", "deallocate", "delete", "detach", "drop", "execute",
        "explain", "export", "force_checkpoint", "grant", "import", "insert", "install", "kill", "load",
        "merge", "nextval", "pragma", "prepare", "refresh", "reset", "revoke", "rollback", "set",
        "setval", "start", "transaction", "truncate", "uncache", "update", "use", "vacuum",
    }
)  # fmt: skip
_KEYWORD = re.compile(r"\b(" + "|".join(sorted(WRITE_KEYWORDS)) + r")\b", re.I)


def may_write(text: str) -> bool:
    """False only when ``text`` holds none of :data:`WRITE_KEYWORDS` (so it cannot write)."""
    return _KEYWORD.search(text) is not None


@dataclass(frozen=True)
class Problem:
    """Why a text is not one reading query: a message and the line (1-based) it points at."""

    message: str
    line: int | None = None


@contextlib.contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs a warning when it falls back to an opaque Command; we report those ourselves."""
    log = logging.getLogger("sqlglot")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def parse_statements(text: str) -> list[exp.Expression]:
    """Every statement of ``text`` (sqlglot, DuckDB dialect); raises sqlglot's ParseError/TokenError."""
    import sqlglot

    with _quiet_sqlglot():
        return [s for s in sqlglot.parse(text, read="duckdb") if s is not None]


def statement_lines(text: str) -> list[int]:
    """The line each statement of ``text`` starts on (the first token after each ``;``)."""
    import sqlglot
    from sqlglot.tokens import TokenType

    lines: list[int] = []
    expect_start = True
    for token in sqlglot.tokenize(text, read="duckdb"):
        if token.token_type == TokenType.SEMICOLON:
            expect_start = True
        elif expect_start:
            lines.append(token.line)
            expect_start = False
    return lines


def _write_classes() -> tuple[type, ...]:
    from sqlglot import exp

    return tuple(cls for name in _WRITE_NODES if isinstance(cls := getattr(exp, name, None), type))


def _keyword_line(text: str, keyword: str, start_line: int) -> int | None:
    """The first line at or after ``start_line`` holding the token ``keyword`` (case-insensitive)."""
    import sqlglot

    with contextlib.suppress(Exception):
        for token in sqlglot.tokenize(text, read="duckdb"):
            if token.line >= start_line and token.text.upper() == keyword.upper():
                return token.line
    return None


def _node_line(node: Any) -> int | None:
    """A line inside ``node``: the first identifier or literal sqlglot kept a position for."""
    from sqlglot import exp

    for child in node.walk():
        line = getattr(child, "meta", {}).get("line") if isinstance(child, exp.Expression) else None
        if line:
            return int(line)
    return None


def _describe(node: Any) -> str:
    from sqlglot import exp

    if isinstance(node, exp.Command):
        return str(node.this).split()[0].upper()
    return node.key.upper()


def _tree_problems(tree: exp.Expression, text: str, start_line: int, noun: str) -> list[Problem]:
    """Everything inside one statement (``noun``: "a model" …) that writes or has a side effect."""
    from sqlglot import exp

    problems = []
    writes = _write_classes()
    for node in tree.walk():
        if isinstance(node, writes):
            what = _describe(node)
            line = _keyword_line(text, what, start_line) or _node_line(node) or start_line
            problems.append(Problem(f"{what} writes (or changes the session); {noun} may only read", line))
        elif isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in SIDE_EFFECT_FUNCTIONS:
                line = _keyword_line(text, name, start_line) or _node_line(node) or start_line
                problems.append(Problem(f"{name}() has a side effect; {noun} may only read", line))
    return problems


_TOKEN = re.compile(r"<Token token_type: TokenType\.\w+, text: (.*?), line: \d+.*?>")


def syntax_error(err: Exception, text: str, file: str | Path) -> ModelError:
    """Turn a sqlglot ParseError into file:line:column with the offending line shown."""
    info = (getattr(err, "errors", None) or [{}])[0]
    line, col = info.get("line"), info.get("col")
    description = _TOKEN.sub(r"`\1`", str(info.get("description") or err).splitlines()[0])
    message = f"SQL syntax error: {description}"
    if line:
        source = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
        highlight = info.get("highlight") or ""
        start = max(1, (col or 1) - len(highlight) + 1)
        message += f"\n    {source}\n    {' ' * (start - 1)}{'^' * max(1, len(highlight))}"
        col = start
    return ModelError(message, file=file, line=line, column=col)


def write_problems(
    text: str,
    *,
    statements: list[exp.Expression] | None = None,
    roots: tuple[str, ...] = ("Query",),
    what: str = "a model",
) -> list[Problem]:
    """Why ``text`` is not exactly one statement that only reads (empty: it is).

    ``statements`` are ``text`` already parsed by :func:`parse_statements` (parsed here otherwise).
    ``roots`` names the sqlglot classes a statement may be (``Query``: SELECT, UNION, a subquery…;
    ``fstore query`` adds ``Describe``, ``Show`` and ``Summarize``). Raises sqlglot's ParseError /
    TokenError when the text does not parse: callers report syntax errors their own way.
    """
    from sqlglot import exp

    if statements is None:
        statements = parse_statements(text)
    lines = statement_lines(text) or [1]
    allowed = tuple(cls for name in roots if isinstance(cls := getattr(exp, name, None), type))
    if not statements:
        return [Problem(f"{what} holds no statement")]
    problems: list[Problem] = []
    if len(statements) > 1:
        second = lines[1] if len(lines) > 1 else None
        problems.append(
            Problem(f"{what} is one statement, found {len(statements)} (the second starts here)", second)
        )
    for tree, line in zip(statements, lines + [lines[-1]] * len(statements), strict=False):
        found = _tree_problems(tree, text, line, what)
        if not isinstance(tree, allowed) and not found:
            found = [Problem(f"{what} is a query (SELECT …), not {_describe(tree)}", line)]
        problems += found
    return problems


__all__ = [
    "SIDE_EFFECT_FUNCTIONS",
    "WRITE_KEYWORDS",
    "Problem",
    "may_write",
    "parse_statements",
    "statement_lines",
    "syntax_error",
    "write_problems",
]
