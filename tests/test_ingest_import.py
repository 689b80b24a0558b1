"""`fstore ingest`: files in data/raw are only ever replaced whole, and the check is the build's own."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from features.cli import main
from features.config import load_project
from features.dimension import ensure_dimension
from features.errors import IngestError, UnknownSymbolError
from features.ingest import import_files, price_files, refresh_raw_prices

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def _prices(n: int, scale: float = 1.0) -> str:
    """``n`` good daily rows (a few hundred KB for n ~ 5,000)."""
    rows = []
    for i in range(n):
        day = f"{1990 + i // 336}-{1 + (i // 28) % 12:02d}-{1 + i % 28:02d}"
        c = (100 + i % 50) * scale
        rows.append(f"{day},{c:.4f},{c * 1.01:.4f},{c * 0.99:.4f},{c:.4f},{c:.4f},{1000 + i}")
    return HEADER + "\n".join(rows) + "\n"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(raw: Path) -> list[str]:
    return sorted(p.name for p in raw.iterdir() if p.name.endswith(".fstore-tmp"))


def _cli(*argv: str) -> int:
    """The command as the CLI runs it (errors become messages and exit codes)."""
    return main(list(argv))


def test_force_replaces_a_file_whole_and_leaves_no_temp_file(tiny_project: Path, tmp_path: Path) -> None:
    project = load_project(tiny_project)
    old, new = tmp_path / "old" / "AAPL.csv", tmp_path / "new" / "AAPL.csv"
    old.parent.mkdir(), new.parent.mkdir()
    old.write_text(_prices(50)), new.write_text(_prices(80, 2.0))
    import_files(project, [old])
    raw = tiny_project / "data" / "raw"
    with pytest.raises(IngestError, match="already exists with different contents"):
        import_files(project, [new])
    assert _sha(raw / "AAPL.csv") == _sha(old)
    import_files(project, [new], force=True)
    assert _sha(raw / "AAPL.csv") == _sha(new)
    assert _leftovers(raw) == []


def test_a_copy_that_fails_midway_leaves_the_old_file(
    tiny_project: Path, tmp_path: Path, monkeypatch
) -> None:
    import errno
    import shutil

    project = load_project(tiny_project)
    raw = tiny_project / "data" / "raw"
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    (tmp_path / "a" / "AAPL.csv").write_text(_prices(40))
    import_files(project, [tmp_path / "a" / "AAPL.csv"])
    before = _sha(raw / "AAPL.csv")
    (tmp_path / "b" / "AAPL.csv").write_text(_prices(60, 3.0))

    def half_then_full(src: str, dst: str) -> None:
        Path(dst).write_bytes(Path(src).read_bytes()[:500])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", half_then_full)
    with pytest.raises(
        IngestError, match=r"data/raw/AAPL\.csv: the disk is full .*data/raw/AAPL\.csv is unchanged"
    ):
        import_files(project, [tmp_path / "b" / "AAPL.csv"], force=True)
    assert _sha(raw / "AAPL.csv") == before and _leftovers(raw) == []


def _ingest_under_file_size_limit(root: Path, source: Path, limit: int):
    """`fstore ingest --force` in a process that may not write more than ``limit`` bytes to a file
    (Python ignores SIGXFSZ, so the write fails with EFBIG, as on a full disk)."""

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-B", "-m", "features", "ingest", str(source), "--force", "--project", str(root)],
        capture_output=True,
        text=True,
        preexec_fn=limited,
    )


def test_a_full_disk_during_ingest_force_is_a_clear_error_and_keeps_the_old_file(
    tiny_project: Path, tmp_path: Path
) -> None:
    """The issue's reproduction: a file-size limit truncated data/raw/<file> during `ingest --force`."""
    project = load_project(tiny_project)
    (tmp_path / "old").mkdir(), (tmp_path / "new").mkdir()
    (tmp_path / "old" / "SPY.csv").write_text(_prices(300))
    (tmp_path / "new" / "SPY.csv").write_text(_prices(20_000, 1.5))  # ~1.3 MB
    import_files(project, [tmp_path / "old" / "SPY.csv"])
    raw = tiny_project / "data" / "raw"
    before = _sha(raw / "SPY.csv")
    out = _ingest_under_file_size_limit(tiny_project, tmp_path / "new" / "SPY.csv", 200_000)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "SPY.csv: the disk is full" in out.stderr and "data/raw/SPY.csv is unchanged" in out.stderr
    assert _leftovers(raw) == []
    assert _sha(raw / "SPY.csv") == before  # the old file, whole
    # a build reads the old file, and the next ingest replaces it whole
    assert price_files(raw) == [raw / "SPY.csv"]
    con = duckdb.connect()
    ensure_dimension(con, project)
    assert refresh_raw_prices(con, project, console=lambda _m: None).rows == 300
    import_files(project, [tmp_path / "new" / "SPY.csv"], force=True)
    assert _sha(raw / "SPY.csv") == _sha(tmp_path / "new" / "SPY.csv") and _leftovers(raw) == []


def test_stale_temp_files_are_never_read_and_the_next_ingest_removes_them(
    tiny_project: Path, tmp_path: Path
) -> None:
    project = load_project(tiny_project)
    raw = tiny_project / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "AAPL.csv").write_text(_prices(30))
    truncated = _prices(30, 2.0)[:700]
    (raw / ".AAPL.csv.k3j2h1.fstore-tmp").write_text(truncated)
    (raw / "MSFT.csv.k3j2h1.fstore-tmp.csv").write_text(truncated)  # a temp name, even unhidden
    assert price_files(raw) == [raw / "AAPL.csv"]
    (tmp_path / "AAPL.csv").write_text(_prices(30))
    import_files(project, [tmp_path / "AAPL.csv"])
    assert _leftovers(raw) == []


