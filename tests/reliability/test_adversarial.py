"""What the adversarial pass of 2026-12-01 found (docs/reliability.md, "Adversarial pass"): each test
is a misuse that printed a traceback or lost work on main before its fix, run through the CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
from pathlib import Path

import pytest
from _reliability_kit import fstore, fstore_cmd, make_project

SYMBOLS = {"sectors": {"Technology": ["AAPL", "MSFT"]}, "crypto": {"Major": ["BTCUSD"]}}


def _digests(root: Path) -> dict[str, str]:
    """SHA-256 of every file under the project (but the warehouse's lock-free reads change nothing)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _assert_clear_error(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("error:"), out.stderr
    for needle in needles:
        assert needle in out.stderr, out.stderr


@pytest.fixture
def built(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "p", SYMBOLS, years=0.2)
    out = fstore(root, "build", "--quiet")
    assert out.returncode == 0, out.stderr
    return root


# --------------------------------------------------------------------------- a data file as the warehouse


def _data_file(root: Path, kind: str) -> Path:
    """An existing file DuckDB 2 would open as an in-memory database with a view of it."""
    if kind == "json":
        return root / "config" / "symbols.json"
    path = root / f"prices.{kind}"
    copy = f"copy (select 'AAPL' as symbol, date '2024-01-02' as date, 1.0 as close) to '{path}'"
    import duckdb

    duckdb.connect().execute(copy + (" (format parquet)" if kind == "parquet" else " (header)"))
    return path


@pytest.mark.parametrize("kind", ["json", "csv", "parquet"])
def test_a_data_file_named_as_the_warehouse_is_refused_not_built_into_memory(built: Path, kind: str) -> None:
    """`[paths] warehouse = "config/symbols.json"` (or `--db prices.csv`) built into memory, printed
    success and kept nothing; now every command refuses it, naming the file, and changes nothing."""
    target = _data_file(built, kind)
    before = _digests(built)
    for args in (["build", "--db", str(target)], ["query", "--db", str(target), "select 1"]):
        out = fstore(built, *args)
        _assert_clear_error(out, str(target), "not a DuckDB database file")
    toml = built / "config" / "project.toml"
    toml.write_text(toml.read_text().replace("[paths]\n", f'[paths]\nwarehouse = "{target}"\n'))
    before[str(toml.relative_to(built))] = hashlib.sha256(toml.read_bytes()).hexdigest()
    _assert_clear_error(fstore(built, "build"), str(target), "not a DuckDB database file")
    assert _digests(built) == before


# --------------------------------------------------------------------------- symbols.json read strictly


def test_a_group_given_twice_in_symbols_json_is_an_error_not_the_last_one(built: Path) -> None:
    """A merge that leaves `"sectors"` twice: json keeps the last, so a sync silently retired every
    symbol of the first. Now it is an error at the second key's line, and nothing changes."""
    path = built / "config" / "symbols.json"
    text = json.dumps(SYMBOLS, indent=2)
    path.write_text(text[:-2] + ',\n  "sectors": {"Technology": ["NVDA"]}\n}\n')
    before = _digests(built)
    out = fstore(built, "symbols", "sync")
    line = path.read_text().splitlines().index('  "sectors": {"Technology": ["NVDA"]}') + 1
    _assert_clear_error(out, f"{path}:{line}:", "'sectors' appears twice")
    assert _digests(built) == before


def test_a_linked_mapping_file_is_updated_where_it_lives_and_stays_a_link(
    built: Path, tmp_path: Path
) -> None:
    """A mapping shared by clones through a symlink: a sync replaced the link with a regular file and
    left the shared file behind. Now the shared file gets the new version and the link stays."""
    mapping = built / "config" / "asset_id_mapping.json"
    shared = tmp_path / "shared" / "ids.json"
    shared.parent.mkdir()
    shutil.move(mapping, shared)
    mapping.symlink_to(shared)
    symbols = json.loads((built / "config" / "symbols.json").read_text())
    symbols["sectors"]["Technology"].append("NVDA")
    (built / "config" / "symbols.json").write_text(json.dumps(symbols))
    out = fstore(built, "symbols", "sync")
    assert out.returncode == 0, out.stderr
    assert mapping.is_symlink() and mapping.resolve() == shared.resolve()
    written = json.loads(shared.read_text())
    # the next free ID after AAPL, BTCUSD, MSFT (sorted 0..2); none of theirs moved
    assert written["symbol_to_id"] == {"AAPL": 0, "BTCUSD": 1, "MSFT": 2, "NVDA": 3}


def test_lineage_follows_columns_named_like_keywords_or_with_dots(built: Path) -> None:
    """`fstore lineage usecols.select` said `cols` had no column `"select"`: the source column kept
    its quotes. Every quoted name now traces back to the source column it was computed from."""
    sql = built / "sql"
    (sql / "cols.sql").write_text(
        'select asset_id, ts, close as "select", close * 2 as "a.b", close as "Ünï" from stg_prices\n'
    )
    (sql / "usecols.sql").write_text('select asset_id, ts, "select", "a.b", "Ünï" from cols\n')
    assert fstore(built, "build", "--quiet", "--select", "cols", "usecols").returncode == 0
    for column in ("select", "a.b", "Ünï"):
        out = fstore(built, "lineage", f"usecols.{column}")
        assert out.returncode == 0, out.stderr
        assert "raw_prices.close" in out.stdout and "Traceback" not in out.stderr


def test_a_warehouse_of_an_older_or_newer_fstore_still_builds(built: Path) -> None:
    """Every build ended in a BinderException when fstore's own tables had another shape: an older
    fstore's warehouse lacks later columns (added now, NULL in old rows), a newer one's has more
    (every insert names its columns)."""
    import duckdb

    db = built / "data" / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    con.execute("alter table build_runs drop column message")
    con.execute("alter table build_models drop column error")
    con.execute("alter table _fstore_models drop column input_stats")
    con.execute("alter table build_tests add column from_the_future varchar")
    con.execute("alter table _fstore_sources add column from_the_future varchar")
    runs_before = con.execute("select count(*) from build_runs").fetchone()[0]
    con.close()
    for args in (["build", "--quiet"], ["build", "--quiet", "--full-refresh"], ["test"]):
        out = fstore(built, *args)
        assert out.returncode == 0, (args, out.stderr)
    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = con.execute("select message from build_runs order by started_at").fetchall()
    finally:
        con.close()
    assert len(runs) == runs_before + 3 and runs[:runs_before] == [(None,)] * runs_before
    assert runs[-1] == ("test",)


def test_a_deeply_nested_symbols_json_is_a_message(built: Path) -> None:
    path = built / "config" / "symbols.json"
    path.write_text('{"sectors": ' + "[" * 100_000 + "]" * 100_000 + "}")
    before = _digests(built)
    for args in (["symbols", "sync"], ["build"]):
        _assert_clear_error(fstore(built, *args), str(path), "nested too deeply")
    assert _digests(built) == before


# --------------------------------------------------------------------------- odd files among the models


def test_a_folder_named_like_a_model_is_a_folder_not_a_crash(built: Path) -> None:
    """`sql/archive.sql/` (a folder) crashed discovery with IsADirectoryError; its files are models."""
    folder = built / "sql" / "archive.sql"
    folder.mkdir()
    (folder / "inside.sql").write_text("select 1 as a\n")
    out = fstore(built, "build", "--quiet")
    assert out.returncode == 0, out.stderr
    listing = fstore(built, "ls")
    assert listing.returncode == 0 and "inside" in listing.stdout, listing.stderr


@pytest.mark.parametrize("case", ["latin-1", "dangling link"])
def test_a_model_file_that_cannot_be_read_is_an_error_naming_it(built: Path, case: str) -> None:
    """A model saved as Latin-1 (UnicodeDecodeError) or a link to nothing (IsADirectory/FileNotFound)
    printed a traceback; now the file (and for bad bytes, its line) is named and nothing is built."""
    path = built / "sql" / "odd.sql"
    if case == "latin-1":
        path.write_bytes("select 1 as a\n-- café\n".encode("latin-1"))
    else:
        path.symlink_to(built / "no-such-file.sql")
    before = _digests(built)
    out = fstore(built, "build")
    _assert_clear_error(out, "sql/odd.sql:2: not UTF-8" if case == "latin-1" else "sql/odd.sql: cannot read")
    assert _digests(built) == before


# --------------------------------------------------------------------------- a folder that cannot be written


def _run_read_only(folder: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``args`` with ``folder`` read-only: by permissions, or as root (where they do not bind) by a
    read-only bind mount in a private mount namespace (as tests/test_mapping_writers.py does)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return subprocess.run(args, capture_output=True, text=True)
        finally:
            folder.chmod(0o755)
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    probe = ["unshare", "-m", "sh", "-c", script, str(folder), "true"]
    if shutil.which("unshare") is None or subprocess.run(probe, capture_output=True).returncode != 0:
        pytest.skip("running as root without a way to make a folder read-only")
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(folder), *args], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("folder", "args"),
    [
        ("target", ["build", "--full-refresh"]),
        ("target", ["docs", "generate"]),
        ("data/raw", ["ingest", "--force"]),
    ],
)
def test_a_read_only_folder_is_a_message_naming_it(built: Path, folder: str, args: list[str]) -> None:
    """A read-only `target/` (build, docs) or `data/raw` (ingest) printed an OSError traceback."""
    (built / folder).mkdir(parents=True, exist_ok=True)
    if args[0] == "ingest":
        csv = built.parent / "AAPL.csv"
        csv.write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n")
        args = [*args, str(csv)]
    out = _run_read_only(built / folder, fstore_cmd(built, *args))
    _assert_clear_error(out, f"cannot write {built / folder}", f"make {built / folder} writable")
    assert "Read-only file system" in out.stderr or "Permission denied" in out.stderr
    again = fstore(built, *args)  # and once it is writable again, the command works
    assert again.returncode == 0, again.stderr


