"""A hand-edited config/asset_id_mapping.json: a MappingError naming the file, the field and its line,
never a traceback, and nothing changed. Times are read in any offset and recorded in UTC."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from features.config import load_project
from features.dimension import recover_file, restore_warehouse, sync_symbols
from features.errors import MappingError
from features.mapping import load_mapping, normalise_time

SYMBOLS = {"sectors": {"Technology": ["AAPL", "MSFT"], "Energy": ["XOM"]}, "etfs": {"Market": ["SPY"]}}


def _write_symbols(root: Path, symbols: dict) -> None:
    (root / "config" / "symbols.json").write_text(json.dumps(symbols, indent=2))


@pytest.fixture
def synced(tiny_project: Path) -> Path:
    """A project whose mapping has two versions: 1.0 and 1.1 (+NVDA, XOM retired, SPY moved)."""
    _write_symbols(tiny_project, SYMBOLS)
    project = load_project(tiny_project)
    sync_symbols(project)
    _write_symbols(
        tiny_project, {"sectors": {"Technology": ["AAPL", "MSFT", "NVDA"]}, "etfs": {"Broad": ["SPY"]}}
    )
    sync_symbols(project)
    return tiny_project


def _line(text: str, needle: str, nth: int = 1) -> int:
    """Independent reference: the line of the nth line of ``text`` that holds ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[nth - 1]


Edit = Callable[[dict], None]


def _set(*path: object, value: object) -> Edit:
    def edit(data: dict) -> None:
        node = data
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value

    return edit


def _swap(data: dict) -> None:
    data["symbol_to_id"]["AAPL"], data["symbol_to_id"]["MSFT"] = 1, 0
    data["id_to_symbol"]["0"], data["id_to_symbol"]["1"] = "MSFT", "AAPL"


def _version_jump(data: dict) -> None:
    data["history"][1]["version"] = "1.3"
    data["metadata"]["version"] = "1.3"


def _first_is_sync(data: dict) -> None:
    data["history"][0]["kind"] = "sync"


# (id, edit, words the message must hold, (needle, nth) locating the line the error must name)
CASES = [
    (
        "created_at-garbage",
        _set("history", 1, "created_at", value="garbage"),
        ["history[1].created_at", "garbage"],
        ('"garbage"', 1),
    ),
    (
        "added-5",
        _set("history", 1, "added", value=5),
        ["history[1].added", "must be a list", "5"],
        ('"added": 5', 1),
    ),
    (
        "asset_id-string",
        _set("history", 1, "added", 0, "asset_id", value="4"),
        ["history[1].added[0].asset_id", "integer"],
        ('"asset_id": "4"', 1),
    ),
    (
        "asset_id-negative",
        _set("history", 0, "added", 2, "asset_id", value=-1),
        ["history[0].added[2].asset_id"],
        ('"asset_id": -1', 1),
    ),
    (
        "symbol_to_id-float",
        _set("symbol_to_id", "MSFT", value=1.0),
        ["symbol_to_id['MSFT']", "1.0"],
        ('"MSFT": 1.0', 1),
    ),
    (
        "symbol_to_id-bool",
        _set("symbol_to_id", "AAPL", value=True),
        ["symbol_to_id['AAPL']", "true"],
        ('"AAPL": true', 1),
    ),
    (
        "id_to_symbol-int",
        _set("id_to_symbol", "0", value=5),
        ["id_to_symbol['0']", "disagree"],
        ('"0": 5', 1),
    ),
    ("id_to_symbol-key", _set("id_to_symbol", "01", value="AAPL"), ["'01'", "decimal"], ('"01"', 1)),
    (
        "metadata-version-number",
        _set("metadata", "version", value=1.1),
        ["metadata.version", "must be a string"],
        ('"version": 1.1', 1),
    ),
    ("metadata-list", _set("metadata", value=[]), ["metadata must be an object"], ('"metadata"', 1)),
    (
        "metadata-total",
        _set("metadata", "total_symbols", value=3),
        ["metadata.total_symbols is 3"],
        ('"total_symbols"', 1),
    ),
    (
        "metadata-created-date",
        _set("metadata", "created_date", value="31/01/2026"),
        ["metadata.created_date", "31/01/2026"],
        ('"created_date"', 1),
    ),
    ("history-object", _set("history", value={}), ["history must be a non-empty list"], ('"history"', 1)),
    ("event-string", _set("history", 1, value="1.1"), ["history[1] must be an object"], ('"history"', 1)),
    (
        "kind-unknown",
        _set("history", 1, "kind", value="merge"),
        ["history[1]", "unknown kind 'merge'"],
        ('"merge"', 1),
    ),
    (
        "version-leading-zero",
        _set("history", 1, "version", value="1.01"),
        ["history[1].version", "1.01"],
        ('"1.01"', 1),
    ),
    ("version-jump", _version_jump, ["jumps from version 1.0 to 1.3"], ('"version": "1.3"', 2)),
    ("first-not-initial", _first_is_sync, ["first must be 'initial'"], ('"kind": "sync"', 1)),
    ("unknown-top-level", _set("histroy", value=[]), ["histroy is not a field"], ('"histroy"', 1)),
    (
        "unknown-event-field",
        _set("history", 1, "removed", value=[]),
        ["history[1].removed is not a field"],
        ('"removed"', 1),
    ),
    (
        "symbols-active-string",
        _set("symbols", "AAPL", "active", value="yes"),
        ["symbols.AAPL.active", "true or false"],
        ('"active": "yes"', 1),
    ),
    (
        "symbols-category",
        _set("symbols", "SPY", "subcategory", value="Market"),
        ["symbols['SPY'].subcategory", "history says"],
        ('"subcategory": "Market"', 1),
    ),
    (
        "retired-number",
        _set("history", 1, "retired", value=[5]),
        ["history[1].retired[0]", "must be a string"],
        ('"retired": [', 2),
    ),
    (
        "changed-other-id",
        _set("history", 1, "changed", 0, "asset_id", value=0),
        ["SPY", "never changes an ID"],
        ('"changed"', 2),
    ),
    (
        "history-contradicts-ids",
        _swap,
        ["symbol_to_id disagrees with the file's own history", "AAPL"],
        ('"AAPL": 1', 1),
    ),
]


