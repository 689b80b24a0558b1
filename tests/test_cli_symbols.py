"""The CLI as a person uses it: init, project discovery, symbols sync/diff/list, query."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from features.cli import build_parser, main


def fstore(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "features", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def _add_symbols(root: Path, group: str, sub: str, *symbols: str) -> None:
    path = root / "config" / "symbols.json"
    data = json.loads(path.read_text())
    data[group].setdefault(sub, []).extend(symbols)
    path.write_text(json.dumps(data, indent=2))


def _remove_symbol(root: Path, symbol: str) -> None:
    path = root / "config" / "symbols.json"
    data = json.loads(path.read_text())
    for group in ("sectors", "etfs", "crypto"):
        for sub in data[group]:
            data[group][sub] = [s for s in data[group][sub] if s != symbol]
    path.write_text(json.dumps(data, indent=2))


def test_every_command_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, command in sub.choices.items():
        assert command.format_help(), name
    assert fstore("--help").returncode == 0
    assert "symbols" in fstore("--help").stdout


def test_init_then_sync_add_and_retire_acceptance(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    assert fstore("init", str(root)).returncode == 0
    # first sync creates version 1.0 (the build does the same)
    out = fstore("symbols", "sync", cwd=root)
    assert out.returncode == 0, out.stderr
    mapping = json.loads((root / "config" / "asset_id_mapping.json").read_text())
    assert mapping["metadata"]["version"] == "1.0" and len(mapping["symbol_to_id"]) == 154
    q = fstore("query", "select asset_id from dim_symbol where symbol='ABBV'", "--format", "csv", cwd=root)
    assert q.stdout.splitlines() == ["asset_id", "2"]
    before = dict(mapping["symbol_to_id"])

    _add_symbols(root, "sectors", "Technology", "ZNEW", "ANEW")
    diff = fstore("symbols", "diff", cwd=root)
    assert (
        "ANEW" in diff.stdout
        and "ID 154" in diff.stdout
        and "ZNEW" in diff.stdout
        and "ID 155" in diff.stdout
    )
    assert json.loads((root / "config" / "asset_id_mapping.json").read_text())["metadata"]["version"] == "1.0"
    sync = fstore("symbols", "sync", cwd=root / "sql")  # from a subfolder: walks up to the project
    assert sync.returncode == 0, sync.stderr
    mapping = json.loads((root / "config" / "asset_id_mapping.json").read_text())
    assert mapping["metadata"]["version"] == "1.1"
    assert mapping["symbol_to_id"]["ANEW"] == 154 and mapping["symbol_to_id"]["ZNEW"] == 155
    assert all(mapping["symbol_to_id"][s] == i for s, i in before.items())

    again = fstore("symbols", "sync", cwd=root)
    assert "nothing to change" in again.stdout
    assert json.loads((root / "config" / "asset_id_mapping.json").read_text())["metadata"]["version"] == "1.1"

    _remove_symbol(root, "ANEW")
    assert fstore("symbols", "sync", cwd=root).returncode == 0
    mapping = json.loads((root / "config" / "asset_id_mapping.json").read_text())
    assert mapping["metadata"]["version"] == "1.2" and mapping["symbol_to_id"]["ANEW"] == 154
    assert mapping["symbols"]["ANEW"]["active"] is False
    _add_symbols(root, "crypto", "Major", "NEXTUSD")
    assert fstore("symbols", "sync", cwd=root).returncode == 0
    mapping = json.loads((root / "config" / "asset_id_mapping.json").read_text())
    assert mapping["symbol_to_id"]["NEXTUSD"] == 156  # 154 stays retired, never reused
    count = fstore("query", "select count(*) as n from asset_ids_at('1.0')", "--format", "csv", cwd=root)
    assert count.stdout.splitlines() == ["n", "154"]
    hist = fstore(
        "query",
        "select valid_from_version, valid_to_version, is_active from dim_symbol_history "
        "where symbol = 'ANEW' order by valid_from_seq",
        "--format",
        "json",
        cwd=root,
    )
    assert json.loads(hist.stdout) == [
        {"valid_from_version": "1.1", "valid_to_version": "1.2", "is_active": True},
        {"valid_from_version": "1.2", "valid_to_version": None, "is_active": False},
    ]
    listing = fstore("symbols", "list", "--version", "1.0", "--format", "csv", cwd=root)
    assert len(listing.stdout.splitlines()) == 155


def test_regenerate_warns_and_bumps_major(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    fstore("init", str(root))
    fstore("symbols", "sync", cwd=root)
    _add_symbols(root, "sectors", "Technology", "AAAA")
    out = fstore("symbols", "sync", "--regenerate", cwd=root)
    assert out.returncode == 0
    assert "embeddings" in out.stderr and "no longer line up" in out.stderr
    mapping = json.loads((root / "config" / "asset_id_mapping.json").read_text())
    assert mapping["metadata"]["version"] == "2.0" and mapping["symbol_to_id"]["AAAA"] == 0


def test_query_is_read_only_unless_write(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    fstore("init", str(root))
    fstore("symbols", "sync", cwd=root)
    out = fstore("query", "delete from dim_symbol", cwd=root)
    assert out.returncode != 0 and "read-only" in out.stderr and "--write" in out.stderr
    assert "Traceback" not in out.stderr
    assert fstore("query", "select count(*) from dim_symbol", "--format", "csv", cwd=root).stdout.endswith(
        "154\n"
    )
    bad = fstore("query", "select * from no_such_table", cwd=root)
    assert bad.returncode != 0 and "no_such_table" in bad.stderr and "Traceback" not in bad.stderr


def test_outside_a_project_is_a_clear_error(tmp_path: Path) -> None:
    out = fstore("symbols", "diff", cwd=tmp_path)
    assert out.returncode != 0
    assert "no fstore project here" in out.stderr and "fstore init" in out.stderr


def test_init_refuses_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hi")
    assert main(["init", str(tmp_path)]) != 0


@pytest.mark.parametrize(
    ("bad", "line"), [('[paths]\nwarehose = "x"\n', 3), ("[pathz]\n", 2), ("[train]\nepochs = 'many'\n", 3)]
)
def test_bad_project_toml_names_file_and_line(tmp_path: Path, bad: str, line: int) -> None:
    root = tmp_path / "proj"
    fstore("init", str(root))
    (root / "config" / "project.toml").write_text("# comment\n" + bad)
    out = fstore("symbols", "diff", cwd=root)
    assert out.returncode != 0
    assert f"project.toml:{line}:" in out.stderr


def test_build_stops_on_symbols_without_ids_and_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    fstore("init", str(root))
    with (root / "config" / "project.toml").open("a") as handle:
        handle.write("\n[synthetic]\nyears = 0.3\n")
    first = fstore("build", "--quiet", cwd=root)
    assert first.returncode == 0, first.stderr
    mapping_before = (root / "config" / "asset_id_mapping.json").read_bytes()
    tables_before = fstore(
        "query", "select * from dim_symbol order by asset_id", "--format", "csv", cwd=root
    ).stdout

    _add_symbols(root, "sectors", "Technology", "NEWCO", "OTHERCO")
    failed = fstore("build", cwd=root)
    assert failed.returncode != 0
    assert "NEWCO" in failed.stderr and "OTHERCO" in failed.stderr
    assert "fstore symbols sync" in failed.stderr and "Traceback" not in failed.stderr
    assert (root / "config" / "asset_id_mapping.json").read_bytes() == mapping_before
    after = fstore("query", "select * from dim_symbol order by asset_id", "--format", "csv", cwd=root).stdout
    assert after == tables_before

    assert fstore("symbols", "sync", cwd=root).returncode == 0
    rebuilt = fstore("build", "--quiet", cwd=root)
    assert rebuilt.returncode == 0, rebuilt.stderr
    ids = fstore(
        "query",
        "select symbol, asset_id from dim_symbol where symbol in ('NEWCO', 'OTHERCO') order by asset_id",
        "--format",
        "csv",
        cwd=root,
    )
    assert ids.stdout.splitlines()[1:] == ["NEWCO,154", "OTHERCO,155"]
