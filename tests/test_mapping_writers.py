"""Writers of the mapping under stress: two at once, a read-only config/ folder, a full disk. The
second writer is refused naming the first; a failed write is a clear error with a non-zero exit, and
the mapping file and the warehouse are each their old or their new version, never half of one."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from features.config import load_project
from features.dimension import sync_symbols
from features.errors import MappingError
from features.mapping import load_mapping

SYMBOLS = {"sectors": {"Technology": ["AAPL", "MSFT"], "Energy": ["XOM"]}, "etfs": {"Market": ["SPY"]}}
GROWN = {"sectors": {"Technology": ["AAPL", "MSFT", "NVDA"]}, "etfs": {"Market": ["SPY"]}}


def _cmd(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "features", *args, "--project", str(root)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A synced project whose config now names NVDA and drops XOM (the next sync makes 1.1)."""
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    (root / "config" / "project.toml").write_text('[paths]\nwarehouse = "data/warehouse.duckdb"\n')
    (root / "config" / "symbols.json").write_text(json.dumps(SYMBOLS))
    sync_symbols(load_project(root))
    (root / "config" / "symbols.json").write_text(json.dumps(GROWN))
    return root


def _state(root: Path) -> tuple[bytes, list[tuple]]:
    """The mapping file's bytes and the warehouse's asset-ID history (read-only)."""
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        history = con.execute("select * from dim_symbol_history order by all").fetchall()
    finally:
        con.close()
    return (root / "config" / "asset_id_mapping.json").read_bytes(), history


def _hold_lock(mapping: Path) -> subprocess.Popen[str]:
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom features.reconcile import mapping_lock\n"
        "with mapping_lock(Path(sys.argv[1])):\n    print('ready', flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(mapping)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    return holder


# --------------------------------------------------------------------------- two writers