@pytest.mark.parametrize(("edit", "words", "locate"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hand_edited_field_is_named_with_its_line(
    synced: Path, edit: Edit, words: list[str], locate: tuple[str, int]
) -> None:
    path = synced / "config" / "asset_id_mapping.json"
    data = json.loads(path.read_text())
    edit(data)
    text = json.dumps(data, indent=2)
    path.write_text(text)
    with pytest.raises(MappingError) as info:
        load_mapping(path)
    err = info.value
    assert err.file == str(path)
    for word in words:
        assert word in err.message, f"{word!r} not in {err.message!r}"
    assert err.line == _line(text, *locate), err.message


def test_a_key_given_twice_is_refused_at_its_second_line(synced: Path) -> None:
    """JSON keeps the last of two equal keys, so the file would not say what it seems to."""
    path = synced / "config" / "asset_id_mapping.json"
    text = path.read_text().replace('"MSFT": 1,', '"MSFT": 1,\n    "AAPL": 3,', 1)
    path.write_text(text)
    with pytest.raises(MappingError) as info:
        load_mapping(path)
    assert "'AAPL' appears twice in symbol_to_id" in info.value.message
    assert info.value.line == _line(text, '"AAPL": 3')


def test_a_file_that_is_not_utf8_is_named(synced: Path) -> None:
    path = synced / "config" / "asset_id_mapping.json"
    path.write_bytes(b'{"metadata": "\xff\xfe"}')
    with pytest.raises(MappingError, match="not UTF-8"):
        load_mapping(path)


def _fingerprint(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".wal")
    }


@pytest.mark.parametrize("case", ["created_at-garbage", "added-5", "history-contradicts-ids"])
@pytest.mark.parametrize("command", [("symbols", "sync"), ("build", "--quiet"), ("symbols", "restore")])
def test_the_cli_names_the_field_exits_non_zero_and_changes_nothing(
    synced: Path, case: str, command: tuple[str, ...]
) -> None:
    _, edit, words, locate = next(c for c in CASES if c[0] == case)
    path = synced / "config" / "asset_id_mapping.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))
    before = _fingerprint(synced)
    out = subprocess.run(
        [sys.executable, "-m", "features", *command, "--project", str(synced)], capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert f"{path}:{_line(path.read_text(), *locate)}:" in out.stderr
    assert all(word in out.stderr for word in words)
    assert _fingerprint(synced) == before


# --------------------------------------------------------------------------- clocks and time zones


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ("2026-01-31T09:30:00Z", "2026-01-31T09:30:00Z"),
        ("2026-01-31T09:30:00z", "2026-01-31T09:30:00Z"),
        ("2026-01-31T15:00:00+05:30", "2026-01-31T09:30:00Z"),
        ("2026-01-31T01:30:00-08:00", "2026-01-31T09:30:00Z"),
        ("2026-02-01T00:30:00+15:00", "2026-01-31T09:30:00Z"),
        ("2026-01-31 09:30:00", "2026-01-31T09:30:00Z"),
        ("2026-01-31T09:30", "2026-01-31T09:30:00Z"),
        ("2026-01-31", "2026-01-31T00:00:00Z"),
        ("2026-01-31T09:30:00.250+00:00", "2026-01-31T09:30:00.250000Z"),
        ("", ""),
    ],
)
def test_times_are_read_in_any_offset_as_utc(written: str, utc: str) -> None:
    assert normalise_time(written) == utc


