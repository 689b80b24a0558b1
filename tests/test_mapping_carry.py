"""carry_rows: a run's embedding rows move to another mapping through symbols (symbol → old row →
new row), never by position, and only when both mappings give every shared symbol the same ID."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.errors import MappingError
from features.mapping import carry_rows, plan_sync
from features.symbols import parse_universe

POOL = [f"S{n:02d}" for n in range(16)]
universes = st.sets(st.sampled_from(POOL), min_size=1, max_size=10)


def _universe(symbols: set[str]):
    return parse_universe({"sectors": {"All": sorted(symbols)}}, path=Path("symbols.json"))


def _grown(steps: list[set[str]]):
    mapping = None
    versions = []
    for symbols in steps:
        mapping = plan_sync(mapping, _universe(symbols), now="2026-01-01T00:00:00Z").mapping
        versions.append(mapping)
    return versions


def _table(symbol_to_id: dict[str, int], dim: int = 3) -> np.ndarray:
    """An embedding table whose row for each symbol is a value only that symbol has."""
    table = np.full((max(symbol_to_id.values()) + 1, dim), np.nan)
    for symbol, row in symbol_to_id.items():
        table[row] = [int(symbol[1:]), 100 + int(symbol[1:]), -int(symbol[1:])]
    return table


def _carried(old: dict[str, int], carry) -> np.ndarray:
    new = np.full((carry.num_embeddings, 3), np.inf)
    new[carry.new_rows] = _table(old)[carry.old_rows]
    return new


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(universes, min_size=2, max_size=6), data=st.data())
def test_rows_follow_their_symbols_across_syncs(steps, data) -> None:
    versions = _grown(steps)
    old = versions[data.draw(st.integers(0, len(versions) - 1))]
    new = versions[data.draw(st.integers(0, len(versions) - 1))]
    carry = carry_rows(old.symbol_to_id, new)
    expected = _table(old.symbol_to_id)
    carried = _carried(old.symbol_to_id, carry)
    for symbol, row in new.symbol_to_id.items():
        if symbol in old.symbol_to_id:
            assert np.array_equal(carried[row], expected[old.symbol_to_id[symbol]])  # its own row
    assert {s for s, _ in carry.initialise} == set(new.symbol_to_id) - set(old.symbol_to_id)
    assert {s for s, _ in carry.dropped} == set(old.symbol_to_id) - set(new.symbol_to_id)
    assert carry.num_embeddings == new.num_embeddings
    assert sorted([r for _, _, r in carry.moves] + [r for _, r in carry.initialise]) == list(
        range(new.num_embeddings)
    )  # every target row is either carried or initialised, once


@settings(max_examples=150, deadline=None)
@given(symbols=st.sets(st.sampled_from(POOL), min_size=2, max_size=12), data=st.data())
def test_a_renumbered_mapping_is_refused_naming_every_moved_symbol(symbols, data) -> None:
    old = {s: n for n, s in enumerate(sorted(symbols))}
    order = data.draw(st.permutations(sorted(symbols)))
    new = {s: n for n, s in enumerate(order)}
    moved = sorted(s for s in symbols if old[s] != new[s])
    if not moved:
        assert carry_rows(old, new).dropped == ()
        return
    with pytest.raises(MappingError) as info:
        carry_rows(old, new)
    assert list(info.value.symbols) == moved
    assert moved[0] in info.value.message


def test_the_issues_renumbering_is_refused() -> None:
    """A file deleted and numbered again from scratch: AAA=0, AAPL=1, … (issue 12 item 2)."""
    trained = {"AAPL": 0, "AAVEUSD": 1, "ABBV": 2, "AMD": 3}
    renumbered = {"AAA": 0, "AAPL": 1, "AAVEUSD": 2, "ABBV": 3, "AMD": 4}
    with pytest.raises(MappingError) as info:
        carry_rows(trained, renumbered)
    assert info.value.symbols == ("AAPL", "AAVEUSD", "ABBV", "AMD")
    assert "AAPL (0 → 1)" in info.value.message


def test_a_reused_id_is_not_carried_to_its_new_symbol() -> None:
    """After versions were discarded on purpose, ID 4 may belong to NVDA where the run had AMD:
    through symbols, AMD's row is dropped and NVDA starts fresh."""
    trained = {"A": 0, "B": 1, "C": 2, "D": 3, "AMD": 4}
    now = {"A": 0, "B": 1, "C": 2, "D": 3, "NVDA": 4}
    carry = carry_rows(trained, now)
    assert carry.initialise == (("NVDA", 4),) and carry.dropped == (("AMD", 4),)
    assert 4 not in carry.new_rows


@pytest.mark.parametrize(
    ("table", "words"),
    [({"A": 0, "B": 0}, "row 0 to both A and B"), ({"A": -1}, "non-negative"), ({"A": 1.0}, "non-negative")],
)
def test_a_table_that_is_not_a_mapping_is_refused(table: dict, words: str) -> None:
    with pytest.raises(MappingError, match=words):
        carry_rows(table, {"A": 0})
    with pytest.raises(MappingError, match=words):
        carry_rows({"A": 0}, table)
