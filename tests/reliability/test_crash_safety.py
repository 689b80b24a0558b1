"""SIGKILL at seeded random moments: nothing is ever half-written.

Each scenario starts a real `fstore` process on a small project, kills it with SIGKILL after a
random delay drawn (with a fixed seed) over the span the command takes, then checks:
- the warehouse opens;
- every relation is either its previous or its new complete version (content hash);
- config/asset_id_mapping.json is valid and either the old or the new mapping (or, for `symbols
  recover`, absent or whole), and the warehouse agrees with it or is caught up by the next command;
- the next command succeeds and gives what a clean run gives.
"""

from __future__ import annotations

import fnmatch
import json
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
from _reliability_kit import fstore, make_project, relation_fingerprints

from features.mapping import load_mapping
from features.warehouse import TEMP_SUFFIX, temp_name_pattern

KILLS = int(os.environ.get("FSTORE_KILLS", "20"))
SYMBOLS = {
    "sectors": {"Technology": ["AAPL", "MSFT", "NVDA"], "Finance": ["JPM", "GS"], "Energy": ["XOM"]},
    "etfs": {"Market": ["SPY", "QQQ"]},
    "crypto": {"Major": ["BTCUSD", "ETHUSD"]},
}


def _run_and_kill(root: Path, args: list[str], delay: float) -> int | None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "features", *args, "--project", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    return proc.wait()


def _duration(root: Path, args: list[str]) -> float:
    start = time.perf_counter()
    out = fstore(root, *args)
    assert out.returncode == 0, out.stderr
    return time.perf_counter() - start


def _snapshot(root: Path) -> Path:
    dest = root.parent / f"{root.name}-snap"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(root, dest)
    return dest


def _restore(snapshot: Path, root: Path) -> None:
    shutil.rmtree(root)
    shutil.copytree(snapshot, root)


@pytest.mark.slow
def test_build_survives_sigkill_at_random_moments(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj", SYMBOLS, years=1.0)
    db = root / "data" / "warehouse.duckdb"
    assert fstore(root, "build", "--quiet").returncode == 0
    old = relation_fingerprints(db)
    # A change that rewrites every price-derived relation: a restated year of prices.
    prices = root / "data" / "raw"
    prices.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db), read_only=True)
    con.execute(
        "copy (select symbol, ts, open * 1.01 as open, high * 1.01 as high, low * 1.01 as low, "
        "close * 1.01 as close, volume from raw_prices) to ? (format parquet)",
        [str(prices / "prices.parquet")],
    )
    con.close()
    before = _snapshot(root)
    span = _duration(root, ["build", "--quiet"])
    new = relation_fingerprints(db)
    changed = {name for name in new if old.get(name) != new[name]}
    assert {"raw_prices", "training_set"} <= changed

    rng = random.Random(20261126)
    outcomes = {"killed": 0, "finished": 0}
    for _ in range(KILLS):
        _restore(before, root)
        code = _run_and_kill(root, ["build", "--quiet"], rng.uniform(0.1, span * 1.05))
        outcomes["killed" if code == -signal.SIGKILL else "finished"] += 1
        state = relation_fingerprints(db)  # the warehouse opens and every relation reads
        for name, value in state.items():
            assert value in (old.get(name), new.get(name)), f"{name} is neither its old nor its new version"
        load_mapping(root / "config" / "asset_id_mapping.json")
        again = fstore(root, "build", "--quiet")
        assert again.returncode == 0, again.stderr
        after = relation_fingerprints(db)
        differ = sorted(k for k in set(after) | set(new) if after.get(k) != new.get(k))
        assert not differ, f"after a kill the next build differs from a clean build in {differ}"
    assert outcomes["killed"] >= KILLS // 2, outcomes


