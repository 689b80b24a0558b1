"""The shape of the packages, read from the ``ast`` of every module (so nothing needs importing):

- the import graph has no circles: every arrow, lazy (inside a function) or not, runs one way;
- no function in ``features/`` or ``training/`` is longer than ~80 lines (small named steps).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("features", "training")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for file in (REPO / package).rglob("*.py"):
            parts = list(file.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = file
    return found


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names an import statement may load (``from a import b`` may load module ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (the longest known prefix of each imported name)."""
    modules = _modules()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, file in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            for name in _imported(node, module, file.name == "__init__.py"):
                target = known(name)
                if target and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e2"}, "e2": {"e"}, "f": set()}
    assert sorted(circles(graph)) == [["a", "b", "c"], ["e", "e2"]]


def test_the_graph_sees_lazy_imports() -> None:
    graph = import_graph()
    assert "features.synthetic_market" in graph["features.synthetic"]  # imported inside a function
    assert "features.cli.common" in graph["features.cli.symbols"]


def test_no_import_circles() -> None:
    assert circles(import_graph()) == []


MAX_FUNCTION_LINES = 80


def long_functions(max_lines: int = MAX_FUNCTION_LINES) -> list[str]:
    """``module.function: N lines`` for every function (or method) longer than ``max_lines``."""
    return [
        f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for module, file in _modules().items()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > max_lines
    ]


def test_the_length_check_sees_long_functions() -> None:
    longest = max(int(line.rsplit(": ", 1)[1].split()[0]) for line in long_functions(0))
    assert long_functions(longest - 1) and not long_functions(longest)


def test_no_function_is_longer_than_80_lines() -> None:
    assert long_functions() == []
