"""docs/reliability.md names a test for every guarantee: each test it names must exist, and every row
of a table with a `test` column must name one (a renamed or deleted test would otherwise leave a
guarantee that nothing checks)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reliability.md"
# `tests/x/test_y.py`, `tests/x/test_y.py::test_z`, `…::test_z` / `::test_z` (the file named last),
# `tests/models/` (a folder of tests)
_SPAN = re.compile(r"`([^`]+)`")
_REF = re.compile(
    r"^(?:(?P<file>tests/[\w/]+?\.py)|(?P<folder>tests/[\w/]+/)|…|\.\.\.)?(?:::(?P<name>\w+))?$"
)


def _functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def _references(text: str) -> list[tuple[int, str, str | None]]:
    """(line, file or folder, test name or None) of every test the document names, in order; a
    `…::name` is resolved against the file named before it."""
    refs: list[tuple[int, str, str | None]] = []
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        for span in _SPAN.findall(line):
            match = _REF.match(span)
            if not match or not (match.group("file") or match.group("folder") or match.group("name")):
                continue
            if match.group("file") or match.group("folder"):
                current = match.group("file") or match.group("folder")
            if current is None:
                raise AssertionError(f"docs/reliability.md:{number}: `{span}` names no file before it")
            refs.append((number, current, match.group("name")))
    return refs


def test_every_test_the_reliability_doc_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    refs = _references(text)
    assert len(refs) >= 60, "the parser found too few references: has the notation changed?"
    missing = []
    for number, where, name in refs:
        path = REPO / where
        if not path.exists():
            missing.append(f"line {number}: {where} does not exist")
        elif name is not None and (path.is_dir() or name not in _functions(path)):
            missing.append(f"line {number}: {where} has no test {name}")
    assert not missing, "docs/reliability.md names tests that do not exist:\n" + "\n".join(missing)


def test_every_row_of_a_guarantee_table_names_a_test() -> None:
    """A row of a table whose header has a `test` column cites at least one test file or node."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    unnamed, column = [], None
    for number, line in enumerate(lines, 1):
        if not line.startswith("|"):
            column = None
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]  # `a\|b` is one cell
        if column is None:
            column = cells.index("test") if "test" in cells else -1
            continue
        if column < 0 or set(line) <= set("|-: "):
            continue
        cell = cells[column] if column < len(cells) else ""
        if not any(_REF.match(span) for span in _SPAN.findall(cell)) and cell not in ("same test", "same"):
            unnamed.append(f"line {number}: {cells[0][:70]}")
    assert not unnamed, "guarantees in docs/reliability.md without a test:\n" + "\n".join(unnamed)
