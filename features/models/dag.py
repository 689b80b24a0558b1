"""The model graph: edges from table references, topological order, cycles and selection.

Selection specs (several may be given; the result is their union, built in topological order):

    name        that model
    +name       it and every ancestor model
    name+       it and every descendant model
    +name+      both
    tag:x       every model tagged x (``+tag:x`` / ``tag:x+`` widen it the same way)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
        return _closure(name, self.upstream)

    def descendants(self, name: str) -> set[str]:
        return _closure(name, self.downstream())

    @property
    def all_sources(self) -> tuple[str, ...]:
        return tuple(sorted({s for srcs in self.sources.values() for s in srcs}))


def _closure(start: str, edges: dict[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return seen


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


def select(dag: Dag, specs: Sequence[str]) -> tuple[str, ...]:
    """The models named by selection ``specs`` (all when empty), in topological order."""
    if not specs:
        return dag.order
    chosen: set[str] = set()
    for raw in specs:
        for spec in raw.split():
            chosen |= _select_one(dag, spec)
    return tuple(n for n in dag.order if n in chosen)


def _select_one(dag: Dag, spec: str) -> set[str]:
    up, down = spec.startswith("+"), spec.endswith("+")
    core = spec.strip("+")
    if core.startswith("tag:"):
        tag = core[4:]
        base = {n for n, m in dag.models.items() if tag in m.header.tags}
        if not base:
            tags = {t for m in dag.models.values() for t in m.header.tags}
            raise ConfigError(f"--select {spec}: no model is tagged `{tag}`{did_you_mean(tag, tags)}")
    else:
        if core not in dag.models:
            raise ConfigError(f"--select {spec}: no model named `{core}`{did_you_mean(core, dag.models)}")
        base = {core}
    out = set(base)
    for name in base:
        if up:
            out |= dag.ancestors(name)
        if down:
            out |= dag.descendants(name)
    return out


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
