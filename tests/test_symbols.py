"""The symbol universe is parsed once per content: a build reads symbols.json in several steps, and an
edit (even one within the same timestamp tick, of the same size) is never answered from a stale parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import features.symbols
from features.build import run_build
from features.config import load_project
from features.symbols import load_universe

POOL = [f"S{n:02d}" for n in range(12)]
SUBS = ("Technology", "Finance")


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The path of every real parse of a symbols file (calls of parse_universe) from now on."""
    seen: list[Path] = []
    real = features.symbols.parse_universe

    def counting(data: object, **kwargs):
        seen.append(kwargs["path"])
        return real(data, **kwargs)

    monkeypatch.setattr(features.symbols, "parse_universe", counting)
    return seen


def test_same_bytes_are_parsed_once_and_give_the_same_universe(tmp_path: Path, parses: list[Path]) -> None:
    path = tmp_path / "symbols.json"
    path.write_text(json.dumps({"sectors": {"Technology": ["AAPL", "MSFT"]}}))
    first = load_universe(path)
    path.write_text(json.dumps({"sectors": {"Technology": ["AAPL", "MSFT"]}}))  # rewritten, same bytes
    assert load_universe(path) is first
    assert load_universe(str(path)) is first
    assert parses == [path]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.dictionaries(st.sampled_from(POOL), st.sampled_from(SUBS), min_size=1), min_size=1))
def test_every_edit_is_seen_at_once(tmp_path: Path, edits: list[dict[str, str]]) -> None:
    """Edits back to back (same folder, often the same size, within one mtime tick) are never stale."""
    path = tmp_path / "symbols.json"
    for assign in edits:
        groups: dict[str, list[str]] = {}
        for symbol, sub in sorted(assign.items()):
            groups.setdefault(sub, []).append(symbol)
        path.write_text(json.dumps({"sectors": groups}))
        universe = load_universe(path)
        assert {(s.symbol, s.subcategory) for s in universe.symbols} == set(assign.items())
        assert universe.path == path


def test_a_build_parses_symbols_json_once(tmp_path: Path, parses: list[Path]) -> None:
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    (root / "sql").mkdir()
    symbols = {"sectors": {"Technology": ["AAPL", "MSFT"]}, "etfs": {"Market": ["SPY"]}}
    (root / "config" / "symbols.json").write_text(json.dumps(symbols))
    (root / "config" / "project.toml").write_text("[synthetic]\nyears = 0.2\n")
    run_build(load_project(root), quiet=True)
    assert [p.resolve() for p in parses] == [(root / "config" / "symbols.json").resolve()]
