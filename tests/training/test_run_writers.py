"""One writer per run, and a log that agrees with the checkpoints (issue 12): two resumes of one run at
once, a pid reused after a kill, a crash between logging an epoch and checkpointing it, ``latest``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import planted
import pytest
import torch

from features.cli import main
from features.config import load_project
from features.errors import TrainingError
from training import checkpoints, runs
from training import train as train_mod
from training.locks import RunLock
from training.train import run_training

torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path: Path):
    return load_project(planted.make_project(tmp_path / "proj", days=300))


def _cmd(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "features", *args, "--project", str(root)]


def _duplicates(root: Path, run_id: str) -> list[tuple]:
    return planted.query(
        root,
        "select 'metrics', epoch, split, count(*) from train_metrics where run_id = ? group by all"
        " having count(*) > 1 union all"
        " select 'embeddings', epoch, asset_id::varchar, count(*) from train_embeddings where run_id = ?"
        " group by all having count(*) > 1",
        [run_id, run_id],
    )


# ----------------------------------------------------------------------------------- one writer


def test_two_resumes_of_one_run_at_once_let_exactly_one_train(project) -> None:
    part = run_training(project, epochs=1)
    resume = _cmd(project.root, "train", "--resume", part.run_id, "--epochs", "60", "--patience", "60")
    resume += ["--no-progress", "--threads", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [
        subprocess.Popen(resume, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 120
        while all(p.poll() is None for p in procs):  # the second is refused while the first trains
            assert time.monotonic() < deadline, "neither resume was refused"
            time.sleep(0.1)
        refused = next(p for p in procs if p.poll() is not None)
        trainer = next(p for p in procs if p is not refused)
        err = refused.stderr.read()
        assert refused.returncode == 1, err
        assert f"run {part.run_id} is being trained by another process (pid {trainer.pid} on" in err
        assert socket.gethostname() in err and "Traceback" not in err
        assert trainer.poll() is None, "the first resume keeps training"
        while not trainer.stdout.readline().startswith("epoch 3:"):  # it trains (and logs) on
            assert trainer.poll() is None, trainer.stderr.read()
        trainer.send_signal(signal.SIGTERM)
        assert trainer.wait(timeout=60) == 130
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
    assert _duplicates(project.root, part.run_id) == []
    status = planted.query(project.root, "select status, pid from train_runs where run_id = ?", [part.run_id])
    assert status == [("interrupted", trainer.pid)]


def test_a_held_lock_refuses_a_resume_at_once_naming_the_holder(project) -> None:
    part = run_training(project, epochs=1)
    folder = checkpoints.run_dir(project, part.run_id)
    with RunLock.acquire(folder, part.run_id):  # this process trains it, as far as anyone can tell
        start = time.perf_counter()
        with pytest.raises(TrainingError, match=rf"pid {os.getpid()} on {socket.gethostname()}"):
            run_training(project, epochs=2, resume=part.run_id)
        assert time.perf_counter() - start < 5
    assert planted.query(project.root, "select status from train_runs") == [("finished",)]


def test_a_running_row_whose_lock_is_free_is_stale_even_if_its_pid_was_reused(project) -> None:
    """After a SIGKILL the pid can be reused (containers start again at 1): the free lock tells."""
    part = run_training(project, epochs=1)
    with runs.writing(project.warehouse_path) as con:  # as if killed, its pid now another live process
        con.execute(
            "update train_runs set status = 'running', pid = ?, host = ? where run_id = ?",
            [os.getpid(), socket.gethostname(), part.run_id],
        )
    assert runs.mark_stale_runs(project.warehouse_path) == [part.run_id]
    resumed = run_training(project, epochs=2, resume=part.run_id)
    assert resumed.status == "finished"


def test_the_warehouse_claim_refuses_a_run_another_process_marked_running(project) -> None:
    part = run_training(project, epochs=1)
    with runs.writing(project.warehouse_path) as con:
        con.execute("update train_runs set status = 'running', pid = 1 where run_id = ?", [part.run_id])
    with pytest.raises(TrainingError, match="still running"), runs.writing(project.warehouse_path) as con:
        runs.reopen_run(con, part.run_id, device="cpu", epoch=1)


# ----------------------------------------------------------------------------------- log vs checkpoint


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in the training step."""