def test_a_second_writer_of_the_file_is_refused_even_on_another_warehouse(project: Path) -> None:
    """The warehouse's lock serialises syncs on one warehouse; the file's own lock covers two syncs
    with different --db, which would otherwise interleave their writes of the one file."""
    mapping = project / "config" / "asset_id_mapping.json"
    before = _state(project)
    holder = _hold_lock(mapping)
    try:
        other = project / "data" / "other.duckdb"
        out = subprocess.run(
            _cmd(project, "symbols", "sync", "--db", str(other)), capture_output=True, text=True
        )
        assert out.returncode != 0 and "Traceback" not in out.stderr
        assert f"another fstore process (process {holder.pid} on" in out.stderr
        assert "changing the mapping file" in out.stderr and "wait for it" in out.stderr
        assert not other.exists()  # refused before anything was opened
        assert _state(project) == before
    finally:
        holder.send_signal(signal.SIGKILL)  # killed: the kernel lets go of the lock
        holder.wait()
        holder.stdout.close()
    assert (project / "config" / ".asset_id_mapping.json.lock").exists()  # left by the killed holder
    out = subprocess.run(_cmd(project, "symbols", "sync"), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert load_mapping(mapping).version == "1.1"
    assert not (project / "config" / ".asset_id_mapping.json.lock").exists()  # removed on the way out


@pytest.mark.parametrize("round_", range(4))
def test_two_syncs_at_once_never_interleave(project: Path, round_: int) -> None:
    """Two `fstore symbols sync` started together on two warehouses: each either finishes or is
    refused clearly; the file is one consistent history and each warehouse agrees with it or is behind."""
    mapping = project / "config" / "asset_id_mapping.json"
    shutil.copy(project / "data" / "warehouse.duckdb", project / "data" / "b.duckdb")
    runs = [
        subprocess.Popen(
            _cmd(project, "symbols", "sync", "--db", str(project / "data" / db)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for db in ("warehouse.duckdb", "b.duckdb")
    ]
    results = [(run.wait(timeout=120), *run.communicate()) for run in runs]
    for code, _out, err in results:
        assert "Traceback" not in err
        assert code == 0 or "changing the mapping file right now" in err, err
    assert any(code == 0 for code, _, _ in results)
    final = load_mapping(mapping)
    assert final.version == "1.1" and final.symbol_to_id == {
        "AAPL": 0,
        "MSFT": 1,
        "SPY": 2,
        "XOM": 3,
        "NVDA": 4,
    }
    for db in ("warehouse.duckdb", "b.duckdb"):
        out = subprocess.run(
            _cmd(project, "symbols", "sync", "--db", str(project / "data" / db)),
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr  # agrees, or only behind (caught up)
        assert "nothing to change" in out.stdout


# --------------------------------------------------------------------------- a folder that cannot be written


def _run_with_read_only(folder: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``args`` with ``folder`` read-only for it: by permissions, or (as root, where permissions do
    not bind) by a read-only bind mount in a private mount namespace."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return subprocess.run(args, capture_output=True, text=True)
        finally:
            folder.chmod(0o755)
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    wrapped = ["unshare", "-m", "sh", "-c", script, str(folder), *args]
    probe = subprocess.run(["unshare", "-m", "sh", "-c", script, str(folder), "true"], capture_output=True)
    if shutil.which("unshare") is None or probe.returncode != 0:
        pytest.skip("running as root without a way to make a folder read-only")
    return subprocess.run(wrapped, capture_output=True, text=True)


def test_a_read_only_config_folder_is_a_clear_error_and_changes_nothing(project: Path) -> None:
    before = _state(project)
    out = _run_with_read_only(project / "config", _cmd(project, "symbols", "sync"))
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert "asset_id_mapping.json" in out.stderr and "nothing was changed" in out.stderr
    assert "Read-only file system" in out.stderr or "Permission denied" in out.stderr
    assert _state(project) == before
    # a build that has nothing to change in the mapping only reads the file: a read-only config is fine
    (project / "config" / "symbols.json").write_text(json.dumps(SYMBOLS))
    listing = _run_with_read_only(project / "config", _cmd(project, "symbols", "list", "--format", "csv"))
    assert listing.returncode == 0, listing.stderr


def test_a_file_write_that_fails_leaves_both_copies_as_they_were(project: Path, monkeypatch) -> None:
    """The same, in process: any OSError from the file write (EACCES, EROFS, ENOSPC) is a MappingError."""
    import features.warehouse

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    before = _state(project)
    monkeypatch.setattr(features.warehouse, "atomic_write", refuse)
    with pytest.raises(MappingError) as info:
        sync_symbols(load_project(project))
    assert "cannot write the mapping file (Permission denied)" in info.value.message
    assert "unchanged" in info.value.message
    assert _state(project) == before


# --------------------------------------------------------------------------- a full disk


def _sync_with_file_size_limit(root: Path, limit: int) -> subprocess.CompletedProcess[str]:
    """`fstore symbols sync` where no file may grow past ``limit`` bytes (writes fail with EFBIG, as
    on a full disk; SIGXFSZ ignored so the write returns the error instead of killing the process)."""

    def limit_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        _cmd(root, "symbols", "sync"), capture_output=True, text=True, preexec_fn=limit_files
    )


def test_a_full_disk_during_the_file_write_changes_nothing(project: Path) -> None:
    before = _state(project)
    out = _sync_with_file_size_limit(project, 1000)  # the new file (about 2.4 kB) does not fit
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert "the disk is full" in out.stderr and "unchanged" in out.stderr
    assert _state(project) == before
    assert not [p for p in (project / "config").iterdir() if "tmp" in p.name or p.name.endswith(".lock")]


def test_a_full_disk_during_the_warehouse_write_leaves_it_behind_and_the_next_command_catches_up(
    project: Path,
) -> None:
    old_file, old_history = _state(project)
    out = _sync_with_file_size_limit(project, 3000)  # the file fits, the warehouse's log does not
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert "cannot write the asset-ID tables (the disk is full)" in out.stderr
    assert "the next command catches the warehouse up" in out.stderr
    new_file, history = _state(project)
    assert history == old_history  # the old tables, whole
    assert load_mapping(project / "config" / "asset_id_mapping.json").version == "1.1"
    assert hashlib.sha256(new_file).digest() != hashlib.sha256(old_file).digest()
    again = subprocess.run(_cmd(project, "symbols", "sync"), capture_output=True, text=True)
    assert again.returncode == 0 and "caught up" in again.stdout, again.stderr
    assert _state(project) == (new_file, _state(project)[1])
    con = duckdb.connect(str(project / "data" / "warehouse.duckdb"), read_only=True)
    assert con.execute("select asset_id from dim_symbol where symbol = 'NVDA'").fetchall() == [(4,)]
    con.close()


def test_reading_commands_during_a_build_say_the_warehouse_is_busy(project: Path) -> None:
    """`symbols list` / `diff` while another process holds the warehouse: the file is shown with a
    warning that it was not compared; without a file nothing can be said, and the lock error is."""
    code = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)"
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(project / "data" / "warehouse.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        listing = subprocess.run(
            _cmd(project, "symbols", "list", "--format", "csv"), capture_output=True, text=True
        )
        assert listing.returncode == 0, listing.stderr
        assert "3,XOM" in listing.stdout
        assert f"process {holder.pid}" in listing.stderr and "without comparing" in listing.stderr
        (project / "config" / "asset_id_mapping.json").unlink()
        diff = subprocess.run(_cmd(project, "symbols", "diff"), capture_output=True, text=True)
        assert diff.returncode != 0 and "locked" in diff.stderr and "would create" not in diff.stdout
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
