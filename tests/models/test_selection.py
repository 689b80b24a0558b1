"""dbt-style selection: several values, --exclude, path:, depth-limited graph operators, @, a,b.

The graph operators are checked on random DAGs against reachability computed independently, from
powers of the adjacency matrix (numpy), not from the traversal the selector uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.config import load_project
from features.errors import ConfigError
from features.models.dag import Dag, build_dag, select, topological_order
from features.models.discovery import Model, discover
from features.models.headers import Header

FOLDERS = ("sql/staging", "sql/marts", "sql/marts/extra", "models")


def _dag(n: int, edges: list[tuple[int, int]], tags: list[str], folders: list[int]) -> Dag:
    """Models m0..m{n-1}; (i, j) means m_i feeds m_j (i < j); each model one tag and one folder."""
    names = [f"m{i}" for i in range(n)]
    models = {
        name: Model(
            name=name,
            kind="sql",
            file=f"{FOLDERS[folders[i]]}/{name}.sql",
            header=Header(tags=(tags[i],)),
            refs=(),
            code_hash="",
        )
        for i, name in enumerate(names)
    }
    upstream = {name: tuple(sorted({names[i] for i, j in edges if j == k})) for k, name in enumerate(names)}
    return Dag(models, upstream, {name: () for name in names}, topological_order(names, upstream))


def _reach(adjacency: np.ndarray, depth: int | None) -> np.ndarray:
    """reach[i, j]: a path of 1..depth edges leads from i to j (depth None: any length)."""
    n = adjacency.shape[0]
    steps = n if depth is None else depth
    power = np.eye(n, dtype=np.int64)
    total = np.zeros((n, n), dtype=np.int64)
    for _ in range(steps):
        power = np.minimum(power @ adjacency, 1)
        total += power
    return total > 0


@st.composite
def graphs(draw: st.DrawFn) -> tuple[Dag, np.ndarray]:
    n = draw(st.integers(1, 8))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = [p for p in pairs if draw(st.booleans())]
    tags = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    folders = draw(st.lists(st.integers(0, len(FOLDERS) - 1), min_size=n, max_size=n))
    adjacency = np.zeros((n, n), dtype=np.int64)
    for i, j in edges:
        adjacency[i, j] = 1
    return _dag(n, edges, tags, folders), adjacency


def _names(dag: Dag, indices: np.ndarray | set[int]) -> tuple[str, ...]:
    chosen = {f"m{i}" for i in (np.flatnonzero(indices) if isinstance(indices, np.ndarray) else indices)}
    return tuple(n for n in dag.order if n in chosen)


depths = st.one_of(st.none(), st.integers(0, 4))


@settings(max_examples=200, deadline=None)
@given(graphs(), st.data(), depths, depths, st.booleans(), st.booleans())
def test_graph_operators_match_reachability(graph, data, up, down, with_up, with_down) -> None:
    dag, adjacency = graph
    n = adjacency.shape[0]
    x = data.draw(st.integers(0, n - 1))
    spec = f"m{x}"
    expected = np.zeros(n, dtype=bool)
    expected[x] = True
    if with_up:
        spec = ("" if up is None else str(up)) + "+" + spec
        expected |= _reach(adjacency, up)[:, x]
    if with_down:
        spec = spec + "+" + ("" if down is None else str(down))
        expected |= _reach(adjacency, down)[x, :]
    assert select(dag, [spec]) == _names(dag, expected)


@settings(max_examples=100, deadline=None)
@given(graphs(), st.data())
def test_at_takes_descendants_and_all_their_ancestors(graph, data) -> None:
    dag, adjacency = graph
    n = adjacency.shape[0]
    x = data.draw(st.integers(0, n - 1))
    reach = _reach(adjacency, None)
    family = reach[x, :].copy()
    family[x] = True
    expected = family | reach[:, family].any(axis=1)
    assert select(dag, [f"@m{x}"]) == _names(dag, expected)


@settings(max_examples=100, deadline=None)
@given(graphs(), st.data())
def test_union_intersection_and_exclude_are_set_algebra(graph, data) -> None:
    dag, _adjacency = graph
    n = len(dag.models)
    specs = st.sampled_from(
        [f"m{i}" for i in range(n)] + [f"+m{i}" for i in range(n)] + [f"m{i}+" for i in range(n)]
    )
    a, b, c = data.draw(specs), data.draw(specs), data.draw(specs)
    one = lambda spec: set(select(dag, [spec]))  # noqa: E731
    order = lambda names: tuple(m for m in dag.order if m in names)  # noqa: E731
    assert select(dag, [a, b]) == order(one(a) | one(b))
    assert select(dag, [f"{a} {b}"]) == select(dag, [a, b])
    assert select(dag, [f"{a},{b}"]) == order(one(a) & one(b))
    assert select(dag, [a, b], [c]) == order((one(a) | one(b)) - one(c))
    assert select(dag, [], [c]) == order(set(dag.order) - one(c))


@settings(max_examples=100, deadline=None)
@given(graphs(), st.sampled_from(["sql", "sql/marts", "sql/marts/", "./sql/marts/extra", "models"]))
def test_path_takes_models_under_a_folder(graph, folder) -> None:
    dag, _adjacency = graph
    want = Path(folder.strip("./")).parts
    expected = {n for n, m in dag.models.items() if Path(m.file).parts[: len(want)] == want}
    if not expected:
        with pytest.raises(ConfigError, match="no model file is under"):
            select(dag, [f"path:{folder}"])
        return
    assert set(select(dag, [f"path:{folder}"])) == expected


# --------------------------------------------------------------------------- on the mini project


@pytest.fixture
def mini_dag(mini: Path) -> Dag:
    return build_dag(discover(load_project(mini)).models)


def test_path_selects_sql_folders_and_python_files(mini_dag: Dag, mini: Path) -> None:
    assert select(mini_dag, ["path:sql/staging"]) == ("stg",)
    assert select(mini_dag, ["path:models/ema.py"]) == ("ema",)
    assert select(mini_dag, [f"path:{mini / 'sql' / 'marts'}"]) == select(mini_dag, ["path:sql/marts"])
    assert "stg" not in select(mini_dag, ["path:sql/marts"])


@pytest.mark.parametrize(
    ("specs", "exclude", "message"),
    [
        (["feet"], [], r"--select feet: no model named `feet` \(did you mean `feat`\?\)"),
        (["feat"], ["tag:nope"], "--exclude tag:nope: no model is tagged `nope`"),
        (["path:sql/nowhere"], [], "no model file is under `sql/nowhere`"),
        (["kind:sql"], [], "unknown selector method `kind:`"),
        (["@feat+"], [], "not a selector"),
        (["fe+at"], [], "not a selector"),
    ],
)
def test_bad_selectors_name_the_flag_and_what_is_wrong(mini_dag: Dag, specs, exclude, message) -> None:
    with pytest.raises(ConfigError, match=message):
        select(mini_dag, specs, exclude)
