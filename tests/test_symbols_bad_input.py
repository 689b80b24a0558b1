"""Bad symbols.json / asset_id_mapping.json / warehouse states: a clear error, nothing changed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from features.config import load_project
from features.dimension import ensure_dimension, sync_symbols
from features.errors import MappingError, SymbolsConfigError, WarehouseLockedError
from features.symbols import load_universe


def _fingerprint(root: Path) -> dict[str, str]:
    """Hash of every file in the project (config + warehouse) to prove nothing changed."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".wal")
    }


def _write_symbols(root: Path, text: str) -> Path:
    path = root / "config" / "symbols.json"
    path.write_text(text)
    return path


GOOD = {
    "sectors": {"Technology": ["AAPL", "MSFT"]},
    "etfs": {"Market": ["SPY"]},
    "crypto": {"Major": ["BTCUSD"]},
}


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ('{"sectors": {"Technology": ["AAPL",\n "MSFT" "X"]}}', "not valid JSON", 2),
        ('["AAPL"]', "must be a JSON object", None),
        ('{"sectors": ["AAPL"]}', "group 'sectors' must map sub-categories", 1),
        ('{"sectors": {"Tech": "AAPL"}}', "sectors.Tech must be a list", 1),
        ('{"sectors": {"Tech": ["AAPL", 7]}}', "symbol 7 in sectors.Tech[1] must be a string", 1),
        ('{"sectors": {"Tech": ["AAPL", ""]}}', "is empty", 1),
        ('{"sectors": {"Tech": ["aapl"]}}', "must be upper-case (write 'AAPL')", 1),
        ('{"sectors": {"Tech": [" AAPL"]}}', "surrounding spaces (write 'AAPL')", 1),
        ('{"sector": {"Tech": ["AAPL"]}}', "unknown group 'sector'", 1),
        ('{"indices": {"Dow": ["AAPL"]}}', "none of the groups", None),
        ('{"sectors": {"Tech": []}}', "lists no symbols", None),  # a sync retired every asset, exit 0
        ('{"sectors": {}, "crypto": {"Major": []}}', "lists no symbols", None),
    ],
)
def test_bad_symbols_file_is_named_with_the_problem(
    tmp_path: Path, text: str, needle: str, line: int | None
) -> None:
    path = tmp_path / "symbols.json"
    path.write_text(text)
    with pytest.raises(SymbolsConfigError) as info:
        load_universe(path)
    message = str(info.value)
    assert needle in message
    assert str(path) in message
    if line is not None:
        assert f"{path}:{line}" in message


def test_symbol_listed_in_two_sectors_names_both(tmp_path: Path) -> None:
    path = tmp_path / "symbols.json"
    path.write_text(
        json.dumps({"sectors": {"Technology": ["AAPL", "JPM"], "Finance": ["GS", "JPM"]}}, indent=2)
    )
    with pytest.raises(SymbolsConfigError) as info:
        load_universe(path)
    assert "'JPM'" in str(info.value) and "sectors.Technology" in str(info.value)
    assert "sectors.Finance" in str(info.value)
    assert info.value.line == 9  # the second listing


def test_index_symbol_outside_universe_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "symbols.json"
    path.write_text(json.dumps({"sectors": {"Tech": ["AAPL"]}, "indices": {"Dow": ["AAPL", "ZZZ"]}}))
    with pytest.raises(SymbolsConfigError, match=r"indices\.Dow lists 'ZZZ'"):
        load_universe(path)


def test_missing_symbols_file(tmp_path: Path) -> None:
    with pytest.raises(SymbolsConfigError, match="symbols file not found"):
        load_universe(tmp_path / "nope.json")


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "symbols.json"
    path.write_text(json.dumps({"sectors": {"Tech": ["aapl", "", "MSFT"]}, "etfs": {"M": ["MSFT"]}}))
    with pytest.raises(SymbolsConfigError) as info:
        load_universe(path)
    assert "3 problems" in str(info.value)


# --- mapping file hand-edited -------------------------------------------------------------------


def _project_with_mapping(root: Path) -> tuple[Path, dict]:
    _write_symbols(root, json.dumps(GOOD))
    project = load_project(root)
    project.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(project.warehouse_path))
    ensure_dimension(con, project)
    con.close()
    path = root / "config" / "asset_id_mapping.json"
    return path, json.loads(path.read_text())