# --------------------------------------------------------------------------- a full disk names the file


def _with_file_size_limit(root: Path, limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(fstore_cmd(root, *args), capture_output=True, text=True, preexec_fn=cap)


@pytest.mark.parametrize(
    ("args", "written"),
    [
        (["ingest", "--force", "{csv}"], "data/raw/AAPL.csv"),
        (["docs", "generate"], "target/"),
        (["symbols", "recover"], "config/asset_id_mapping.json"),
    ],
)
def test_a_full_disk_message_names_the_file_being_written(built: Path, args: list[str], written: str) -> None:
    """`ingest`, `docs generate` and `symbols recover` said "while writing: File too large" with no
    file: a write() error names none, and an FstoreError wrapping it was taken as the cause."""
    csv = built.parent / "AAPL.csv"
    rows = [f"2024-{m:02d}-{d:02d},10,11,9,10.5,100" for m in range(1, 13) for d in range(1, 28)]
    csv.write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    if args[:2] == ["symbols", "recover"]:
        (built / "config" / "asset_id_mapping.json").unlink()
    out = _with_file_size_limit(built, 1_000, *(a.format(csv=csv) for a in args))
    _assert_clear_error(out, f"while writing {built / written}")
    assert out.stderr.count("error:") == 1, out.stderr


# --------------------------------------------------------------------------- a number where a path goes


@pytest.mark.parametrize("key", ["warehouse", "raw", "sql", "target"])
def test_a_number_as_a_path_setting_is_an_error_at_its_line(built: Path, key: str) -> None:
    """`[paths] warehouse = 5` was read as the file `./5` and a whole warehouse was built there."""
    toml = built / "config" / "project.toml"
    toml.write_text(toml.read_text().replace("[paths]\n", f"[paths]\n{key} = 5\n"))
    before = _digests(built)
    out = fstore(built, "build")
    _assert_clear_error(out, f"{toml}:2:", f"[paths] {key} must be a string, got 5")
    assert _digests(built) == before and not (built / "5").exists()
