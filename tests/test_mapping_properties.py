"""Property: over any sequence of config edits and syncs, no ID changes and none is reused."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from features.mapping import load_mapping, plan_sync
from features.symbols import parse_universe

POOL = [f"S{n:02d}" for n in range(30)]
SUBS = ["A", "B", "C"]

universe_strategy = st.dictionaries(st.sampled_from(POOL), st.sampled_from(SUBS), min_size=1, max_size=20)


def _universe(assign: dict[str, str]):
    groups: dict[str, list[str]] = {}
    for symbol, sub in sorted(assign.items()):
        groups.setdefault(sub, []).append(symbol)
    return parse_universe({"sectors": groups}, path=Path("symbols.json"))


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(universe_strategy, min_size=1, max_size=8))
def test_ids_are_stable_and_never_reused(tmp_path_factory, steps) -> None:
    issued: dict[str, int] = {}  # every ID ever handed out, by symbol
    mapping = None
    versions: list[str] = []
    for assign in steps:
        universe = _universe(assign)
        plan = plan_sync(mapping, universe, now="2026-01-01T00:00:00Z")
        if not plan.changed_anything:
            assert plan.new_version == mapping.version  # a no-op sync creates no version
            continue
        mapping = plan.mapping
        versions.append(mapping.version)
        table = mapping.symbol_to_id
        for symbol, asset_id in issued.items():
            assert table[symbol] == asset_id  # never changed, retired ones included
        assert sorted(table.values()) == list(range(len(table)))  # contiguous, so never reused
        assert len(set(table.values())) == len(table)
        issued.update(table)
        assert set(mapping.active_symbols) == set(assign)  # exactly the config's symbols are active
        assert mapping.num_embeddings == max(table.values()) + 1
    # the history alone reproduces the final state, and every version is a minor bump of 1.x
    if mapping is not None:
        path = tmp_path_factory.mktemp("m") / "asset_id_mapping.json"
        mapping.save(path)
        assert load_mapping(path).symbol_to_id == mapping.symbol_to_id
        assert versions == [f"1.{n}" for n in range(len(versions))]


def test_regenerate_is_a_new_major_version_sorted_from_scratch() -> None:
    first = plan_sync(None, _universe({"B": "A", "A": "A"})).mapping
    grown = plan_sync(first, _universe({"B": "A", "A": "A", "AA": "B"})).mapping
    assert grown.symbol_to_id == {"A": 0, "B": 1, "AA": 2} and grown.version == "1.1"
    regen = plan_sync(grown, _universe({"B": "A", "A": "A", "AA": "B"}), regenerate=True)
    assert regen.new_version == "2.0"
    assert regen.mapping.symbol_to_id == {"A": 0, "AA": 1, "B": 2}
    assert ("AA", 2, 1) in regen.moved
    assert regen.mapping.at_version("1.1").symbol_to_id == grown.symbol_to_id
