"""A layered left-to-right layout of the model graph, computed in Python (the page only draws it).

    layer     longest-path layering: a node sits one column right of its furthest upstream
    dummies   an edge that spans several columns gets a waypoint in each column it crosses
    order     barycentric sweeps (down and up) reduce edge crossings; the best ordering is kept
    place     y positions: as close to the neighbours' mean as the order and spacing allow
              (isotonic regression by pool-adjacent-violators), so edges run nearly straight
    route     one SVG path per edge, horizontal Bézier curves between columns

The result is plain data (boxes and path strings) that the site embeds in ``dag.html``.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NODE_H = 30.0  # px, a node box
DUMMY_H = 6.0  # px, the slot a passing edge takes in a column
GAP_Y = 14.0  # px between boxes in a column
GAP_X = 90.0  # px between columns (room for the curves)
CHAR_W = 7.6  # px per label character at the page's 13px font (generous: labels never overflow)
PAD_X = 28.0  # px of box padding around a label (incl. the kind stripe)
MIN_W = 90.0
SWEEPS = 12  # barycentric passes (alternating down / up)


@dataclass(frozen=True)
class Box:
    """One node: its top-left corner, size and column."""

    id: str
    x: float
    y: float
    w: float
    h: float
    layer: int


@dataclass(frozen=True)
class Route:
    """One edge drawn as an SVG path from ``source``'s right side to ``target``'s left side."""

    source: str
    target: str
    d: str


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    boxes: dict[str, Box]
    routes: list[Route]
    crossings: int


def longest_path_layers(nodes: Sequence[str], upstream: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Column of every node: 0 without upstreams, else one more than its furthest upstream."""
    layer: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(node: str) -> int:
        if node in layer:
            return layer[node]
        if node in visiting:
            raise ValueError(f"cycle through `{node}`")
        visiting.add(node)
        ups = [u for u in upstream.get(node, ()) if u != node]
        layer[node] = 1 + max((visit(u) for u in ups), default=-1)
        visiting.discard(node)
        return layer[node]

    for n in nodes:
        visit(n)
    return layer


def _with_dummies(
    nodes: Sequence[str], edges: Sequence[tuple[str, str]], layer: dict[str, int]
) -> tuple[list[list[str]], dict[str, list[str]], dict[str, list[str]], dict[tuple[str, str], list[str]]]:
    """Columns (initial order: ``nodes`` order), proper edges between adjacent columns, and each
    original edge's chain of waypoint ids."""
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for n in nodes:
        columns[layer[n]].append(n)
    down: dict[str, list[str]] = {n: [] for n in nodes}
    up: dict[str, list[str]] = {n: [] for n in nodes}
    chains: dict[tuple[str, str], list[str]] = {}
    for s, t in edges:
        chain = []
        prev = s
        for k in range(layer[s] + 1, layer[t]):
            dummy = f"\x00{s}\x00{t}\x00{k}"
            columns[k].append(dummy)
            down[dummy], up[dummy] = [], []
            down[prev].append(dummy)
            up[dummy].append(prev)
            chain.append(dummy)
            prev = dummy
        down[prev].append(t)
        up[t].append(prev)
        chains[(s, t)] = chain
    return columns, down, up, chains


def count_crossings(upper: Sequence[str], lower: Sequence[str], down: Mapping[str, Sequence[str]]) -> int:
    """Crossings of the edges between two adjacent columns: inversions of the lower endpoints
    when edges are sorted by (upper position, lower position); O(E log E)."""
    pos = {n: i for i, n in enumerate(lower)}
    ends = sorted((i, pos[t]) for i, n in enumerate(upper) for t in down.get(n, ()) if t in pos)
    seen: list[int] = []
    total = 0
    for _, j in ends:
        # edges already seen (earlier upper end, or same upper end) ending strictly right of j cross it
        total += len(seen) - bisect.bisect_right(seen, j)
        bisect.insort(seen, j)
    return total


def total_crossings(columns: Sequence[Sequence[str]], down: Mapping[str, Sequence[str]]) -> int:
    return sum(count_crossings(columns[k], columns[k + 1], down) for k in range(len(columns) - 1))


def _barycentric_pass(columns: list[list[str]], neighbours: Mapping[str, Sequence[str]], ks: range) -> None:
    """Reorder each column ``k`` in ``ks`` by the mean position of its neighbours in the column just
    visited; a node with no neighbour there keeps its place."""
    for k in ks:
        ref_k = k - ks.step
        ref = {n: i for i, n in enumerate(columns[ref_k])}
        keyed = []
        for i, n in enumerate(columns[k]):
            ps = [ref[m] for m in neighbours[n] if m in ref]
            keyed.append((sum(ps) / len(ps) if ps else float(i), i, n))
        columns[k] = [n for _, _, n in sorted(keyed)]