def _edits():
    def disagree(d):
        d["id_to_symbol"]["0"] = "MSFT"

    def repeat(d):
        d["symbol_to_id"]["MSFT"] = d["symbol_to_id"]["AAPL"]

    def gap(d):
        d["symbol_to_id"]["SPY"] = 10
        d["id_to_symbol"]["10"] = d["id_to_symbol"].pop("3")

    def renumber(d):  # consistent in both directions, but not what the history says
        a, b = d["symbol_to_id"]["AAPL"], d["symbol_to_id"]["MSFT"]
        d["symbol_to_id"]["AAPL"], d["symbol_to_id"]["MSFT"] = b, a
        d["id_to_symbol"][str(a)], d["id_to_symbol"][str(b)] = "MSFT", "AAPL"

    def not_json(d):
        return "{ broken"

    return [
        (disagree, "disagree"),
        (repeat, "given to several symbols"),
        (gap, "not contiguous"),
        (renumber, "disagrees with the file's own history"),
        (not_json, "not valid JSON"),
    ]


@pytest.mark.parametrize(
    ("edit", "needle"), _edits(), ids=["directions", "repeat", "gap", "renumber", "json"]
)
def test_hand_edited_mapping_is_refused_and_nothing_changes(tiny_project: Path, edit, needle: str) -> None:
    path, data = _project_with_mapping(tiny_project)
    replacement = edit(data)
    path.write_text(replacement if isinstance(replacement, str) else json.dumps(data, indent=2))
    before = _fingerprint(tiny_project)
    result = subprocess.run(
        [sys.executable, "-m", "features", "symbols", "sync", "--project", str(tiny_project)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert needle in result.stderr
    assert "asset_id_mapping.json" in result.stderr
    assert "Traceback" not in result.stderr
    assert _fingerprint(tiny_project) == before


def test_mapping_disagreeing_with_warehouse_is_an_error(tiny_project: Path) -> None:
    _project_with_mapping(tiny_project)
    project = load_project(tiny_project)
    con = duckdb.connect(str(project.warehouse_path))
    con.execute("update dim_symbol set symbol = 'MSFT2' where symbol = 'MSFT'")
    con.execute("update dim_symbol_history set symbol = 'MSFT2' where symbol = 'MSFT'")
    before = con.execute("select * from dim_symbol order by asset_id").fetchall()
    with pytest.raises(MappingError) as info:
        ensure_dimension(con, project)
    # (the message, not str(): the test's own folder name holds the word "disagreeing")
    assert "damaged" in info.value.message and "MSFT2" in info.value.message
    assert "fstore symbols restore" in info.value.hint
    assert con.execute("select * from dim_symbol order by asset_id").fetchall() == before
    con.close()
    subprocess.run(
        [sys.executable, "-m", "features", "symbols", "restore", "--project", str(tiny_project)], check=True
    )
    con = duckdb.connect(str(project.warehouse_path))
    ensure_dimension(con, project)  # agrees again
    assert con.execute("select symbol from dim_symbol where asset_id = 2").fetchall() == [("MSFT",)]


def test_warehouse_behind_json_is_caught_up(tiny_project: Path) -> None:
    """A sync that died after writing the JSON: the next command catches the warehouse up."""
    _project_with_mapping(tiny_project)
    project = load_project(tiny_project)
    old_warehouse = project.warehouse_path.read_bytes()
    cfg = dict(GOOD, crypto={"Major": ["BTCUSD", "ETHUSD"]})
    _write_symbols(tiny_project, json.dumps(cfg))
    sync_symbols(project)
    project.warehouse_path.write_bytes(old_warehouse)  # simulate the lost warehouse write
    messages: list[str] = []
    con = duckdb.connect(str(project.warehouse_path))
    state = ensure_dimension(con, project, console=messages.append)
    assert state.caught_up and state.version == "1.1"
    assert any("caught up" in m for m in messages)
    assert con.execute("select asset_id from dim_symbol where symbol = 'ETHUSD'").fetchall() == [(4,)]


def test_locked_warehouse_is_a_clear_error(tiny_project: Path) -> None:
    _project_with_mapping(tiny_project)
    project = load_project(tiny_project)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(30)",
            str(project.warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseLockedError) as info:
            sync_symbols(project)
        assert str(project.warehouse_path) in str(info.value)
        assert f"process {holder.pid}" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
