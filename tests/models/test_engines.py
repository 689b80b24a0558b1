"""The engine seam: a third engine, registered here and nowhere else, builds the default project.

``MemoryEngine`` is the minimal engine the seam allows: it keeps its relations in a separate in-memory
DuckDB database (not the warehouse), copies the sources in when a build starts, keeps no state (every
build is a full build, like Spark) and reuses the DuckDB engine's statements on its own connection.
Registered with one ``ENGINES`` entry (monkeypatched), it must build every model of the default
project through ``run_build(engine="memory")`` with the same rows as a normal build, while the
warehouse gets only the sources.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pytest

from features.build import run_build
from features.config import load_project
from features.engines import ENGINES
from features.engines.duckdb import DuckDBEngine
from features.errors import BuildError, ConfigError
from features.models.dag import Dag
from features.models.discovery import Model
from features.warehouse import connect, quote_ident
from tests.models.conftest import add_prices, load_dag, table

REPO = Path(__file__).resolve().parents[2]
ENGINES_BUILT: list[MemoryEngine] = []  # each build's engine, so the test can read its database


class MemoryEngine(DuckDBEngine):
    """Models in their own in-memory database; sources copied from the warehouse through Arrow."""

    name: ClassVar[str] = "memory"
    stateful: ClassVar[bool] = False
    in_warehouse: ClassVar[bool] = False

    def __init__(self, warehouse: duckdb.DuckDBPyConnection, project: Any, *, master: str | None = None):
        super().__init__(duckdb.connect(), project)
        self.warehouse = warehouse
        ENGINES_BUILT.append(self)

    def start(self, dag: Dag, names: Sequence[str]) -> list[str]:
        for source in sorted({s for n in names for s in dag.sources[n]}):
            frame = self.warehouse.sql(f"select * from {quote_ident(source)}").to_arrow_table()
            self.con.register("__copy", frame)
            self.con.execute(f"create table {quote_ident(source)} as select * from __copy")
            self.con.unregister("__copy")
        return list(names)


class RecordingEngine(DuckDBEngine):
    """The DuckDB engine, noting every call the build loop makes to it."""

    name: ClassVar[str] = "recording"
    calls: ClassVar[list[tuple[str, str]]] = []

    def create_view(self, model: Model) -> None:
        self.calls.append(("create_view", model.name))
        super().create_view(model)

    def create_table(self, model: Model) -> int:
        self.calls.append(("create_table", model.name))
        return super().create_table(model)

    def create_table_from_frame(self, model: Model, frame: Any) -> int:
        self.calls.append(("create_table_from_frame", model.name))
        return super().create_table_from_frame(model, frame)

    def refresh(self, model: Model, window: Any) -> Any:
        self.calls.append(("refresh", model.name))
        return super().refresh(model, window)

    def drop(self, name: str, kind: str) -> None:
        self.calls.append(("drop", name))
        super().drop(name, kind)

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        self.calls.append(("transaction", ""))
        return super().transaction()


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, type], None]:
    def register(name: str, cls: type) -> None:
        monkeypatch.setitem(ENGINES, name, f"{__name__}:{cls.__name__}")

    ENGINES_BUILT.clear()
    RecordingEngine.calls.clear()
    return register


@pytest.fixture
def default_project(tiny_project: Path) -> Path:
    """The tiny project with the shipped models (sql/, features/library) and half a year of prices."""
    (tiny_project / "config" / "project.toml").write_text(
        "[paths]\n"
        f'sql = "{REPO / "sql"}"\n'
        f'python_models = ["{REPO / "features" / "library"}"]\n'
        "[synthetic]\nyears = 0.5\n"
    )
    return tiny_project


def _rows(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple]:
    return sorted(con.execute(f"select * from {quote_ident(name)}").fetchall(), key=repr)


def _relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}


def test_a_third_engine_registered_in_one_line_builds_the_default_project(
    default_project: Path, registered: Callable[[str, type], None]
) -> None:
    registered("memory", MemoryEngine)
    project = load_project(default_project)
    result = run_build(project, quiet=True, engine="memory")
    engine = ENGINES_BUILT[-1]
    models = {r.model for r in result.runs}
    assert result.ok and set(result.built) == models >= {"stg_prices", "labels", "training_set"}
    assert len(result.tests) >= 20 and not result.failed_tests  # data tests ran on the engine
    warehouse = connect(project.warehouse_path, read_only=True)
    try:
        assert not models & _relations(warehouse)  # nothing built in the warehouse
        assert "build_runs" not in _relations(warehouse)  # a stateless engine logs nothing
    finally:
        warehouse.close()

    normal = run_build(project, quiet=True)
    assert set(normal.built) == models
    warehouse = connect(project.warehouse_path, read_only=True)
    try:
        for name in sorted(models):
            expected = _rows(warehouse, name)
            assert len(expected) > 0, name
            assert _rows(engine.con, name) == expected, f"{name} differs from a normal build"
    finally:
        warehouse.close()


def test_every_model_write_goes_through_the_engine_incremental_refresh_included(
    build: Callable[..., Any], mini: Path, registered: Callable[[str, type], None]
) -> None:
    from features.models.runner import build_models

    registered("recording", RecordingEngine)
    con = duckdb.connect()
    add_prices(con, range(6))
    project = load_project(mini)

    def run() -> Any:
        from features.engines import engine_class

        engine = engine_class("recording")(con, project)
        return build_models(con, project, load_dag(project, con), engine=engine)

    first = run()
    writes = {(call, name) for call, name in RecordingEngine.calls if call != "transaction"}
    kinds = {r.model: r.materialized for r in first.runs}
    assert {n for c, n in writes if c == "create_view"} == {n for n, m in kinds.items() if m == "view"}
    assert {n for c, n in writes if c in ("create_table", "create_table_from_frame")} == {
        n for n, m in kinds.items() if m != "view"
    }
    assert RecordingEngine.calls.count(("transaction", "")) == len(first.built)

    RecordingEngine.calls.clear()
    add_prices(con, range(6, 7))
    second = run()
    refreshed = {r.model for r in second.runs if r.action == "incremental"}
    assert refreshed and {n for c, n in RecordingEngine.calls if c == "refresh"} == refreshed
    reference = duckdb.connect()
    add_prices(reference, range(7))
    build(reference)
    for name in refreshed:
        assert table(con, name) == table(reference, name)


def test_a_view_that_becomes_a_table_is_dropped_through_the_engine(
    mini: Path, registered: Callable[[str, type], None]
) -> None:
    from features.engines import engine_class
    from features.models.runner import build_models

    registered("recording", RecordingEngine)
    con = duckdb.connect()
    add_prices(con, range(4))
    project = load_project(mini)
    build_models(con, project, load_dag(project, con), engine=engine_class("recording")(con, project))
    path = next((mini / "sql").rglob("asset_counts.sql"))
    path.write_text(path.read_text().replace("materialized: view", "materialized: table"))
    RecordingEngine.calls.clear()
    build_models(con, project, load_dag(project, con), engine=engine_class("recording")(con, project))
    assert ("drop", "asset_counts") in RecordingEngine.calls
    kind = con.execute("select table_type from information_schema.tables where table_name = 'asset_counts'")
    assert kind.fetchall() == [("BASE TABLE",)]


def test_a_failing_model_on_any_engine_is_recorded_and_its_descendants_skipped(
    mini: Path, registered: Callable[[str, type], None]
) -> None:
    from features.engines import engine_class
    from features.models.runner import build_models

    registered("memory", MemoryEngine)
    (mini / "sql" / "broken.sql").write_text("select no_such_column from stg\n")
    (mini / "sql" / "after_broken.sql").write_text("select * from broken\n")
    con = duckdb.connect()
    add_prices(con, range(4))
    project = load_project(mini)
    dag = load_dag(project, con)
    with pytest.raises(BuildError) as info:
        build_models(con, project, dag, select=["+after_broken"], engine=engine_class("memory")(con, project))
    result = info.value.result  # type: ignore[attr-defined]
    assert (result.built, result.failed, result.skipped) == (["stg"], ["broken"], ["after_broken"])
    assert "no_such_column" in str(info.value)
    # led by the model's file; foreign errors keep their type
    assert result.runs[1].error.startswith(
        "sql/broken.sql: model broken failed: BinderException: Binder Error"
    )


def test_an_unknown_engine_names_the_registered_ones(
    tiny_project: Path, registered: Callable[[str, type], None]
) -> None:
    registered("memory", MemoryEngine)
    with pytest.raises(ConfigError, match=r"unknown engine `trino` \(known: duckdb, memory, spark\)"):
        run_build(load_project(tiny_project), quiet=True, engine="trino")
    assert not (tiny_project / "data").exists()  # refused before the warehouse was opened