def test_a_crash_between_an_epochs_log_and_its_checkpoint_loses_no_epoch(
    project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second of epoch 2's writes (its warehouse log, its checkpoints: whichever order they come in)
    fails: after a resume every epoch is logged exactly once and the run ends where an uninterrupted one
    does (the kill harness in tests/reliability does the same with real SIGKILLs)."""
    straight = run_training(project, epochs=4, train_overrides={"patience": 10})
    real_log, real_save = runs.log_epoch, train_mod.save_checkpoint
    writes = []

    def write(kind: str, epoch: int) -> None:
        if epoch == 2:
            writes.append(kind)
            if len(writes) == 2:
                raise _Killed(writes)

    def log(*args, **kwargs):
        write("log", args[2])
        return real_log(*args, **kwargs)

    def save(path, payload):
        write(path.name, payload["epoch"])
        return real_save(path, payload)

    monkeypatch.setattr(runs, "log_epoch", log)
    monkeypatch.setattr(train_mod, "save_checkpoint", save)
    with pytest.raises(_Killed):
        run_training(project, epochs=4, train_overrides={"patience": 10})
    monkeypatch.setattr(runs, "log_epoch", real_log)
    monkeypatch.setattr(train_mod, "save_checkpoint", real_save)
    run_id = planted.query(project.root, "select run_id from train_runs where status <> 'finished'")[0][0]
    with runs.writing(project.warehouse_path) as con:  # as a SIGKILL leaves it: still running, pid gone
        con.execute("update train_runs set status = 'running', pid = 999999 where run_id = ?", [run_id])
    resumed = run_training(project, epochs=4, resume=run_id)
    epochs = planted.query(
        project.root,
        "select epoch, split, loss from train_metrics where run_id = ? and split <> 'test' order by 1, 2",
        [run_id],
    )
    assert [(e, s) for e, s, _ in epochs] == [(e, s) for e in (1, 2, 3, 4) for s in ("train", "valid")]
    again = planted.query(
        project.root,
        "select epoch, split, loss from train_metrics where run_id = ? and split <> 'test' order by 1, 2",
        [straight.run_id],
    )
    assert [loss for *_, loss in epochs] == pytest.approx([loss for *_, loss in again])
    assert resumed.test["loss"] == pytest.approx(straight.test["loss"])
    emb = planted.query(
        project.root,
        "select epoch, count(*) from train_embeddings where run_id = ? group by 1 order by 1",
        [run_id],
    )
    assert emb == [(e, len(planted.assets())) for e in range(5)]
    best = checkpoints.load_checkpoint(checkpoints.run_dir(project, run_id) / checkpoints.BEST)
    assert best["best_epoch"] == resumed.best_epoch


def test_an_epoch_logged_twice_is_kept_once(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    for _ in range(2):
        runs.log_epoch(db, "r", 1, [{"split": "train", "loss": 0.5}, {"split": "valid", "loss": 0.6}])
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("select epoch, split, count(*) from train_metrics group by all order by 2").fetchall()
    con.close()
    assert rows == [(1, "train", 1), (1, "valid", 1)]


# ----------------------------------------------------------------------------------- latest


def test_latest_is_the_newest_finished_run_and_unfinished_runs_are_flagged(
    project, capsys: pytest.CaptureFixture
) -> None:
    done = run_training(project, epochs=1)
    stopped = run_training(project, epochs=1)
    with runs.writing(project.warehouse_path) as con:
        con.execute("update train_runs set status = 'interrupted' where run_id = ?", [stopped.run_id])
    root = str(project.root)
    assert main(["embeddings", "latest", "--project", root, "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert "warning" not in out.err
    assert main(["embeddings", stopped.run_id, "--project", root, "--format", "csv"]) == 0
    err = capsys.readouterr().err
    assert f"warning: run {stopped.run_id} is interrupted, not finished" in err
    con = duckdb.connect(str(project.warehouse_path))
    try:
        assert runs.resolve_run(con, "latest")["run_id"] == done.run_id
        con.execute("update train_runs set status = 'failed'")
        with pytest.raises(TrainingError, match="no finished training run yet"):
            runs.resolve_run(con, "latest")
    finally:
        con.close()
