"""The lean load: reading in many small queries gives the same arrays; compact storage, int64 out."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch
import warehouse_factory as wf

import training.loader as loader
import training.reading as reading
from training import WindowDataset

L = 10


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wf.make_project(tmp_path_factory.mktemp("lean") / "proj")


def _same(a: WindowDataset, b: WindowDataset) -> None:
    x, y = a.to_arrays(), b.to_arrays()
    for key in ("X", "asset_ids", "y", "label_dates"):
        np.testing.assert_array_equal(x[key], y[key])
        assert x[key].dtype == y[key].dtype
    np.testing.assert_array_equal(a.stats.mean, b.stats.mean)
    np.testing.assert_array_equal(a.stats.std, b.stats.std)
    assert a.skipped_assets == b.skipped_assets
    assert a.fingerprint == b.fingerprint


@pytest.mark.parametrize(
    ("split", "kw"),
    [
        ("train", {}),
        ("valid", {"missing": "fill", "missing_indicator": True, "normalize": "per_asset"}),
        ("test", {"stride": 3}),
    ],
)
def test_many_small_queries_give_the_same_arrays(
    project: Path, monkeypatch: pytest.MonkeyPatch, split: str, kw: dict
) -> None:
    whole = WindowDataset.from_warehouse(project, split, lookback=L, **kw)
    monkeypatch.setattr(reading, "_QUERY_BYTES", 600)  # a query per asset (and a batch per few rows)
    monkeypatch.setattr(reading, "_READ_ROWS", 7)
    _same(whole, WindowDataset.from_warehouse(project, split, lookback=L, **kw))


class _Flaky:
    """A connection whose first query hands out one record batch, then runs out of memory."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con, self.failed = con, False

    def sql(self, text: str):
        rel = self.con.sql(text)
        if self.failed:
            return rel
        self.failed = True

        class Half:
            def to_arrow_reader(self, n: int):
                reader = rel.to_arrow_reader(n)
                yield next(iter(reader))
                reader.read_all()  # the query's rows are used up, as after DuckDB's own error
                raise duckdb.OutOfMemoryException("pool too small")

        return Half()

    def execute(self, *args):
        return self.con.execute(*args)


def test_a_query_too_large_for_the_small_pool_runs_again_with_more(project: Path) -> None:
    con = duckdb.connect(str(project / "data" / "warehouse.duckdb"), read_only=True)
    try:
        n = con.execute("select count(*) from training_set").fetchall()[0][0]
        expect = np.array(
            [r[0] for r in con.execute("select asset_id from training_set order by asset_id, ts").fetchall()]
        )
        out = np.full(n + 3, -1)

        def write(batch, at: int) -> int:
            col = batch.column(0).to_numpy()
            out[at : at + len(col)] = col
            return len(col)

        sql = "select asset_id from training_set order by asset_id, ts"
        assert reading.read_sorted(_Flaky(con), sql, write, 3, True) == n + 3  # type: ignore[arg-type]
        np.testing.assert_array_equal(out[3:], expect)  # the retry starts again at the same row
        assert con.execute("select current_setting('memory_limit')").fetchall()[0][0] == "128.0 MiB"
        with pytest.raises(duckdb.OutOfMemoryException):  # a caller's connection: no retry
            reading.read_sorted(_Flaky(con), sql, write, 0, False)  # type: ignore[arg-type]
    finally:
        con.close()


def test_a_callers_connection_keeps_its_settings_and_stays_open(project: Path) -> None:
    con = duckdb.connect(str(project / "data" / "warehouse.duckdb"), read_only=True)
    try:
        before = con.execute("select current_setting('memory_limit')").fetchall()
        ds = WindowDataset.from_warehouse(con, "train", lookback=L, project=None)
        assert len(ds) > 0
        assert con.execute("select current_setting('memory_limit')").fetchall() == before
    finally:
        con.close()


def test_compact_storage_and_int64_ids_out(project: Path) -> None:
    ds = WindowDataset.from_warehouse(project, "train", lookback=L)
    assert ds._starts.dtype == torch.int32
    assert ds._asset_ids.dtype == torch.int16
    assert ds._y.dtype == torch.float32
    assert ds._days.dtype == np.int32
    assert ds.label_dates.dtype == np.dtype("datetime64[D]")
    for _x, ids, _y in ds.batches(64, seed=2):
        assert ids.dtype == torch.int64
    assert ds[0][1].dtype == torch.int64
    loader_ids = next(iter(torch.utils.data.DataLoader(ds, batch_size=8)))[1]
    assert loader_ids.dtype == torch.int64
    assert ds.to_arrays()["asset_ids"].dtype == np.int64
    # the CPU permutation is drawn as int32 and is the same one torch draws as int64
    g = torch.Generator().manual_seed(5)
    assert torch.equal(ds._order(True, 5).long(), torch.randperm(len(ds), generator=g))


@pytest.mark.parametrize(
    "kw",
    [{}, {"missing": "fill", "missing_indicator": True, "normalize": "per_asset"}, {"stride": 3}],
)
def test_three_splits_from_one_read_equal_each_split_read_alone(
    project: Path, monkeypatch: pytest.MonkeyPatch, kw: dict
) -> None:
    train = WindowDataset.from_warehouse(project, "train", lookback=L, **kw)
    alone = {
        "train": train,
        **{
            s: WindowDataset.from_warehouse(project, s, lookback=L, stats=train.stats, **kw)
            for s in ("valid", "test")
        },
    }
    opens, reads = [], []
    connect, read_rows = reading.connect, loader.read_rows
    monkeypatch.setattr(reading, "connect", lambda *a, **k: opens.append(a) or connect(*a, **k))
    monkeypatch.setattr(loader, "read_rows", lambda *a, **k: reads.append(a) or read_rows(*a, **k))
    together = WindowDataset.splits(project, lookback=L, **kw)
    assert (len(opens), len(reads)) == (1, 1)  # one open of the warehouse, one pass over its rows
    assert list(together) == ["train", "valid", "test"]
    for split, ds in together.items():
        _same(alone[split], ds)
        assert ds.split == split and ds.stats is together["train"].stats