def test_an_identical_file_is_left_alone(tiny_project: Path, tmp_path: Path) -> None:
    project = load_project(tiny_project)
    (tmp_path / "AAPL.csv").write_text(_prices(30))
    import_files(project, [tmp_path / "AAPL.csv"])
    target = tiny_project / "data" / "raw" / "AAPL.csv"
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    import_files(project, [tmp_path / "AAPL.csv"])
    assert target.stat().st_mtime_ns == 1_000_000_000  # so the next build is a no-op


def test_one_ingest_at_a_time(tiny_project: Path, tmp_path: Path) -> None:
    import fcntl

    from features.ingest.copy import LOCK_NAME

    project = load_project(tiny_project)
    raw = tiny_project / "data" / "raw"
    raw.mkdir(parents=True)
    (tmp_path / "AAPL.csv").write_text(_prices(30))
    with open(raw / LOCK_NAME, "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(IngestError, match="another `fstore ingest` is copying"):
            import_files(project, [tmp_path / "AAPL.csv"])
    assert not (raw / "AAPL.csv").exists()
    import_files(project, [tmp_path / "AAPL.csv"])
    assert (raw / "AAPL.csv").exists()


def test_ingest_refuses_what_the_build_would_refuse_and_copies_nothing(
    tiny_project: Path, tmp_path: Path
) -> None:
    project = load_project(tiny_project)
    raw = tiny_project / "data" / "raw"
    (tmp_path / "NEWCO.csv").write_text(_prices(10))
    (tiny_project / "config" / "project.toml").write_text('[ingest]\nunknown_symbols = "error"\n')
    with pytest.raises(UnknownSymbolError, match=r"NEWCO\.csv have no asset ID: NEWCO"):
        import_files(load_project(tiny_project), [tmp_path / "NEWCO.csv"])
    assert not (raw / "NEWCO.csv").exists()
    # a file already in data/raw that the build would refuse is named, even when another file is ingested
    (tiny_project / "config" / "project.toml").write_text("")
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "JUNK.csv").write_text("Date,Close\nnot a date,1\n")
    (tmp_path / "AAPL.csv").write_text(_prices(10))
    with pytest.raises(IngestError, match=r"JUNK\.csv: no usable price rows"):
        import_files(project, [tmp_path / "AAPL.csv"])
    assert not (raw / "AAPL.csv").exists()


def test_ingest_tells_the_truth_about_the_next_build(tiny_project: Path, tmp_path: Path, capsys) -> None:
    """What `fstore ingest` prints is what the build then does, symbols outside the universe included."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "AAPL.csv").write_text(HEADER + '2024-01-02,$10.00,$11.00,$9.00,$10.00,$10.00,"1,000"\n')
    (downloads / "MSFT.csv").write_text(
        HEADER + "2024-01-02,10,11,9,10,10,1.2M\n2024-01-03,10,9,11,10,10,5\n"
    )
    (downloads / "NEWCO.csv").write_text(HEADER + "2024-01-02,10,11,9,10,10,100\n")
    symbols = tiny_project / "config" / "symbols.json"
    assert _cli("ingest", str(downloads), "--dry-run", "--project", str(tiny_project)) == 0
    out = capsys.readouterr()
    assert "nothing was copied" in out.out and not (tiny_project / "data" / "raw" / "AAPL.csv").exists()
    from features.dimension import sync_symbols

    project = load_project(tiny_project)
    sync_symbols(project)  # the mapping JSON now exists
    data = json.loads(symbols.read_text())
    data["sectors"]["Technology"].append("ZZZ")  # in the universe, no asset ID yet: a note, not an error
    symbols.write_text(json.dumps(data))
    (downloads / "ZZZ.csv").write_text(HEADER + "2024-01-02,10,11,9,10,10,100\n")
    assert _cli("ingest", str(downloads), "--project", str(tiny_project)) == 0
    out = capsys.readouterr()
    assert "3 valid rows, 3 symbol(s)" in out.out
    assert "2 row(s) will go to raw_prices_rejected: 1 high < low, 1 symbol not in universe" in out.out
    assert "NEWCO (1 rows in" in out.err and "fstore symbols sync" in out.err
    assert "in config/symbols.json but have no asset ID yet: ZZZ" in out.err
    # the build agrees, once ZZZ is synced
    sync_symbols(project)
    con = duckdb.connect()
    ensure_dimension(con, project)
    summary = refresh_raw_prices(con, project, console=lambda _m: None)
    assert (summary.rows, summary.symbols) == (3, 3)
    assert summary.rejected == {"high < low": 1, "symbol not in universe": 1}
    assert con.execute(
        "select volume from raw_prices where symbol in ('AAPL', 'MSFT') order by 1"
    ).fetchall() == [
        (1000.0,),
        (1_200_000.0,),
    ]


def test_the_command_modules_load_nothing_heavy() -> None:
    """`fstore --help` builds every parser: registering these commands must not import DuckDB."""
    code = (
        "import sys, features.sources\n"
        "print(','.join(m for m in ('duckdb', 'pyarrow', 'polars', 'torch', 'sqlglot') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
