"""Training runs end to end on a tiny planted market: determinism, logging, failure states, resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import planted
import pytest
import torch

from features.config import load_project
from features.errors import ConfigError, TrainingError
from training import runs
from training import train as train_mod
from training.train import _StopSignals, auc, evaluate_run, run_training, spearman

torch.set_num_threads(1)


def _db(root: Path) -> Path:
    return root / "data" / "warehouse.duckdb"


@pytest.fixture
def project(tmp_path: Path):
    return load_project(planted.make_project(tmp_path / "proj", days=300))


# ----------------------------------------------------------------------------------- metrics


def test_auc_equals_the_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=60), 1)  # rounding creates ties
    labels = (rng.random(60) < 0.4).astype(float)
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p in pos for n in neg]
    assert auc(scores, labels) == pytest.approx(np.mean(pairs))
    assert auc(scores, np.ones(60)) is None


def test_spearman_is_pearson_of_ranks() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=50), rng.normal(size=50)
    b = a + b  # correlated
    ra, rb = a.argsort().argsort(), b.argsort().argsort()
    assert spearman(a, b) == pytest.approx(np.corrcoef(ra, rb)[0, 1])
    assert spearman(a, np.ones(50)) is None


# ----------------------------------------------------------------------------------- runs


def test_same_config_and_seed_give_the_same_metrics(project) -> None:
    first = run_training(project, epochs=2)
    second = run_training(project, epochs=2)
    other = run_training(project, epochs=2, train_overrides={"seed": 1})
    strip = [
        [{k: v for k, v in h[s].items() if "per_s" not in k and "wait" not in k} for s in ("train", "valid")]
        for h in first.history
    ]
    again = [
        [{k: v for k, v in h[s].items() if "per_s" not in k and "wait" not in k} for s in ("train", "valid")]
        for h in second.history
    ]
    assert strip == again
    assert first.test["loss"] == second.test["loss"]
    assert other.history[0]["train"]["loss"] != first.history[0]["train"]["loss"]
    vectors = planted.query(
        project.root,
        "select run_id, list(vector order by asset_id) from train_embeddings where epoch = 2 group by run_id",
    )
    by_run = dict(vectors)
    assert by_run[first.run_id] == by_run[second.run_id]
    assert by_run[first.run_id] != by_run[other.run_id]


def test_a_run_is_logged_in_the_warehouse(project) -> None:
    result = run_training(project, epochs=2, device="cpu")
    run = planted.query(project.root, "select * from train_runs where run_id = ?", [result.run_id])
    assert len(run) == 1
    cols = [r[0] for r in planted.query(project.root, "select column_name from (describe train_runs)")]
    row = dict(zip(cols, run[0], strict=True))
    assert row["status"] == "finished" and row["ended_at"] >= row["started_at"]
    assert row["mapping_version"] == "1.0" and row["device"] == "cpu"
    assert row["pid"] == os.getpid() and row["host"] == socket.gethostname()
    assert row["num_params"] == result.num_params > 0
    assert row["epochs_done"] == 2 and row["best_epoch"] == result.best_epoch
    assert row["test_auc"] == pytest.approx(result.test["auc"])
    assert json.loads(row["config"])["model"]["combine"] == "concat"
    metrics = planted.query(
        project.root,
        "select epoch, split, loss from train_metrics where run_id = ? order by epoch, split",
        [result.run_id],
    )
    splits = [(e, s) for e, s, _ in metrics]
    assert sorted(splits) == sorted(
        [(1, "train"), (1, "valid"), (2, "train"), (2, "valid"), (result.best_epoch, "test")]
    )
    n = len(planted.assets())
    emb = planted.query(
        project.root,
        "select epoch, count(*), any_value(typeof(vector)), min(dim) from train_embeddings where run_id = ?"
        " group by epoch order by epoch",
        [result.run_id],
    )
    assert emb == [(0, n, "FLOAT[32]", 8), (1, n, "FLOAT[32]", 8), (2, n, "FLOAT[32]", 8)]
    stats = planted.query(
        project.root,
        "select epoch, drift_mean from train_embedding_stats where run_id = ? order by 1",
        [result.run_id],
    )
    assert [e for e, _ in stats] == [0, 1, 2] and stats[0][1] is None and 0 < stats[1][1] <= 1
    folder = project.path(project.paths.runs) / result.run_id
    ckpt = train_mod.load_checkpoint(folder / "best.pt")
    assert ckpt["mapping_version"] == "1.0"
    assert ckpt["dataset_fingerprint"] == row["dataset_fingerprint"]
    assert ckpt["model_config"]["combine"] == "concat" and ckpt["feature_names"] == ["ret_1d"]


def test_evaluate_reproduces_the_logged_test_metrics(project) -> None:
    result = run_training(project, epochs=1)
    again = evaluate_run(project, result.run_id[:12], split="test")
    assert again["loss"] == pytest.approx(result.test["loss"], rel=1e-6)
    assert again["auc"] == pytest.approx(result.test["auc"])


def test_an_exception_marks_the_run_failed_and_ctrl_c_interrupted(project, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(train_mod, "evaluate", boom)
    with pytest.raises(RuntimeError):
        run_training(project, epochs=1)

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "evaluate", stop)
    with pytest.raises(KeyboardInterrupt):
        run_training(project, epochs=1)
    rows = planted.query(
        project.root, "select status, error, ended_at is not null from train_runs order by started_at"
    )
    assert rows[0][0] == "failed" and "disk on fire" in rows[0][1] and rows[0][2]
    assert rows[1][0] == "interrupted" and rows[1][2]


def test_a_signal_stops_at_the_next_safe_point_and_a_second_one_at_once() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with _StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.received == signal.SIGTERM  # noted, nothing raised yet (could be inside DuckDB)
        with pytest.raises(KeyboardInterrupt):
            stop.check()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_killed_run_is_found_and_marked_failed(project) -> None:
    db = _db(project.root)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    with runs.writing(db) as con:
        for run_id, pid, host in (
            ("dead", dead_pid, socket.gethostname()),
            ("alive", os.getpid(), socket.gethostname()),
            ("elsewhere", dead_pid, "another-host"),
        ):
            con.execute(
                "insert into train_runs (run_id, status, started_at, pid, host) values (?, 'running', now(), ?, ?)",
                [run_id, pid, host],
            )
    assert runs.mark_stale_runs(db) == ["dead"]
    rows = dict(planted.query(project.root, "select run_id, status from train_runs"))
    assert rows == {"dead": "failed", "alive": "running", "elsewhere": "running"}
    error = planted.query(project.root, "select error from train_runs where run_id = 'dead'")[0][0]
    assert f"pid {dead_pid}" in error


def test_resume_continues_to_the_same_result_as_an_uninterrupted_run(project) -> None:
    straight = run_training(project, epochs=3, train_overrides={"patience": 10})
    part = run_training(project, epochs=1, train_overrides={"patience": 10})
    resumed = run_training(project, epochs=3, resume=part.run_id)
    assert resumed.run_id == part.run_id
    assert [h["valid"]["loss"] for h in resumed.history] == [h["valid"]["loss"] for h in straight.history]
    assert resumed.test["loss"] == straight.test["loss"]
    rows = planted.query(
        project.root, "select status, epochs_done from train_runs where run_id = ?", [part.run_id]
    )
    assert rows == [("finished", 3)]
    epochs = planted.query(
        project.root,
        "select epoch from train_metrics where run_id = ? and split = 'train' order by 1",
        [part.run_id],
    )
    assert [e for (e,) in epochs] == [1, 2, 3]
    tests = planted.query(
        project.root, "select epoch from train_metrics where run_id = ? and split = 'test'", [part.run_id]
    )
    assert tests == [(resumed.best_epoch,)], "one test score, for the resumed run's best epoch"


def test_resume_refuses_a_changed_dataset(project) -> None:
    part = run_training(project, epochs=1)
    con = duckdb.connect(str(_db(project.root)))
    con.execute("update training_set set ret_1d = ret_1d * 2 where asset_id = 0")
    con.close()
    with pytest.raises(TrainingError, match="--init-from"):
        run_training(project, epochs=2, resume=part.run_id)
    with pytest.raises(ConfigError, match="pick one"):
        run_training(project, resume=part.run_id, init_from=part.run_id)
    with pytest.raises(TrainingError, match="no training run 'nope'"):
        run_training(project, resume="nope")


def test_regression_task_reports_information_coefficient(project) -> None:
    result = run_training(project, epochs=1, model_overrides={"task": "regression", "encoder": "lstm"})
    assert result.test["auc"] is None and result.test["ic"] is not None
    cfg = json.loads(
        planted.query(project.root, "select config from train_runs where run_id = ?", [result.run_id])[0][0]
    )
    assert cfg["loader"]["label"] == "fwd_ret_1d"


def test_sigterm_to_a_training_process_marks_its_run_interrupted(project) -> None:
    cmd = [
        sys.executable,
        "-m",
        "features",
        "train",
        "--project",
        str(project.root),
        "--epochs",
        "200",
        "--patience",
        "200",
        "--no-progress",
        "--threads",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    runs_dir = project.path(project.paths.runs)
    try:
        deadline = time.monotonic() + 120
        while not list(runs_dir.glob("*/last.pt")):  # one epoch done: the run is logged and running
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no epoch finished in time"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    rows = planted.query(project.root, "select status, error, ended_at is not null from train_runs")
    assert rows == [("interrupted", "interrupted by the user or a signal", True)]


def test_bad_train_settings_are_reported_together(project) -> None:
    with pytest.raises(ConfigError) as err:
        run_training(project, train_overrides={"batch_size": 0, "lr": -1.0, "patience": 0})
    assert (
        "batch_size = 0" in str(err.value)
        and "lr = -1.0" in str(err.value)
        and "patience = 0" in str(err.value)
    )