@pytest.mark.slow
def test_symbols_sync_survives_sigkill_at_random_moments(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj", SYMBOLS, years=0.2)
    assert fstore(root, "build", "--quiet").returncode == 0
    mapping_path = root / "config" / "asset_id_mapping.json"
    old_ids = load_mapping(mapping_path).symbol_to_id
    grown = json.loads(json.dumps(SYMBOLS))
    grown["crypto"]["Major"] += ["SOLUSD", "ADAUSD"]
    grown["sectors"]["Finance"].remove("GS")
    (root / "config" / "symbols.json").write_text(json.dumps(grown, indent=2))
    before = _snapshot(root)
    span = _duration(root, ["symbols", "sync"])
    new_mapping = load_mapping(mapping_path)
    new_ids = new_mapping.symbol_to_id
    assert new_ids["ADAUSD"] == len(old_ids) and new_ids["SOLUSD"] == len(old_ids) + 1

    rng = random.Random(7)
    killed = 0
    for _ in range(KILLS):
        _restore(before, root)
        code = _run_and_kill(root, ["symbols", "sync"], rng.uniform(0.05, span * 1.1))
        killed += code == -signal.SIGKILL
        mapping = load_mapping(mapping_path)  # always valid: written by atomic rename
        assert mapping.symbol_to_id in (old_ids, new_ids)
        # the next command reconciles: a sync (idempotent) and then a build agree with the JSON
        again = fstore(root, "symbols", "sync")
        assert again.returncode == 0, again.stderr
        assert load_mapping(mapping_path).symbol_to_id == new_ids
        con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
        rows = con.execute("select symbol, asset_id from dim_symbol").fetchall()
        con.close()
        assert dict(rows) == new_ids
        assert load_mapping(mapping_path).version == new_mapping.version
        assert _litter(mapping_path) == []  # temps and the lock a killed writer left are gone
    assert killed >= KILLS // 2


def _litter(mapping_path: Path) -> list[str]:
    """Files a writer of the mapping leaves only when killed: its temp files (today's
    ``temp_name_pattern``, the ``.{name}.*.tmp`` of earlier versions) and its lock file, all of them
    named ``.{name}…``; the test also asserts today's pattern is one of those, so it cannot drift."""
    assert fnmatch.fnmatch(f".{mapping_path.name}.0a1b2c3d{TEMP_SUFFIX}", temp_name_pattern(mapping_path))
    assert temp_name_pattern(mapping_path).startswith(f".{mapping_path.name}")
    return sorted(p.name for p in mapping_path.parent.iterdir() if p.name.startswith(f".{mapping_path.name}"))


def _dimension(root: Path) -> dict[str, tuple]:
    fingerprints = relation_fingerprints(root / "data" / "warehouse.duckdb")
    return {name: fingerprints.get(name) for name in ("dim_symbol", "dim_symbol_history", "mapping_versions")}


@pytest.mark.slow
def test_symbols_restore_survives_sigkill_at_random_moments(tmp_path: Path) -> None:
    """A warehouse behind the file (a sync that died between its two writes) rebuilt by `symbols
    restore`: killed anywhere, the tables are the old or the new ones, whole; the file is untouched."""
    root = make_project(tmp_path / "proj", SYMBOLS, years=0.2)
    assert fstore(root, "build", "--quiet").returncode == 0
    db = root / "data" / "warehouse.duckdb"
    behind = db.read_bytes()
    grown = json.loads(json.dumps(SYMBOLS))
    grown["crypto"]["Major"] += ["SOLUSD"]
    (root / "config" / "symbols.json").write_text(json.dumps(grown, indent=2))
    assert fstore(root, "symbols", "sync").returncode == 0
    file_bytes = (root / "config" / "asset_id_mapping.json").read_bytes()
    new = _dimension(root)
    db.write_bytes(behind)  # the warehouse's write was lost
    old = _dimension(root)
    assert old != new
    before = _snapshot(root)
    span = _duration(root, ["symbols", "restore"])
    assert _dimension(root) == new
    rng = random.Random(23)
    killed = 0
    for _ in range(KILLS):
        _restore(before, root)
        code = _run_and_kill(root, ["symbols", "restore"], rng.uniform(0.05, span * 1.1))
        killed += code == -signal.SIGKILL
        assert _dimension(root) in (old, new)  # whole tables, the old ones or the new ones
        assert (root / "config" / "asset_id_mapping.json").read_bytes() == file_bytes
        again = fstore(root, "symbols", "restore")
        assert again.returncode == 0, again.stderr
        assert _dimension(root) == new
    assert killed >= KILLS // 2


@pytest.mark.slow
def test_symbols_recover_survives_sigkill_at_random_moments(tmp_path: Path) -> None:
    """A deleted mapping file written back by `symbols recover`: killed anywhere, the file is absent or
    whole (the same bytes as before it was deleted), never half; the next recover finishes the job."""
    root = make_project(tmp_path / "proj", SYMBOLS, years=0.2)
    assert fstore(root, "build", "--quiet").returncode == 0
    mapping_path = root / "config" / "asset_id_mapping.json"
    grown = json.loads(json.dumps(SYMBOLS))
    grown["sectors"]["Energy"] += ["CVX"]
    (root / "config" / "symbols.json").write_text(json.dumps(grown, indent=2))
    assert fstore(root, "symbols", "sync").returncode == 0
    original = mapping_path.read_bytes()
    tables = _dimension(root)
    mapping_path.unlink()
    before = _snapshot(root)
    span = _duration(root, ["symbols", "recover"])
    assert mapping_path.read_bytes() == original
    rng = random.Random(29)
    killed = 0
    for _ in range(KILLS):
        _restore(before, root)
        code = _run_and_kill(root, ["symbols", "recover"], rng.uniform(0.05, span * 1.1))
        killed += code == -signal.SIGKILL
        assert not mapping_path.exists() or mapping_path.read_bytes() == original
        assert _dimension(root) == tables  # recover never writes the warehouse
        again = fstore(root, "symbols", "recover")
        assert again.returncode == 0, again.stderr
        assert mapping_path.read_bytes() == original
        assert _litter(mapping_path) == []
        assert fstore(root, "symbols", "sync").returncode == 0  # and the copies agree
    assert killed >= KILLS // 2


@pytest.mark.slow
def test_train_survives_sigkill_and_is_never_left_running(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj", SYMBOLS, years=1.0)
    db = root / "data" / "warehouse.duckdb"
    assert fstore(root, "build", "--quiet").returncode == 0
    features_before = {k: v for k, v in relation_fingerprints(db).items() if not k.startswith("train_")}
    train = ["train", "--epochs", "2", "--no-progress", "--batch-size", "128", "--threads", "1"]
    span = _duration(root, train)
    rng = random.Random(11)
    killed = 0
    for _ in range(KILLS):
        code = _run_and_kill(root, train, rng.uniform(0.5, span * 1.05))
        killed += code == -signal.SIGKILL
        listing = fstore(root, "runs")  # finds runs whose process is gone and marks them failed
        assert listing.returncode == 0, listing.stderr
        con = duckdb.connect(str(db), read_only=True)
        try:
            statuses = [r[0] for r in con.execute("select status from train_runs").fetchall()]
            orphans = con.execute(
                "select (select count(*) from train_metrics where run_id not in (select run_id from train_runs))"
                " + (select count(*) from train_embeddings where run_id not in (select run_id from train_runs))"
            ).fetchall()[0][0]
        finally:
            con.close()
        assert "running" not in statuses
        assert set(statuses) <= {"finished", "failed", "interrupted"}
        assert orphans == 0
        assert {
            k: v for k, v in relation_fingerprints(db).items() if not k.startswith("train_")
        } == features_before
    finished = fstore(root, *train)
    assert finished.returncode == 0, finished.stderr
    assert killed >= KILLS // 2
