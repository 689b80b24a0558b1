"""Shared fixtures: tiny real projects in temporary folders, never the repo's own warehouse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def shipped_symbols() -> dict:
    return json.loads((REPO / "config" / "symbols.json").read_text())


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """A project folder with the shipped config/symbols.json and no mapping yet."""
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "symbols.json", root / "config" / "symbols.json")
    (root / "config" / "project.toml").write_text('[paths]\nwarehouse = "data/warehouse.duckdb"\n')
    (root / "sql").mkdir()
    return root
