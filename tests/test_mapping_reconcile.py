"""The mapping file and the warehouse's history tables, reconciled: the warehouse is read back as the
same history the file holds; a missing, older or diverged file is refused (never renumbered), with the
way out named; history is only ever lost with --discard-newer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.asset_tables import read_warehouse, write_dimension
from features.config import load_project
from features.dimension import ensure_dimension, recover_file, restore_warehouse, sync_symbols
from features.errors import MappingError
from features.mapping import history_key, load_mapping, plan_sync
from features.symbols import parse_universe

POOL = [f"S{n:02d}" for n in range(12)]
PLACES = [("sectors", "Tech"), ("sectors", "Energy"), ("etfs", "Market"), ("crypto", "Major")]


def _universe(assign: dict[str, tuple[str, str]]):
    groups: dict[str, dict[str, list[str]]] = {}
    for symbol, (group, sub) in sorted(assign.items()):
        groups.setdefault(group, {}).setdefault(sub, []).append(symbol)
    return parse_universe(groups, path=Path("symbols.json"))


configs = st.dictionaries(st.sampled_from(POOL), st.sampled_from(PLACES), min_size=1, max_size=8)
steps = st.lists(st.tuples(configs, st.booleans(), st.integers(0, 10**9)), min_size=1, max_size=7)


def _history(sequence) -> object:
    """A mapping grown by syncs (and, when the flag says so, regenerations) over ``sequence``."""
    mapping = None
    for assign, regenerate, seconds in sequence:
        when = f"20{20 + seconds % 10}-0{1 + seconds % 9}-1{seconds % 10}T0{seconds % 10}:1{seconds % 6}:00Z"
        plan = plan_sync(mapping, _universe(assign), regenerate=regenerate and mapping is not None, now=when)
        mapping = plan.mapping
    return mapping


@settings(max_examples=80, deadline=None)
@given(sequence=steps)
def test_the_warehouse_reads_back_as_the_history_it_was_written_from(sequence) -> None:
    """Any history fstore can make (adds, retirements, returns, category moves, regenerations, in
    any combination per version) survives the round trip through the tables exactly, times included."""
    mapping = _history(sequence)
    con = duckdb.connect(":memory:")
    write_dimension(con, mapping, None)
    copy = read_warehouse(con)
    assert copy.problem is None and copy.mapping is not None
    assert [history_key(e) for e in copy.mapping.history] == [history_key(e) for e in mapping.history]
    assert copy.mapping.to_json() == mapping.to_json()  # so a recovered file is the same file
    assert copy.labels == tuple(e.version for e in mapping.history)


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {
        t: con.execute(f"select * from {t} order by all").fetchall()
        for t in ("dim_symbol", "dim_symbol_history", "mapping_versions")
    }


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ("update dim_symbol set asset_id = 9 where symbol = 'S01'", "dim_symbol"),
        ("update dim_symbol_history set symbol = 'S99' where symbol = 'S01'", "S99"),
        ("update dim_symbol_history set asset_id = 7 where symbol = 'S01'", "dim_symbol_history"),
        ("delete from dim_symbol_history where symbol = 'S02'", "S02"),
        ("update mapping_versions set added_symbols = ['S00'] where seq = 2", "mapping_versions"),
        ("update mapping_versions set seq = 5 where seq = 2", "seq"),
        ("drop table dim_symbol_history", "dim_symbol_history is missing"),
        ("alter table mapping_versions drop column kind", "cannot be read"),
        ("delete from mapping_versions", "empty"),
    ],
)
def test_tables_edited_by_hand_are_damaged_not_another_history(edit: str, problem: str) -> None:
    mapping = _history(
        [({"S00": PLACES[0], "S01": PLACES[0]}, False, 1), ({"S01": PLACES[1], "S02": PLACES[2]}, False, 2)]
    )
    con = duckdb.connect(":memory:")
    write_dimension(con, mapping, None)
    con.execute(edit)
    copy = read_warehouse(con)
    assert copy.mapping is None and copy.problem is not None
    assert problem in copy.problem
    assert "1.0" in copy.labels or edit.startswith("delete from mapping")


# --------------------------------------------------------------------------- the CLI, end to end


def fstore(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "features", *args, "--project", str(root)], capture_output=True, text=True
    )


SYMBOLS = {"sectors": {"Technology": ["AAPL", "MSFT", "NVDA"]}, "etfs": {"Market": ["SPY"]}, "crypto": {}}


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    (root / "config" / "project.toml").write_text('[paths]\nwarehouse = "data/warehouse.duckdb"\n')
    _config(root, SYMBOLS)
    return root


def _config(root: Path, symbols: dict) -> None:
    (root / "config" / "symbols.json").write_text(json.dumps(symbols, indent=2))


def _add(root: Path, *symbols: str) -> None:
    data = json.loads((root / "config" / "symbols.json").read_text())
    data["sectors"]["Technology"] += list(symbols)
    _config(root, data)


def _warehouse_ids(root: Path) -> dict[str, int]:
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return dict(con.execute("select symbol, asset_id from dim_symbol").fetchall())
    finally:
        con.close()


def _ok(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, out.stderr
    return out.stdout


def _refused(out: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    for needle in needles:
        assert needle in out.stderr, f"{needle!r} not in {out.stderr}"
    return out.stderr


def test_a_deleted_mapping_file_is_never_renumbered(tmp_path: Path) -> None:
    """Issue 12 item 2: delete the file, add AAA, sync — every symbol used to be renumbered from
    scratch (AAA=0, AAPL=1, …) as 1.0, the warehouse's history overwritten, and `build` then wrote the
    renumbered file. Now nothing is renumbered, and the file is recovered whole."""
    root = _project(tmp_path)
    _ok(fstore(root, "symbols", "sync"))
    path = root / "config" / "asset_id_mapping.json"
    original = path.read_bytes()
    ids = json.loads(original)["symbol_to_id"]
    assert ids == {"AAPL": 0, "MSFT": 1, "NVDA": 2, "SPY": 3}
    path.unlink()
    _add(root, "AAA")
    for command in (("symbols", "sync"), ("build", "--quiet"), ("symbols", "diff"), ("symbols", "list")):
        _refused(fstore(root, *command), "mapping file is missing", "fstore symbols recover", "version 1.0")
        assert not path.exists()
        assert _warehouse_ids(root) == ids
    _ok(fstore(root, "symbols", "recover"))
    assert path.read_bytes() == original  # the same file, byte for byte
    _ok(fstore(root, "symbols", "sync"))
    after = load_mapping(path)
    assert after.version == "1.1" and after.symbol_to_id == {**ids, "AAA": 4}
    assert _warehouse_ids(root) == after.symbol_to_id


def test_an_older_file_is_not_restored_over_newer_versions_and_no_id_is_reused(tmp_path: Path) -> None:
    """Issue 12 item 6: after a checkout of an older file, `symbols restore` dropped the warehouse's
    newer versions and the next sync reused an ID (AMD=4, then NVDA2=4 under a reused 1.1)."""
    root = _project(tmp_path)
    path = root / "config" / "asset_id_mapping.json"
    _ok(fstore(root, "symbols", "sync"))
    older = path.read_bytes()  # what git has
    _add(root, "AMD")
    _ok(fstore(root, "symbols", "sync"))
    assert load_mapping(path).symbol_to_id["AMD"] == 4
    newer = path.read_bytes()
    path.write_bytes(older)  # git checkout of the older file
    _add(root, "NVDA2")
    for command in (("symbols", "restore"), ("symbols", "sync"), ("build", "--quiet")):
        message = _refused(fstore(root, *command), "1.1", "fstore symbols recover", "--discard-newer")
        assert "AMD" not in _warehouse_ids(root) or _warehouse_ids(root)["AMD"] == 4, message
        assert path.read_bytes() == older
    _ok(fstore(root, "symbols", "recover"))
    assert path.read_bytes() == newer
    _ok(fstore(root, "symbols", "sync"))
    ids = load_mapping(path).symbol_to_id
    assert ids["AMD"] == 4 and ids["NVDA2"] == 5  # 4 is never issued again


def test_discarding_newer_versions_needs_the_flag_and_says_what_it_lost(tmp_path: Path) -> None:
    root = _project(tmp_path)
    path = root / "config" / "asset_id_mapping.json"
    _ok(fstore(root, "symbols", "sync"))
    older = path.read_bytes()
    _add(root, "AMD")
    _ok(fstore(root, "symbols", "sync"))
    path.write_bytes(older)
    out = fstore(root, "symbols", "restore", "--discard-newer")
    assert "discarded the warehouse's version(s) 1.1" in _ok(out) + out.stderr
    assert path.read_bytes() == older
    assert _warehouse_ids(root) == load_mapping(path).symbol_to_id
    _refused(fstore(root, "build", "--quiet"), "AMD", "fstore symbols sync")  # config still names AMD


def test_diverged_copies_are_refused_naming_the_version_and_symbol(tmp_path: Path) -> None:
    """Each copy issued ID 4 to a different symbol under its own 1.1: neither is preferred."""
    root = _project(tmp_path)
    path = root / "config" / "asset_id_mapping.json"
    _ok(fstore(root, "symbols", "sync"))
    older = path.read_bytes()
    _add(root, "AMD")
    _ok(fstore(root, "symbols", "sync"))
    amd_file = path.read_bytes()
    (root / "data" / "warehouse.duckdb").unlink()
    path.write_bytes(older)
    data = json.loads((root / "config" / "symbols.json").read_text())
    data["sectors"]["Technology"] = ["AAPL", "MSFT", "NVDA", "INTC"]
    _config(root, data)
    _ok(fstore(root, "symbols", "sync"))  # the warehouse: 1.1 gives 4 to INTC
    path.write_bytes(amd_file)  # the file: 1.1 gives 4 to AMD
    for command in (
        ("symbols", "sync"),
        ("build", "--quiet"),
        ("symbols", "restore"),
        ("symbols", "recover"),
    ):
        _refused(fstore(root, *command), "version 1.1", "ID 4", "AMD", "INTC", "--discard-newer")
    assert path.read_bytes() == amd_file and _warehouse_ids(root)["INTC"] == 4
    listed = _ok(fstore(root, "symbols", "list", "--from", "warehouse", "--format", "csv"))
    assert "4,INTC" in listed
    assert "4,AMD" in _ok(fstore(root, "symbols", "list", "--from", "file", "--format", "csv"))
    _ok(fstore(root, "symbols", "recover", "--discard-newer"))  # the warehouse's history wins
    assert load_mapping(path).symbol_to_id["INTC"] == 4 and "AMD" not in load_mapping(path).symbol_to_id


def test_damaged_tables_are_rebuilt_by_restore_only_when_nothing_is_lost(tiny_project: Path) -> None:
    project = load_project(tiny_project)
    project.warehouse_path.parent.mkdir(parents=True)
    con = duckdb.connect(str(project.warehouse_path))
    ensure_dimension(con, project)
    con.execute("update dim_symbol_history set category = 'etfs' where symbol = 'AAPL'")
    with pytest.raises(MappingError) as info:
        ensure_dimension(con, project)
    assert "damaged" in info.value.message and "AAPL" in info.value.message
    assert "fstore symbols restore" in (info.value.hint or "")
    con.execute("update mapping_versions set version = '1.7'")  # now it mentions a version the file lacks
    with pytest.raises(MappingError):
        ensure_dimension(con, project)
    con.close()
    with pytest.raises(MappingError) as info:
        restore_warehouse(project)
    assert "1.7" in info.value.message
    assert restore_warehouse(project, discard_newer=True).discarded == ("1.7",)
    con = duckdb.connect(str(project.warehouse_path))
    assert ensure_dimension(con, project).version == "1.0"
    assert con.execute("select category from dim_symbol where symbol = 'AAPL'").fetchall() == [("sectors",)]
    con.close()


def test_recover_refuses_to_drop_what_only_the_file_records(tiny_project: Path) -> None:
    project = load_project(tiny_project)
    sync_symbols(project)
    before = project.mapping_path.read_bytes()
    warehouse = project.warehouse_path.read_bytes()
    data = json.loads((tiny_project / "config" / "symbols.json").read_text())
    data["sectors"]["Technology"].append("NEWCO")
    (tiny_project / "config" / "symbols.json").write_text(json.dumps(data))
    sync_symbols(project)
    newer = project.mapping_path.read_bytes()
    project.warehouse_path.write_bytes(warehouse)  # the warehouse is behind (a sync died between writes)
    (project.warehouse_path.parent / "warehouse.duckdb.wal").unlink(missing_ok=True)
    with pytest.raises(MappingError) as info:
        recover_file(project)
    assert "1.1" in info.value.message and project.mapping_path.read_bytes() == newer
    repair = recover_file(project, discard_newer=True)
    assert repair.discarded == ("1.1",) and project.mapping_path.read_bytes() == before


def test_recover_refuses_to_replace_an_unreadable_file_without_the_flag(tiny_project: Path) -> None:
    project = load_project(tiny_project)
    sync_symbols(project)
    good = project.mapping_path.read_bytes()
    project.mapping_path.write_text('{"metadata": ')
    with pytest.raises(MappingError, match="cannot be read"):
        recover_file(project)
    assert project.mapping_path.read_text() == '{"metadata": '
    recover_file(project, discard_newer=True)
    assert project.mapping_path.read_bytes() == good


def test_recover_needs_a_history_to_recover_from(tiny_project: Path) -> None:
    project = load_project(tiny_project)
    with pytest.raises(MappingError, match="no warehouse"):
        recover_file(project)
    project.warehouse_path.parent.mkdir(parents=True)
    duckdb.connect(str(project.warehouse_path)).close()
    with pytest.raises(MappingError, match="holds no asset-ID history"):
        recover_file(project)
    assert not project.mapping_path.exists()


def test_a_fresh_numbering_only_when_neither_copy_exists(tiny_project: Path) -> None:
    project = load_project(tiny_project)
    project.warehouse_path.parent.mkdir(parents=True)
    con = duckdb.connect(str(project.warehouse_path))
    con.execute("create table dim_symbol (asset_id integer)")  # a warehouse with a broken dimension
    with pytest.raises(MappingError, match="damaged"):
        ensure_dimension(con, project)
    assert not project.mapping_path.exists()
    con.execute("drop table dim_symbol")
    state = ensure_dimension(con, project)
    assert state.created and state.version == "1.0" and project.mapping_path.exists()
    con.close()
