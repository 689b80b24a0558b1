"""SIGKILL `fstore ingest --force` at seeded random moments: every file in data/raw is old or new, whole.

The harness follows test_crash_safety.py: a real `fstore` process, killed after a delay drawn with a
fixed seed, until KILLS processes were really killed. Half the delays fall anywhere in the
command's span; the other half count from the moment the first temp file appears in data/raw, so
those kills land while copies are being written. After each kill:
- every file in data/raw has the content hash of its old or its new version;
- the build's scan sees exactly the expected files (a temp file a kill left is never read);
- the next `fstore ingest --force` succeeds, leaves every file new and removes the stale temps.
At the end a build ingests exactly the new files.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from _reliability_kit import fstore, make_project

from features.ingest import price_files
from features.warehouse import TEMP_SUFFIX

KILLS = int(os.environ.get("FSTORE_KILLS", "20"))
SYMBOLS = {
    "sectors": {"Technology": ["AAPL", "MSFT", "NVDA"], "Finance": ["JPM", "GS"], "Energy": ["XOM"]},
    "etfs": {"Market": ["SPY", "QQQ"]},
}
NAMES = [f"{s}.csv" for group in SYMBOLS.values() for members in group.values() for s in members]


def _write_prices(path: Path, rows: int, scale: float) -> None:
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for i in range(rows):
        day = f"{1900 + i // 336}-{1 + (i // 28) % 12:02d}-{1 + i % 28:02d}"
        c = (100 + (i * 7919) % 97) * scale
        lines.append(f"{day},{c:.4f},{c * 1.01:.4f},{c * 0.99:.4f},{c:.4f},{c:.4f},{1000 + i}")
    path.write_text("\n".join(lines) + "\n")


def _hashes(folder: Path) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in NAMES}


def _temps(raw: Path) -> list[Path]:
    return [p for p in raw.iterdir() if TEMP_SUFFIX in p.name]  # features.warehouse.temp_name_pattern


def _kill(
    root: Path, args: list[str], delay: float, *, watch: Path | None = None, timeout: float = 30.0
) -> int:
    """Start `fstore ARGS`, SIGKILL it after ``delay`` seconds (counted from when a temp file first
    appears in ``watch``, when given: then the kill lands while a copy is being written)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "features", *args, "--project", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if watch is not None:
        deadline = time.monotonic() + timeout
        while proc.poll() is None and not _temps(watch) and time.monotonic() < deadline:
            time.sleep(0.001)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    return proc.wait()


@pytest.mark.slow
def test_ingest_force_survives_sigkill_at_random_moments(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj", SYMBOLS, years=0.2)
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_dir.mkdir(), new_dir.mkdir()
    for i, name in enumerate(NAMES):
        _write_prices(old_dir / name, 30_000 + i, 1.0)
        _write_prices(new_dir / name, 40_000 + i, 2.0)  # ~2.5 MB each: the copies take a while
    raw = root / "data" / "raw"
    assert fstore(root, "ingest", str(old_dir)).returncode == 0
    old, new = _hashes(old_dir), _hashes(new_dir)
    assert _hashes(raw) == old
    pristine = tmp_path / "raw-old"
    shutil.copytree(raw, pristine)

    def restore() -> None:
        shutil.rmtree(raw)
        shutil.copytree(pristine, raw)

    restore()
    started = time.time()
    clean = fstore(root, "ingest", str(new_dir), "--force")
    span = time.time() - started
    assert clean.returncode == 0, clean.stderr

    rng = random.Random(20261201)
    outcomes = {"killed": 0, "all old": 0, "mixed": 0, "all new": 0, "temp left": 0}

    def kill_once(delay: float, *, while_copying: bool) -> None:
        restore()
        args = ["ingest", str(new_dir), "--force"]
        code = _kill(root, args, delay, watch=raw if while_copying else None, timeout=2 * span)
        outcomes["killed"] += code == -signal.SIGKILL
        state = _hashes(raw)
        for name, digest in state.items():
            assert digest in (old[name], new[name]), (
                f"after a kill at {delay:.3f}s {name} is neither old nor new"
            )
        versions = {"old" if state[n] == old[n] else "new" for n in NAMES}
        outcomes["mixed" if len(versions) == 2 else f"all {versions.pop()}"] += 1
        outcomes["temp left"] += bool(_temps(raw))
        assert price_files(raw) == sorted(raw / n for n in NAMES)  # temps are never read
        again = fstore(root, "ingest", str(new_dir), "--force")
        assert again.returncode == 0, again.stderr
        assert _hashes(raw) == new and not _temps(raw)

    # Kill until KILLS processes were really killed mid-command (a run that outpaces its delay
    # finishes, and is checked the same way). Every other kill waits for the first temp file.
    # On a loaded machine a copy can end before its delay: then keep killing while copying, sooner,
    # until a quarter of KILLS landed mid-copy (bounded by the attempts).
    def mid_copy() -> int:
        return outcomes["mixed"] + outcomes["temp left"]

    attempts = 0
    while (outcomes["killed"] < KILLS or mid_copy() < KILLS // 4) and attempts < 4 * KILLS:
        if outcomes["killed"] >= KILLS:
            kill_once(rng.uniform(0.0, 0.03), while_copying=True)
        elif attempts % 2:
            kill_once(rng.uniform(0.0, 0.15), while_copying=True)
        else:
            kill_once(rng.uniform(0.05, span * 1.05), while_copying=False)
        attempts += 1
    assert outcomes["killed"] >= KILLS, outcomes
    assert mid_copy() >= KILLS // 4, f"too few kills landed while copying: {outcomes}"
    built = fstore(root, "build", "--quiet", "--no-tests")
    assert built.returncode == 0, built.stderr
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("select count(*) from raw_prices").fetchone()[0]
    finally:
        con.close()
    assert rows == sum(40_000 + i for i in range(len(NAMES)))
