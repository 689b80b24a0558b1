"""The model graph: topological order, selection syntax, cycles, text and dot output."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.config import load_project
from features.errors import ConfigError
from features.models.dag import build_dag, find_cycle, select, to_dot, to_text
from features.models.discovery import discover


@pytest.fixture
def dag(mini: Path):
    return build_dag(discover(load_project(mini)).models)


def test_topological_order_and_edges(dag) -> None:
    assert dag.order == ("stg", "ema", "feat", "asset_counts", "feat2", "label", "dataset")
    assert dag.upstream["dataset"] == ("feat", "feat2", "label")
    assert dag.sources["stg"] == ("prices",)
    assert dag.upstream["ema"] == ("stg",)  # python parameter names its upstream


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ((), ("stg", "ema", "feat", "asset_counts", "feat2", "label", "dataset")),
        (("feat",), ("feat",)),
        (("+feat2",), ("stg", "feat", "feat2")),
        (("feat2+",), ("feat2", "dataset")),
        (("+label+",), ("stg", "label", "dataset")),
        (("tag:features",), ("ema", "feat", "feat2")),
        (("tag:labels+", "asset_counts"), ("asset_counts", "label", "dataset")),
        (("ema feat",), ("ema", "feat")),
    ],
)
def test_selection(dag, specs, expected) -> None:
    assert select(dag, specs) == expected


def test_selection_of_unknown_names_suggests(dag) -> None:
    with pytest.raises(ConfigError, match=r"no model named `feet` \(did you mean `feat`\?\)"):
        select(dag, ["feet+"])
    with pytest.raises(ConfigError, match="no model is tagged `label`"):
        select(dag, ["tag:label"])


def test_find_cycle_follows_data_flow() -> None:
    # edges point upstream: a reads c, b reads a, c reads b  ->  a feeds b feeds c feeds a
    assert find_cycle({"a": ("c",), "b": ("a",), "c": ("b",)}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ("a",)}) == ["a", "a"]
    assert find_cycle({"a": (), "b": ("a",)}) is None


def test_text_and_dot(dag) -> None:
    text = to_text(dag)
    assert "dataset [incremental] <- feat, feat2, label\n" in text
    assert "stg [table] <- prices (source)\n" in text
    assert "ema [python incremental] <- stg\n" in text
    dot = to_dot(dag)
    assert dot.startswith("digraph fstore {")
    assert '"prices" [shape=ellipse' in dot
    assert '"feat" -> "feat2";' in dot
