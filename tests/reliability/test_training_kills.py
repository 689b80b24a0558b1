"""SIGKILL at seeded random moments during ``fstore snapshot create`` and ``fstore train --resume``.

``snapshot create`` (each kill from the same starting state): afterwards the snapshot either does not
exist at all — no row, no sidecar, and the name is free: the next ``create`` succeeds — or it exists
whole: its file has the recorded size and SHA-256 and loads. Nothing else in the warehouse changed,
and the next ``create`` leaves no temp file behind.

``train --resume`` (kills one after another on the same run, as a user would resume again): after each
kill no run is left ``running``, every logged epoch is logged once, the logged epochs are 1..k with
k the checkpoint's epoch or one more, and each logged epoch's metrics equal an uninterrupted run's;
the final resume ends exactly where the uninterrupted run ends.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
import torch
from _reliability_kit import fstore, fstore_cmd, make_project, relation_fingerprints

KILLS = int(os.environ.get("FSTORE_KILLS", "20"))
SYMBOLS = {
    "sectors": {"Technology": ["AAPL", "MSFT", "NVDA"], "Finance": ["JPM", "GS"], "Energy": ["XOM"]},
    "etfs": {"Market": ["SPY", "QQQ"]},
    "crypto": {"Major": ["BTCUSD", "ETHUSD"]},
}


def _run_and_kill(root: Path, args: list[str], delay: float) -> int:
    proc = subprocess.Popen(fstore_cmd(root, *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    return proc.wait()


def _timed(root: Path, *args: str) -> float:
    start = time.perf_counter()
    out = fstore(root, *args)
    assert out.returncode == 0, out.stderr
    return time.perf_counter() - start


def _query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


# ----------------------------------------------------------------------------------- snapshot create


def _snapshot_state(root: Path, db: Path, name: str) -> str:
    """'absent' or 'complete' (verified); anything else fails the test."""
    from training.snapshots import file_sha256, list_snapshots

    folder = root / "data" / "snapshots"
    con = duckdb.connect(str(db), read_only=True)
    try:
        recorded = [s for s in list_snapshots(con) if s.name == name]
        described = [s for s in list_snapshots(con, folder) if s.name == name]
    finally:
        con.close()
    if not described:
        assert not recorded
        return "absent"
    snap = described[0]
    path = Path(snap.path)
    assert path.is_file(), "a recorded snapshot has its file"
    assert path.stat().st_size == snap.file_bytes and file_sha256(path) == snap.file_sha256
    assert _query(db, "select count(*) from read_parquet(?)", [str(path)]) == [(snap.rows,)]
    return "complete"


@pytest.mark.slow
def test_snapshot_create_survives_sigkill_at_random_moments(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj", SYMBOLS, years=1.0)
    db = root / "data" / "warehouse.duckdb"
    assert fstore(root, "build", "--quiet").returncode == 0
    before_state = tmp_path / "before"
    shutil.copytree(root, before_state)
    before = relation_fingerprints(db)
    span = _timed(root, "snapshot", "create", "probe")
    rows = _query(db, "select count(*) from training_set")[0][0]
    rng = random.Random(20261201)
    outcomes = {"killed": 0, "absent": 0, "complete": 0}
    for _ in range(KILLS):
        shutil.rmtree(root)
        shutil.copytree(before_state, root)
        # most of a create is starting Python; the writes come at the end, so the kills cluster there
        code = _run_and_kill(root, ["snapshot", "create", "v1"], span * rng.uniform(0.3, 0.95))
        outcomes["killed"] += code == -signal.SIGKILL
        state = _snapshot_state(root, db, "v1")
        outcomes[state] += 1
        after = relation_fingerprints(db)
        assert {k: v for k, v in after.items() if k != "dataset_snapshots"} == before
        again = fstore(root, "snapshot", "create", "v1")
        if state == "absent":
            assert again.returncode == 0, f"a killed create blocked its name: {again.stderr}"
        else:
            assert again.returncode == 2 and "already exists" in again.stderr
        assert _snapshot_state(root, db, "v1") == "complete"
        assert _query(db, "select rows from dataset_snapshots where name = 'v1'") == [(rows,)]
        litter = [p.name for p in (root / "data" / "snapshots").iterdir() if p.name.startswith(".")]
        assert not litter, f"temp files left behind: {litter}"
    assert outcomes["killed"] >= KILLS // 2, outcomes
    print(f"snapshot create: {KILLS} kills, outcomes {outcomes}")


# ----------------------------------------------------------------------------------- train --resume


def _epochs(db: Path, run_id: str) -> list[tuple]:
    return _query(
        db,
        "select epoch, split, round(loss, 6), round(auc, 6) from train_metrics where run_id = ?"
        " and split <> 'test' order by epoch, split",
        [run_id],
    )


@pytest.mark.slow
def test_train_resume_survives_sigkill_at_random_moments(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        SYMBOLS,
        years=1.5,
        paths_extra="[loader]\nlookback = 20\n[model]\nhidden = 16\n",
    )
    db = root / "data" / "warehouse.duckdb"
    assert fstore(root, "build", "--quiet").returncode == 0
    features = {k: v for k, v in relation_fingerprints(db).items() if not k.startswith("train_")}
    epochs = 30
    base = ["--no-progress", "--threads", "1", "--batch-size", "64", "--patience", str(epochs)]
    span = _timed(root, "train", "--epochs", "3", *base)  # start-up and three epochs
    reference = _query(db, "select run_id from train_runs")[0][0]
    assert fstore(root, "train", "--resume", reference, "--epochs", str(epochs), *base).returncode == 0
    expected = _epochs(db, reference)
    assert [e for e, s, *_ in expected if s == "train"] == list(range(1, epochs + 1))
    assert fstore(root, "train", "--epochs", "1", *base).returncode == 0
    run_id = _query(db, "select run_id from train_runs where run_id <> ?", [reference])[0][0]
    rng = random.Random(5)
    killed, seen = 0, set()
    for _ in range(KILLS):
        code = _run_and_kill(
            root, ["train", "--resume", run_id, "--epochs", str(epochs), *base], rng.uniform(0.3, span)
        )
        killed += code == -signal.SIGKILL
        assert fstore(root, "runs").returncode == 0  # marks the killed run failed
        status = _query(db, "select status, epochs_done from train_runs where run_id = ?", [run_id])
        assert status[0][0] in ("failed", "finished"), status
        logged = _epochs(db, run_id)
        k = max((e for e, *_ in logged), default=0)
        assert [(e, s) for e, s, *_ in logged] == [
            (e, s) for e in range(1, k + 1) for s in ("train", "valid")
        ]
        assert logged == expected[: 2 * k], "a logged epoch differs from the uninterrupted run's"
        assert status[0][1] == k
        emb = _query(
            db,
            "select epoch, count(*), count(distinct asset_id) from train_embeddings where run_id = ?"
            " group by 1 order by 1",
            [run_id],
        )
        assert [e for e, *_ in emb] == list(range(k + 1)) and all(n == d for _, n, d in emb)
        ckpt = torch.load(root / "runs" / run_id / "last.pt", map_location="cpu", weights_only=True)
        assert k in (ckpt["epoch"], ckpt["epoch"] + 1), (k, ckpt["epoch"])
        seen.add(k)
    final = fstore(root, "train", "--resume", run_id, "--epochs", str(epochs), *base)
    assert final.returncode == 0, final.stderr
    assert _epochs(db, run_id) == expected
    tests = _query(
        db,
        "select test_loss, test_auc, best_epoch from train_runs where run_id in (?, ?)",
        [run_id, reference],
    )
    assert tests[0] == tests[1]
    litter = [p.name for p in (root / "runs" / run_id).iterdir() if "fstore-tmp" in p.name]
    assert not litter, f"temp checkpoints left behind: {litter}"
    assert {k: v for k, v in relation_fingerprints(db).items() if not k.startswith("train_")} == features
    assert killed >= KILLS // 2, killed
    print(f"train --resume: {KILLS} kills ({killed} mid-run), epochs reached after each: {sorted(seen)}")
