"""Feedback on every step that can take seconds (issue 14 item 6): loading, validation and test scoring,
exporting show a bar on a terminal, and the training bar shows the time left in the epoch and the run."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import duckdb
import pytest
import torch
import warehouse_factory as wf
from rich.console import Console

from training import WindowDataset
from training.export import export_windows
from training.model import TradingModel
from training.progress import Progress, progress_for
from training.train import evaluate

torch.set_num_threads(1)


class Recorder:
    """A Task that remembers what it was told: [label, total, counted]."""

    def __init__(self) -> None:
        self.steps: list[list] = []

    def reset(self, label: str, total: int | None) -> None:
        self.steps.append([label, total, 0])

    def advance(self, n: int = 1, **fields) -> None:
        self.steps[-1][2] += n

    def done(self) -> None:
        self.steps[-1].append("done")


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=140, color_system=None), out


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wf.make_project(tmp_path_factory.mktemp("progress") / "p")


def test_loading_counts_every_row_it_reads(root: Path) -> None:
    from features.config import load_project
    from training.loader import LoadOptions, load_splits

    project = load_project(root)
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    task = Recorder()
    try:
        rows = con.execute("select count(*) from training_set").fetchall()[0][0]
        data = load_splits(
            con,
            project,
            ("train", "valid"),
            LoadOptions.resolve(project, lookback=8),
            stats=None,
            snapshot=None,
            device="cpu",
            block_on_device=True,
            task=task,
        )
    finally:
        con.close()
    block_rows = sum(ds.describe()["block_rows"] for ds in data.values())
    assert task.steps == [["reading rows", rows, rows], ["reading windows", block_rows, block_rows]]


def test_scoring_and_exporting_count_every_window(root: Path, tmp_path: Path) -> None:
    ds = WindowDataset.from_warehouse(root, "valid", lookback=8)
    model = TradingModel(ds.num_embeddings, 4, ds.num_features, hidden=4)
    task = Recorder()
    evaluate(model, ds, batch_size=64, task=task)
    assert task.steps == [["scoring valid", len(ds), len(ds), "done"]]
    task = Recorder()
    export_windows(ds, tmp_path / "w.npz", task=task)
    assert task.steps[0] == ["gathering windows", len(ds), len(ds)]
    assert task.steps[1][0] == "writing w.npz"


def test_a_bar_is_drawn_on_a_terminal_only(root: Path) -> None:
    console, out = _terminal()
    with progress_for("loading windows", 10, console=console) as task:
        task.advance(4)
        console.file.flush()
    assert "loading windows" in out.getvalue() and "eta" in out.getvalue()
    plain = io.StringIO()
    with progress_for("loading windows", 10, console=Console(file=plain, force_terminal=False)) as task:
        task.advance(10)
    assert plain.getvalue() == ""  # a log file or a pipe gets no bar


def test_the_training_bar_shows_the_time_left_in_the_epoch_and_the_run() -> None:
    console, out = _terminal()
    with Progress(True, total_per_epoch=100, epochs=3, console=console) as bar:
        bar.epoch(1)
        for _ in range(5):
            time.sleep(0.05)
            bar.step(10, 0.69, 1000.0)
        bar.bar.refresh()
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # cursor moves between frames
        lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = {line.split()[0]: line for line in lines[-4:]}
    assert set(last) >= {"run", "epoch"}
    # the run counts every epoch still to train (3 x 100); each line ends with its time left
    assert "50/300" in last["run"] and "50/100" in last["epoch"]
    for line in (last["run"], last["epoch"]):
        eta = line.split("eta")[-1].strip()
        assert eta[:1].isdigit(), line  # h:mm:ss once a rate is known
    assert "loss 0.6900" in last["epoch"]
