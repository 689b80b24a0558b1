"""The model graph: edges from table references, topological order, cycles and selection.

Selection works as in dbt (``--select`` / ``--exclude``; the full reference is docs/models.md). A
value is one or more terms separated by spaces (the union); a term joins selectors with commas (their
intersection). A selector is a method and graph operators around it:

    name            that model
    tag:x           every model tagged x
    path:sql/marts  every model whose file is under that folder (relative to the project root), or that file
    +sel  sel+      with every ancestor / every descendant (``+sel+`` both)
    2+sel  sel+1    ancestors / descendants up to that many edges away
    @sel            with its descendants and every ancestor of those (what a rebuild of sel needs)

The selection is the union of ``--select`` terms (every model when there are none) minus the union of
``--exclude`` terms, in topological order.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from features.errors import ConfigError, ModelError
from features.models.discovery import Model


@dataclass
class Dag:
    """Models with their model upstreams, source upstreams and a topological order."""

    models: dict[str, Model]
    upstream: dict[str, tuple[str, ...]]  # model -> upstream models
    sources: dict[str, tuple[str, ...]]  # model -> upstream source relations
    order: tuple[str, ...]  # topological, ties broken by name

    def downstream(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {name: [] for name in self.models}
        for name, ups in self.upstream.items():
            for up in ups:
                out[up].append(name)
        return {k: tuple(sorted(v)) for k, v in out.items()}

    def ancestors(self, name: str) -> set[str]:
        return _reach({name}, self.upstream, None)

    def descendants(self, name: str) -> set[str]:
        return _reach({name}, self.downstream(), None)

    @property
    def all_sources(self) -> tuple[str, ...]:
        return tuple(sorted({s for srcs in self.sources.values() for s in srcs}))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean `x`?)`` from close names, or an empty string."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.75)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"`{c}`" for c in close) + "?)"


def find_cycle(edges: dict[str, tuple[str, ...]]) -> list[str] | None:
    """One cycle as a closed path [a, b, c, a], starting at its smallest name; None if acyclic."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for up in edges.get(node, ()):
            if state.get(up) == 1:
                cycle = path[path.index(up) :]
                i = cycle.index(min(cycle))
                cycle = cycle[i:] + cycle[:i]
                return [*cycle, cycle[0]]
            if up not in state:
                found = visit(up)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                # edges point upstream; spell the cycle in data-flow order (a feeds b feeds c ...)
                return list(reversed(found))
    return None


def cycle_error(cycle: list[str], models: dict[str, Model]) -> ModelError:
    first = models[cycle[0]]
    return ModelError("cycle: " + " → ".join(cycle), file=first.file, model=first.name)