@pytest.mark.parametrize("bad", ["garbage", "2026-13-01", "31/01/2026", "2026-01-31T25:00", "1.5", "now"])
def test_a_time_that_is_not_iso_8601_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalise_time(bad)


def test_a_file_written_in_another_offset_agrees_and_lands_in_utc(synced: Path) -> None:
    project = load_project(synced)
    data = json.loads(project.mapping_path.read_text())
    at = datetime.fromisoformat(data["history"][1]["created_at"].replace("Z", "+00:00"))
    tokyo = at.astimezone(timezone(timedelta(hours=9)))  # "…T18:…+09:00"
    data["history"][1]["created_at"] = tokyo.isoformat()
    project.mapping_path.write_text(json.dumps(data, indent=2))
    sync_symbols(project)  # the two copies agree: a time zone is not a difference
    restore_warehouse(project)
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    stored = con.execute("select created_at from mapping_versions where version = '1.1'").fetchall()[0][0]
    con.close()
    assert stored == at.replace(tzinfo=None)


def test_the_machine_time_zone_never_leaks_into_the_record(tiny_project: Path) -> None:
    for zone in ("Pacific/Kiritimati", "America/Adak"):  # UTC+14 and UTC-10/-9
        (tiny_project / "config" / "asset_id_mapping.json").unlink(missing_ok=True)
        (tiny_project / "data" / "warehouse.duckdb").unlink(missing_ok=True)
        before = datetime.now(UTC)
        out = subprocess.run(
            [sys.executable, "-m", "features", "symbols", "sync", "--project", str(tiny_project)],
            capture_output=True,
            text=True,
            env={**os.environ, "TZ": zone},
        )
        assert out.returncode == 0, out.stderr
        created = json.loads((tiny_project / "config" / "asset_id_mapping.json").read_text())["history"][0]
        recorded = datetime.fromisoformat(created["created_at"].replace("Z", "+00:00"))
        assert created["created_at"].endswith("Z")
        assert before - timedelta(seconds=2) <= recorded <= datetime.now(UTC) + timedelta(seconds=2)


def test_a_clock_that_goes_backwards_never_reorders_versions(tiny_project: Path, monkeypatch) -> None:
    """Versions are ordered by their sequence, never by the clock: a sync on a machine whose clock is
    years behind still makes the next version, and every copy agrees."""
    import features.mapping as mapping_module

    project = load_project(tiny_project)
    _write_symbols(tiny_project, SYMBOLS)
    monkeypatch.setattr(mapping_module, "now_utc", lambda: "2031-06-01T00:00:00Z")
    sync_symbols(project)
    _write_symbols(tiny_project, {**SYMBOLS, "crypto": {"Major": ["BTCUSD"]}})
    monkeypatch.setattr(mapping_module, "now_utc", lambda: "1999-12-31T23:59:59Z")
    sync_symbols(project)
    mapping = load_mapping(project.mapping_path)
    assert [e.version for e in mapping.history] == ["1.0", "1.1"]
    assert mapping.symbol_to_id["BTCUSD"] == 4
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    assert con.execute("select version from mapping_versions order by seq desc limit 1").fetchall() == [
        ("1.1",)
    ]
    assert con.execute("select count(*) from asset_ids_at('1.1')").fetchall() == [(5,)]
    con.close()
    original = project.mapping_path.read_bytes()
    project.mapping_path.unlink()
    recover_file(project)
    assert project.mapping_path.read_bytes() == original


@pytest.mark.parametrize(
    ("text", "words", "line"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply", None),
        ('\ufeff{"metadata": {}}', "BOM", 1),
        ('{"symbol_to_id": {"AAPL": NaN}, "id_to_symbol": {}}', "symbol_to_id['AAPL']", 1),
        ('{"symbol_to_id": {"AAPL": 0},\n "id_to_symbol": {"0": "AAPL"},\n "histroy": []}', "histroy", 3),
        ("", "not valid JSON", 1),
    ],
)
def test_a_file_no_one_should_write_is_still_a_clear_error(
    tmp_path: Path, text: str, words: str, line: int | None
) -> None:
    path = tmp_path / "asset_id_mapping.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as info:
        load_mapping(path)
    assert words in info.value.message and info.value.line == line