def order_columns(
    columns: list[list[str]], down: Mapping[str, Sequence[str]], up: Mapping[str, Sequence[str]]
) -> tuple[list[list[str]], int]:
    """Barycentric sweeps; returns the ordering with the fewest crossings seen and that count."""
    best = [list(c) for c in columns]
    best_x = total_crossings(best, down)
    current = [list(c) for c in columns]
    n = len(current)
    for sweep in range(SWEEPS):
        if best_x == 0 or n < 2:
            break
        if sweep % 2 == 0:
            _barycentric_pass(current, up, range(1, n, 1))
        else:
            _barycentric_pass(current, down, range(n - 2, -1, -1))
        crossings = total_crossings(current, down)
        if crossings < best_x:
            best, best_x = [list(c) for c in current], crossings
    return best, best_x


def _isotonic(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """Weighted least-squares non-decreasing fit (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for mean, _, count in blocks:
        out.extend([mean] * int(count))
    return out


def _place_column(
    column: Sequence[str], desired: Sequence[float], heights: Mapping[str, float]
) -> list[float]:
    """Centre y of each node: nearest to ``desired`` keeping the order and the spacing."""
    offsets = [0.0]
    for a, b in itertools.pairwise(column):
        offsets.append(offsets[-1] + heights[a] / 2 + GAP_Y + heights[b] / 2)
    weights = [3.0 if not n.startswith("\x00") else 1.0 for n in column]  # real nodes pull harder
    fitted = _isotonic([d - o for d, o in zip(desired, offsets, strict=True)], weights)
    return [f + o for f, o in zip(fitted, offsets, strict=True)]


def _place(
    columns: Sequence[Sequence[str]],
    down: Mapping[str, Sequence[str]],
    up: Mapping[str, Sequence[str]],
    heights: Mapping[str, float],
) -> dict[str, float]:
    """Centre y of every node: stacked first, then relaxed towards the neighbours' mean."""
    y: dict[str, float] = {}
    for column in columns:
        cursor = 0.0
        for n in column:
            y[n] = cursor + heights[n] / 2
            cursor += heights[n] + GAP_Y
    for sweep in range(8):
        ks = range(1, len(columns)) if sweep % 2 == 0 else range(len(columns) - 2, -1, -1)
        for k in ks:
            column = columns[k]
            desired = []
            for n in column:
                ns = [*up[n], *down[n]]
                desired.append(sum(y[m] for m in ns) / len(ns) if ns else y[n])
            for n, v in zip(column, _place_column(column, desired, heights), strict=True):
                y[n] = v
    top = min((y[n] - heights[n] / 2 for c in columns for n in c), default=0.0)
    return {n: v - top for n, v in y.items()}


def _curve(x0: float, y0: float, x1: float, y1: float) -> str:
    mid = (x0 + x1) / 2
    return f"C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"


def layout(
    nodes: Sequence[str],
    edges: Sequence[tuple[str, str]],
    labels: Mapping[str, str] | None = None,
) -> Layout:
    """Lay out a DAG given as nodes (initial order) and (upstream, downstream) edges."""
    labels = labels or {}
    upstream: dict[str, list[str]] = {n: [] for n in nodes}
    for s, t in edges:
        upstream[t].append(s)
    layer = longest_path_layers(nodes, upstream)
    columns, down, up, chains = _with_dummies(nodes, edges, layer)
    columns, crossings = order_columns(columns, down, up)
    width_of = {n: max(MIN_W, PAD_X + CHAR_W * len(labels.get(n, n))) for n in nodes}
    col_w = [max((width_of[n] for n in c if n in width_of), default=MIN_W) for c in columns]
    col_x = [sum(col_w[:k]) + GAP_X * k for k in range(len(columns))]
    heights = {n: (DUMMY_H if n.startswith("\x00") else NODE_H) for c in columns for n in c}
    y = _place(columns, down, up, heights)
    boxes = {n: Box(n, col_x[layer[n]], y[n] - NODE_H / 2, width_of[n], NODE_H, layer[n]) for n in nodes}
    routes = []
    for s, t in edges:
        b = boxes[s]
        x, yy = b.x + b.w, y[s]
        d = f"M{x:.1f},{yy:.1f}"
        for dummy in chains[(s, t)]:
            k = int(dummy.rsplit("\x00", 1)[1])
            d += _curve(x, yy, col_x[k], y[dummy]) + f"H{col_x[k] + col_w[k]:.1f}"
            x, yy = col_x[k] + col_w[k], y[dummy]
        d += _curve(x, yy, boxes[t].x, y[t])
        routes.append(Route(s, t, d))
    width = (col_x[-1] + col_w[-1]) if columns else 0.0
    height = max((y[n] + heights[n] / 2 for c in columns for n in c), default=0.0)
    return Layout(width, height, boxes, routes, crossings)


__all__ = ["Box", "Layout", "Route", "count_crossings", "layout", "longest_path_layers", "order_columns"]