def topological_order(models: Iterable[str], upstream: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Kahn's algorithm, smallest name first among the ready ones (stable output)."""
    import heapq

    names = set(models)
    remaining = {n: {u for u in upstream.get(n, ()) if u in names and u != n} for n in names}
    children: dict[str, list[str]] = {n: [] for n in names}
    for n, ups in remaining.items():
        for u in ups:
            children[u].append(n)
    ready = [n for n, ups in remaining.items() if not ups]
    heapq.heapify(ready)
    order = []
    while ready:
        n = heapq.heappop(ready)
        order.append(n)
        for c in children[n]:
            remaining[c].discard(n)
            if not remaining[c]:
                heapq.heappush(ready, c)
    return tuple(order)


def build_dag(models: dict[str, Model]) -> Dag:
    """Edges to other models and to sources (every ref that is not a model). Does not check cycles."""
    upstream = {}
    sources = {}
    for name, model in models.items():
        refs = [r.name for r in model.refs]
        upstream[name] = tuple(dict.fromkeys(r for r in refs if r in models))
        sources[name] = tuple(dict.fromkeys(r for r in refs if r not in models))
    return Dag(models, upstream, sources, topological_order(models, upstream))


def select(dag: Dag, specs: Sequence[str], exclude: Sequence[str] = ()) -> tuple[str, ...]:
    """The models named by selection ``specs`` (all when empty) less those named by ``exclude``, in
    topological order. An unknown name, tag or path is a ConfigError saying which flag named it."""
    chosen = _union(dag, specs, "--select") if specs else set(dag.order)
    if exclude:
        chosen -= _union(dag, exclude, "--exclude")
    return tuple(n for n in dag.order if n in chosen)


def _union(dag: Dag, values: Sequence[str], flag: str) -> set[str]:
    """Every model a space-separated term of ``values`` names; a term's comma-joined selectors intersect."""
    out: set[str] = set()
    for value in values:
        for term in value.split():
            parts = [_select_one(dag, part, flag) for part in term.split(",")]
            out |= set.intersection(*parts)
    return out


# [@][n]+ method [+[n]]: the graph operators around one selector (digits: a depth limit)
_SELECTOR = re.compile(
    r"(?P<at>@)?(?:(?P<up_depth>\d*)(?P<up>\+))?(?P<core>[^+@]+?)(?:(?P<down>\+)(?P<down_depth>\d*))?"
)


def _select_one(dag: Dag, spec: str, flag: str) -> set[str]:
    """The models one selector names, with its graph operators applied."""
    match = _SELECTOR.fullmatch(spec)
    if match is None or (match["at"] and (match["up"] or match["down"])):
        raise ConfigError(
            f"{flag} {spec!r}: not a selector",
            hint="write name, tag:x or path:folder, optionally as +x, x+, 2+x, x+1 or @x",
        )
    base = _method(dag, match["core"], f"{flag} {spec}")
    upstream, downstream = dag.upstream, dag.downstream()
    out = set(base)
    if match["at"]:
        out |= _reach(base, downstream, None)
        out |= _reach(out, upstream, None)
    if match["up"]:
        out |= _reach(base, upstream, int(match["up_depth"]) if match["up_depth"] else None)
    if match["down"]:
        out |= _reach(base, downstream, int(match["down_depth"]) if match["down_depth"] else None)
    return out


def _method(dag: Dag, core: str, where: str) -> set[str]:
    """The models a selector's method part names: ``tag:x``, ``path:p`` or a model name."""
    method, _, value = core.partition(":")
    if not value:
        method, value = "", core
    if method == "tag":
        found = {n for n, m in dag.models.items() if value in m.header.tags}
        if not found:
            tags = {t for m in dag.models.values() for t in m.header.tags}
            raise ConfigError(f"{where}: no model is tagged `{value}`{did_you_mean(value, tags)}")
        return found
    if method == "path":
        found = {n for n, m in dag.models.items() if _under(m, value)}
        if not found:
            raise ConfigError(
                f"{where}: no model file is under `{value}`",
                hint="path: is relative to the project root, e.g. path:sql/marts or path:models/labels.py",
            )
        return found
    if method:
        raise ConfigError(
            f"{where}: unknown selector method `{method}:`", hint="use tag:x, path:folder or a model name"
        )
    if core not in dag.models:
        raise ConfigError(f"{where}: no model named `{core}`{did_you_mean(core, dag.models)}")
    return {core}


def _under(model: Model, folder: str) -> bool:
    """Whether the model's file is ``folder`` or lies under it (``folder`` relative to the project
    root, or absolute)."""
    target = PurePath(os.path.normpath(folder))
    if target.is_absolute():
        file = PurePath(model.path) if model.path is not None else None
    else:
        file = PurePath(model.file)
    want = tuple(p for p in target.parts if p != ".")
    return file is not None and file.parts[: len(want)] == want


def _reach(start: set[str], edges: dict[str, tuple[str, ...]], depth: int | None) -> set[str]:
    """Nodes reachable from ``start`` along ``edges`` in at most ``depth`` steps (None: any number)."""
    seen: set[str] = set()
    frontier = set(start)
    steps = 0
    while frontier and (depth is None or steps < depth):
        frontier = {e for n in frontier for e in edges.get(n, ())} - seen
        seen |= frontier
        steps += 1
    return seen


def to_text(dag: Dag) -> str:
    """One line per model in build order: name [materialization] <- upstreams."""
    lines = []
    for name in dag.order:
        m = dag.models[name]
        ups = [*dag.upstream[name], *(f"{s} (source)" for s in dag.sources[name])]
        kind = m.materialized if m.kind == "sql" else f"python {m.materialized}"
        lines.append(f"{name} [{kind}]" + (f" <- {', '.join(ups)}" if ups else ""))
    return "\n".join(lines) + "\n"


def to_dot(dag: Dag) -> str:
    """Graphviz dot: sources as grey ellipses, models as boxes."""
    lines = ["digraph fstore {", "  rankdir=LR;", "  node [shape=box];"]
    for source in dag.all_sources:
        lines.append(f'  "{source}" [shape=ellipse, style=filled, fillcolor=lightgrey];')
    for name in dag.order:
        m = dag.models[name]
        lines.append(f'  "{name}" [label="{name}\\n{m.materialized}"];')
    for name in dag.order:
        for up in (*dag.sources[name], *dag.upstream[name]):
            lines.append(f'  "{up}" -> "{name}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


__all__ = [
    "Dag",
    "build_dag",
    "did_you_mean",
    "find_cycle",
    "select",
    "to_dot",
    "to_text",
    "topological_order",
]
