"""Distributed training (DDP on gloo, two CPU processes): sharding, one logged run, a failing rank."""

from __future__ import annotations

import json
import time
from pathlib import Path

import planted
import pytest
import torch

from features.cli import main
from features.config import load_project
from features.errors import ConfigError, TrainingError
from training import collectives, distributed, runs
from training.collectives import ShardedDataset, shard_indices
from training.loader import WindowDataset

torch.set_num_threads(1)


@pytest.fixture
def project(tmp_path: Path):
    """18 assets, one year of days, a tiny GRU: a 2-epoch run takes seconds."""
    return load_project(planted.make_project(tmp_path / "proj", days=365))


# ----------------------------------------------------------------------------------- sharding


@pytest.mark.parametrize("n", [0, 1, 10, 11, 4519])
@pytest.mark.parametrize("world", [1, 2, 3, 8])
def test_shards_are_disjoint_equal_and_cover_the_epoch(n: int, world: int) -> None:
    shards = [shard_indices(n, r, world, seed=7) for r in range(world)]
    assert {len(s) for s in shards} == {n // world}  # the same number of steps on every rank
    seen = torch.cat(shards).tolist()
    assert len(seen) == len(set(seen))  # disjoint
    assert len(seen) == n - n % world and set(seen) <= set(range(n))  # all but n % world samples
    # every rank draws the same permutation: interleaving the shards gives it back
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(7))[: n - n % world]
    if n // world:
        assert torch.equal(torch.stack(shards, 1).reshape(-1), perm)


def test_each_epoch_shuffles_differently_and_the_same_seed_repeats() -> None:
    assert torch.equal(shard_indices(100, 1, 2, seed=3), shard_indices(100, 1, 2, seed=3))
    assert not torch.equal(shard_indices(100, 1, 2, seed=3), shard_indices(100, 1, 2, seed=4))
    assert shard_indices(5, 0, 2, seed=0, shuffle=False).tolist() == [0, 2]
    with pytest.raises(ConfigError, match="rank 2 is not in a world of 2"):
        shard_indices(10, 2, 2, seed=0)


def test_a_sharded_dataset_yields_exactly_its_shard(project) -> None:
    ds = WindowDataset.from_warehouse(project, "train")
    n = len(ds)
    got = []
    for r in range(2):
        shard = ShardedDataset(ds, r, 2)
        ys = torch.cat([y for _, _, y in shard.batches(64, seed=5)])
        idx = shard_indices(n, r, 2, seed=5)
        assert len(shard) == n // 2 and torch.equal(ys, ds._y[idx])
        got.append(idx)
    assert not set(got[0].tolist()) & set(got[1].tolist())
    capped = ShardedDataset(ds, 1, 2, max_samples=101)  # the cap is for the epoch: 51 per rank
    assert len(capped) == 51 and sum(len(y) for _, _, y in capped.batches(16, seed=1)) == 51


# ----------------------------------------------------------------------------------- two processes


def test_a_two_process_run_logs_one_finished_run_whose_loss_falls(project) -> None:
    t0 = time.perf_counter()
    result = distributed.launch(project, 2, epochs=2)
    assert time.perf_counter() - t0 < 60
    assert result.status == "finished" and result.best_epoch in (1, 2)
    rows = planted.query(project.root, "select run_id, status, config, epochs_done from train_runs")
    assert len(rows) == 1
    run_id, status, config, epochs_done = rows[0]
    assert (run_id, status, epochs_done) == (result.run_id, "finished", 2)
    config = json.loads(config)
    assert config["distributed"] == {"world_size": 2, "backend": "gloo"}
    n = config["train_samples"]
    train = planted.query(
        project.root,
        "select epoch, loss, samples from train_metrics where run_id = ? and split = 'train' order by epoch",
        [run_id],
    )
    assert [s for _, _, s in train] == [n - n % 2] * 2  # both shards, summed over the ranks
    assert train[1][1] < train[0][1]  # it learns
    splits = planted.query(
        project.root, "select distinct split from train_metrics where run_id = ?", [run_id]
    )
    assert sorted(s for (s,) in splits) == ["test", "train", "valid"]
    assert (project.path(project.paths.runs) / run_id / "best.pt").is_file()


def _rank_that_fails(project, **kwargs):
    """Each rank runs this: rank 1 raises in its second epoch, after rank 0 has logged the first."""
    from training import train

    real = train.train_epoch

    def train_epoch(*args, **kw):
        if collectives.rank() == 1 and kw["seed"] % 1000 == 2:
            raise RuntimeError("planted failure on rank 1")
        return real(*args, **kw)

    train.train_epoch = train_epoch
    return distributed.run_rank(project, **kwargs)


def test_a_failing_rank_fails_the_run_and_stops_the_group(project) -> None:
    t0 = time.perf_counter()
    with pytest.raises(TrainingError, match=r"rank 1: .*planted failure on rank 1"):
        distributed.launch(project, 2, epochs=3, entry=_rank_that_fails)
    assert time.perf_counter() - t0 < 60  # no rank waited for a collective timeout
    rows = planted.query(project.root, "select status, epochs_done, error, pid from train_runs")
    assert len(rows) == 1
    status, epochs_done, error, pid = rows[0]
    assert status == "failed" and epochs_done == 1 and error
    assert not runs.pid_alive(pid)


def test_nproc_is_refused_under_torchrun(project, monkeypatch, capsys) -> None:
    for key, value in zip(distributed.TORCHRUN_ENV, ("0", "2", "0", "127.0.0.1", "29500"), strict=True):
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match="torchrun already started the ranks"):
        distributed.launch(project, 2, epochs=1)
    with pytest.raises(ConfigError, match="--nproc 0: at least 1"):
        distributed.launch(project, 0, epochs=1)
    # the CLI says so too, and starts nothing
    assert main(["train", "--nproc", "2", "--project", str(project.root)]) == 2
    assert "torchrun already started the ranks" in capsys.readouterr().err
    assert not planted.query(
        project.root, "select count(*) from duckdb_tables() where table_name = 'train_runs'"
    )[0][0]
