"""Fixtures for the model-engine tests: a copy of the miniature project and its price source."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from features.config import Project, load_project
from features.models.dag import Dag
from features.models.discovery import discover
from features.models.runner import BuildResult, build_models
from features.models.state import relations
from features.models.validate import validate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "projects"
START = date(2024, 1, 1)


def price_rows(day: int) -> list[tuple[int, date, float]]:
    """Rows of trading day ``day`` (0-based): asset 2 lists from day 3, asset 1 skips day 5.

    Closes are whole numbers so every feature is exact whatever the summation order.
    """
    rows = []
    for asset in (0, 1, 2):
        if (asset == 2 and day < 3) or (asset == 1 and day == 5):
            continue
        close = 100 + (day * 7 + asset * 13) % 17 - asset
        rows.append((asset, START + timedelta(days=day), float(close)))
    return rows


def add_prices(con: duckdb.DuckDBPyConnection, days: range) -> None:
    con.execute("create table if not exists prices (asset_id integer, ts date, close double)")
    con.executemany("insert into prices values (?, ?, ?)", [r for d in days for r in price_rows(d)])


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    """A fresh copy of tests/fixtures/projects/mini."""
    root = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", root)
    return root


def load_dag(project: Project, con: duckdb.DuckDBPyConnection) -> Dag:
    return validate(discover(project), relations(con))


@pytest.fixture
def build(mini: Path) -> Callable[..., BuildResult]:
    """build(con, select=(), full_refresh=False, raise_on_failure=True) on the mini project."""

    def run(con: duckdb.DuckDBPyConnection, **kwargs: object) -> BuildResult:
        project = load_project(mini)
        return build_models(con, project, load_dag(project, con), **kwargs)  # type: ignore[arg-type]

    return run


def table(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    """Every row of ``name``, sorted, for exact comparisons."""
    return sorted(con.execute(f"select * from {name}").fetchall(), key=repr)
