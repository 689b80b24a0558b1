"""The DAG layout: columns follow the longest path, edges run left to right, boxes never overlap,
and the crossing reduction never makes things worse (checked against brute-force references)."""

from __future__ import annotations

import re
from itertools import combinations, pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from features.site.layout import GAP_Y, count_crossings, layout, order_columns


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 14) -> tuple[list[str], list[tuple[str, str]]]:
    """A random DAG: edges only from a lower to a higher index, nodes handed over in shuffled order."""
    n = draw(st.integers(1, max_nodes))
    names = [f"m{i}" for i in range(n)]
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = (
        draw(st.lists(st.sampled_from(pairs), unique=True, max_size=min(len(pairs), 3 * n))) if pairs else []
    )
    order = draw(st.permutations(names))
    return list(order), [(names[i], names[j]) for i, j in chosen]


def fixpoint_layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Longest path by repeated relaxation (a different algorithm from the layout's memoised DFS)."""
    layer = dict.fromkeys(nodes, 0)
    for _ in nodes:
        for s, t in edges:
            layer[t] = max(layer[t], layer[s] + 1)
    return layer


def brute_crossings(upper: list[str], lower: list[str], edges: list[tuple[str, str]]) -> int:
    """Pairs of edges whose ends are in opposite orders (every pair looked at)."""
    pu, pl = {n: i for i, n in enumerate(upper)}, {n: i for i, n in enumerate(lower)}
    segs = [(pu[s], pl[t]) for s, t in edges if s in pu and t in pl]
    return sum(1 for (a, b), (c, d) in combinations(segs, 2) if (a - c) * (b - d) < 0)


@settings(max_examples=150, deadline=None)
@given(dags())
def test_columns_follow_the_longest_path_and_edges_run_left_to_right(dag) -> None:
    nodes, edges = dag
    lay = layout(nodes, edges)
    expected = fixpoint_layers(nodes, edges)
    assert {n: b.layer for n, b in lay.boxes.items()} == expected
    for s, t in edges:
        assert lay.boxes[s].x + lay.boxes[s].w < lay.boxes[t].x


@settings(max_examples=150, deadline=None)
@given(dags())
def test_boxes_in_a_column_never_overlap(dag) -> None:
    nodes, edges = dag
    lay = layout(nodes, edges)
    by_layer: dict[int, list] = {}
    for b in lay.boxes.values():
        by_layer.setdefault(b.layer, []).append(b)
        assert b.y >= -1e-6 and b.y + b.h <= lay.height + 1e-6
    for boxes in by_layer.values():
        boxes.sort(key=lambda b: b.y)
        for a, b in pairwise(boxes):
            assert b.y - (a.y + a.h) >= GAP_Y - 1e-6


@settings(max_examples=100, deadline=None)
@given(dags())
def test_every_edge_is_drawn_from_the_source_side_to_the_target_side(dag) -> None:
    nodes, edges = dag
    lay = layout(nodes, edges)
    assert sorted((r.source, r.target) for r in lay.routes) == sorted(edges)
    for r in lay.routes:
        numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", r.d)]
        s, t = lay.boxes[r.source], lay.boxes[r.target]
        assert numbers[:2] == [round(s.x + s.w, 1), round(s.y + s.h / 2, 1)]
        assert numbers[-2:] == [round(t.x, 1), round(t.y + t.h / 2, 1)]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 7).flatmap(
        lambda n: st.tuples(
            st.just([f"u{i}" for i in range(n)]),
            st.permutations([f"l{i}" for i in range(n)]),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), unique=True, max_size=12),
        )
    )
)
def test_crossing_count_matches_brute_force_and_reordering_never_adds_crossings(case) -> None:
    upper, lower, pairs = case
    edges = [(upper[i], lower[j]) for i, j in pairs]
    down = {n: [t for s, t in edges if s == n] for n in upper}
    assert count_crossings(upper, list(lower), down) == brute_crossings(upper, list(lower), edges)
    up = {n: [s for s, t in edges if t == n] for n in lower}
    neighbours_down = {**down, **{n: [] for n in lower}}
    neighbours_up = {**up, **{n: [] for n in upper}}
    best, crossings = order_columns([list(upper), list(lower)], neighbours_down, neighbours_up)
    assert sorted(best[0]) == sorted(upper) and sorted(best[1]) == sorted(lower)
    assert crossings == brute_crossings(best[0], best[1], edges)
    assert crossings <= brute_crossings(upper, list(lower), edges)


def test_a_crossing_that_reordering_removes_is_removed() -> None:
    # a feeds d, b feeds c, handed over as columns [a, b] and [c, d]: one crossing until c and d swap
    lay = layout(["a", "b", "c", "d"], [("a", "d"), ("b", "c")])
    assert lay.crossings == 0
    assert (lay.boxes["a"].y < lay.boxes["b"].y) == (lay.boxes["d"].y < lay.boxes["c"].y)


def test_an_edge_spanning_columns_is_routed_through_each_column() -> None:
    # a -> b -> c and a -> c: the long edge passes column 1 as a horizontal run (an `H` segment)
    lay = layout(["a", "b", "c"], [("a", "b"), ("b", "c"), ("a", "c")])
    long = next(r for r in lay.routes if (r.source, r.target) == ("a", "c"))
    assert long.d.count("H") == 1
    assert all(r.d.count("H") == 0 for r in lay.routes if r is not long)
