"""WindowDataset: shapes, values against an independent numpy reference, and leakage by construction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest
import torch
import warehouse_factory as wf

from features.errors import ConfigError, MappingError, TrainingError
from features.models.state import ModelState, ensure_tables, save_state
from training import WindowDataset, training_set_fingerprint

L = 10  # lookback used throughout: small enough for the tiny warehouse


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wf.make_project(tmp_path_factory.mktemp("loader") / "proj")


@pytest.fixture(scope="module")
def table(project: Path) -> dict[str, np.ndarray]:
    return wf.read_table(project / "data" / "warehouse.duckdb")


@pytest.fixture(scope="module")
def train(project: Path) -> WindowDataset:
    return WindowDataset.from_warehouse(project, "train", lookback=L)


FEATURES = ("close", *wf.FEATURES)


def _reference_stats(table: dict, train_end: dt.date) -> tuple[np.ndarray, np.ndarray]:
    rows = table["ts"] <= np.datetime64(train_end)
    x = np.stack([table[f][rows] for f in FEATURES], axis=1)  # (rows, F) float64, NaN = NULL
    return np.nanmean(x, axis=0), np.nanstd(x, axis=0)


def _reference_window(table: dict, asset: int, label_date: np.datetime64, mean, std) -> np.ndarray:
    """The L feature rows of ``asset`` ending at ``label_date``, z-scored: written without the loader."""
    mine = np.flatnonzero(table["asset_id"] == asset)
    end = mine[np.flatnonzero(table["ts"][mine] == label_date)[0]]
    rows = np.arange(end - L + 1, end + 1)
    assert (table["asset_id"][rows] == asset).all()
    x = np.stack([table[f][rows] for f in FEATURES], axis=1)  # (L, F)
    return (x - mean) / std


# ---------------------------------------------------------------------------- contract


def test_shapes_dtypes_and_metadata(train: WindowDataset) -> None:
    a = train.to_arrays()
    n = len(train)
    assert n > 500
    assert a["X"].shape == (n, L, 4) and a["X"].dtype == np.float32
    assert a["asset_ids"].shape == (n,) and a["asset_ids"].dtype == np.int64
    assert a["y"].shape == (n,) and a["y"].dtype == np.float32
    assert a["label_dates"].dtype == np.dtype("datetime64[D]")
    assert train.feature_names == FEATURES  # numeric, not asset_id, not fwd_ret_*/label_*
    assert train.num_features == 4
    assert train.num_embeddings == 8  # max(dim_symbol.asset_id) + 1, not the traded assets
    assert train.mapping_version == "1.1"  # max seq, not insertion order
    assert set(np.unique(a["y"])) == {0.0, 1.0}
    assert not np.isnan(a["X"]).any()
    x, ids, y = next(train.batches(64, seed=1))
    assert x.shape == (64, L, 4) and x.dtype == torch.float32
    assert ids.dtype == torch.int64 and y.dtype == torch.float32


def test_windows_equal_numpy_reference(train: WindowDataset, table: dict) -> None:
    mean, std = _reference_stats(table, train.boundaries.train_end)
    a = train.to_arrays()
    label = {
        (int(a_), d): y for a_, d, y in zip(table["asset_id"], table["ts"], table["label_up"], strict=True)
    }
    for i in np.linspace(0, len(train) - 1, 60).astype(int):
        expect = _reference_window(table, int(a["asset_ids"][i]), a["label_dates"][i], mean, std)
        np.testing.assert_allclose(a["X"][i], expect, rtol=1e-5, atol=1e-5)
        assert a["y"][i] == label[(int(a["asset_ids"][i]), a["label_dates"][i])]


def test_feature_list_relation_wins(project: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    wf.make_warehouse(db)
    con = duckdb.connect(str(db))
    con.execute(
        "create table training_features as select * from (values (1, 'mom_10d'), (0, 'ret_1d')) t(position, feature)"
    )
    con.close()
    ds = WindowDataset.from_warehouse(db, lookback=L)
    assert ds.feature_names == ("ret_1d", "mom_10d")
    assert ds.to_arrays()["X"].shape[-1] == 2


# ---------------------------------------------------------------------------- leakage


@pytest.mark.parametrize("horizon", [1, 3])
def test_purge_and_embargo_by_construction(tmp_path: Path, horizon: int) -> None:
    root = wf.make_project(tmp_path / "p", horizon=horizon, extra_toml="[splits]\nembargo = -1\n")
    table = wf.read_table(root / "data" / "warehouse.duckdb")
    sets = {
        s: WindowDataset.from_warehouse(root, s, lookback=L, label="fwd_ret_{h}d")
        for s in ("train", "valid", "test")
    }
    b = sets["train"].boundaries
    assert b.horizon == horizon and b.embargo == horizon
    train_end, valid_end = np.datetime64(b.train_end), np.datetime64(b.valid_end)

    def rows_of(ds: WindowDataset) -> tuple[np.ndarray, np.ndarray]:
        """Per sample: its asset's row numbers for (label row, asset row count)."""
        out_pos, out_asset_rows = [], []
        for a, d in zip(ds.to_arrays()["asset_ids"], ds.label_dates, strict=True):
            mine = table["ts"][table["asset_id"] == a]
            out_pos.append(int(np.flatnonzero(mine == d)[0]))
            out_asset_rows.append(mine)
        return np.array(out_pos), out_asset_rows

    pos, dates = rows_of(sets["train"])
    for p, ts in zip(pos, dates, strict=True):
        # label date <= boundary - purge: the row where the label is realised is still in train
        assert ts[p + horizon] <= train_end
    assert len(pos) > 0
    for split, start_b, end_b in (("valid", train_end, valid_end), ("test", valid_end, None)):
        pos, dates = rows_of(sets[split])
        assert len(pos) > 0
        for p, ts in zip(pos, dates, strict=True):
            first_after = int(np.searchsorted(ts, start_b, side="right"))
            assert p >= first_after + b.embargo  # embargo: E rows after the boundary form no samples
            if end_b is not None:
                assert ts[p + horizon] <= end_b
    # purge is tight: the last training sample of a long asset sits exactly h rows before the boundary
    a0 = table["ts"][table["asset_id"] == 0]
    last_train_row = int(np.searchsorted(a0, train_end, side="right")) - 1 - horizon
    train0 = sets["train"].label_dates[sets["train"].to_arrays()["asset_ids"] == 0]
    assert train0.max() == a0[last_train_row]


def test_changing_future_labels_leaves_train_untouched(
    project: Path, tmp_path: Path, train: WindowDataset
) -> None:
    db = tmp_path / "changed.duckdb"
    wf.make_warehouse(db)
    con = duckdb.connect(str(db))
    train_end = train.boundaries.train_end
    # every label after the training boundary flips, every future return is scrambled
    con.execute(
        "update training_set set label_up = 1 - label_up, fwd_ret_1d = -3 * fwd_ret_1d + 0.5 where ts > ?",
        [train_end],
    )
    con.close()
    changed = WindowDataset.from_warehouse(db, "train", lookback=L)
    a, b = train.to_arrays(), changed.to_arrays()
    for key in ("X", "asset_ids", "y", "label_dates"):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(train.stats.mean, changed.stats.mean)
    np.testing.assert_array_equal(train.stats.std, changed.stats.std)
    assert changed.boundaries == train.boundaries
    valid_a = WindowDataset.from_warehouse(project, "valid", lookback=L).to_arrays()["y"]
    valid_b = WindowDataset.from_warehouse(db, "valid", lookback=L).to_arrays()["y"]
    assert (valid_a != valid_b).all()  # the change did reach the validation split


def test_changing_future_features_changes_no_training_stat(train: WindowDataset, tmp_path: Path) -> None:
    db = tmp_path / "f.duckdb"
    wf.make_warehouse(db)
    con = duckdb.connect(str(db))
    con.execute("update training_set set close = close * 1000 where ts > ?", [train.boundaries.train_end])
    con.close()
    changed = WindowDataset.from_warehouse(db, "train", lookback=L)
    np.testing.assert_array_equal(train.stats.mean, changed.stats.mean)
    np.testing.assert_array_equal(train.to_arrays()["X"], changed.to_arrays()["X"])


def test_global_stats_equal_numpy_over_training_rows(train: WindowDataset, table: dict) -> None:
    mean, std = _reference_stats(table, train.boundaries.train_end)
    np.testing.assert_allclose(train.stats.mean, mean, rtol=1e-9)
    np.testing.assert_allclose(train.stats.std, std, rtol=1e-9)
    everything = np.stack([table[f] for f in FEATURES], axis=1)
    assert not np.allclose(np.nanmean(everything, axis=0), mean)  # the test can tell the difference


def test_per_asset_stats_equal_numpy(project: Path, table: dict) -> None:
    ds = WindowDataset.from_warehouse(project, "valid", lookback=L, normalize="per_asset")
    end = np.datetime64(ds.boundaries.train_end)
    g_mean, g_std = _reference_stats(table, ds.boundaries.train_end)
    assert ds.stats.mean.shape == (8, 4)
    for asset in range(8):
        rows = (table["asset_id"] == asset) & (table["ts"] <= end)
        if rows.sum() < 2:  # no training rows (late or absent): global statistics
            np.testing.assert_allclose(ds.stats.mean[asset], g_mean, rtol=1e-9)
            np.testing.assert_allclose(ds.stats.std[asset], g_std, rtol=1e-9)
            continue
        x = np.stack([table[f][rows] for f in FEATURES], axis=1)
        np.testing.assert_allclose(ds.stats.mean[asset], np.nanmean(x, axis=0), rtol=1e-9)
        np.testing.assert_allclose(ds.stats.std[asset], np.nanstd(x, axis=0), rtol=1e-9)
    # and the validation windows are z-scored with the asset's own training statistics
    a = ds.to_arrays()
    i = len(ds) // 2
    asset = int(a["asset_ids"][i])
    expect = _reference_window(table, asset, a["label_dates"][i], ds.stats.mean[asset], ds.stats.std[asset])
    np.testing.assert_allclose(a["X"][i], expect, rtol=1e-5, atol=1e-5)


def test_valid_reuses_training_stats(project: Path, train: WindowDataset) -> None:
    refit = WindowDataset.from_warehouse(project, "valid", lookback=L)
    reused = WindowDataset.from_warehouse(project, "valid", lookback=L, stats=train.stats)
    np.testing.assert_array_equal(refit.stats.mean, train.stats.mean)
    np.testing.assert_array_equal(refit.to_arrays()["X"], reused.to_arrays()["X"])
    with pytest.raises(ConfigError, match="other features"):
        WindowDataset.from_warehouse(project, "valid", lookback=L, stats=_other_features(train.stats))


def _other_features(stats):
    from training.normalize import NormStats

    return NormStats(stats.mode, ("a", "b", "c", "d"), stats.mean, stats.std, stats.fitted_until)


# ---------------------------------------------------------------------------- missing values


def test_drop_policy_skips_incomplete_windows_and_short_assets(train: WindowDataset, table: dict) -> None:
    a = train.to_arrays()
    assert train.skipped_assets == {"TINY": 2}  # 12 rows, 10 of them warm-up
    assert 5 not in set(a["asset_ids"].tolist())
    x = np.stack([table[f] for f in FEATURES], axis=1)
    bad = np.isnan(x).any(axis=1)
    for asset, d in zip(a["asset_ids"], a["label_dates"], strict=True):
        mine = np.flatnonzero(table["asset_id"] == asset)
        end = mine[np.flatnonzero(table["ts"][mine] == d)[0]]
        assert not bad[end - L + 1 : end + 1].any()
    # GAPPY's interior NULL (row 150) removes exactly the L windows that contain it from all splits
    gappy = np.flatnonzero(table["asset_id"] == 4)
    covering = table["ts"][gappy[150 : 150 + L]]
    gappy_dates = a["label_dates"][a["asset_ids"] == 4]
    assert not np.isin(gappy_dates, covering).any()
    assert np.isin(table["ts"][gappy[150 + L]], gappy_dates)  # the first window after the hole is back


def test_fill_policy_with_indicator(project: Path, table: dict, train: WindowDataset) -> None:
    ds = WindowDataset.from_warehouse(project, "train", lookback=L, missing="fill", missing_indicator=True)
    assert ds.num_features == 8
    assert ds.feature_names[4:] == tuple(f"{f}__missing" for f in FEATURES)
    a = ds.to_arrays()
    assert not np.isnan(a["X"]).any()
    assert len(ds) > len(train)  # windows across GAPPY's hole come back
    mean, std = _reference_stats(table, ds.boundaries.train_end)
    gappy = np.flatnonzero(table["asset_id"] == 4)
    hole_date = table["ts"][gappy[150]]
    i = int(np.flatnonzero((a["asset_ids"] == 4) & (a["label_dates"] == hole_date))[0])
    expect = _reference_window(table, 4, hole_date, mean, std)
    missing = np.isnan(expect)
    assert missing.sum() == 1 and missing[-1, 2]  # vol_5d on the window's last row
    np.testing.assert_allclose(a["X"][i, :, :4], np.where(missing, 0.0, expect), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(a["X"][i, :, 4:], missing.astype(np.float32))
    # warm-up rows never enter a window, even when they could be filled
    for asset in np.unique(a["asset_ids"]):
        mine = np.flatnonzero(table["asset_id"] == asset)
        complete = ~np.isnan(np.stack([table[f][mine] for f in FEATURES], axis=1)).any(axis=1)
        first_complete = table["ts"][mine][np.argmax(complete)]
        first_end = table["ts"][mine][np.argmax(complete) + L - 1]
        assert a["label_dates"][a["asset_ids"] == asset].min() >= first_end > first_complete


# ---------------------------------------------------------------------------- batches


def test_batches_are_deterministic_and_cover_every_sample(train: WindowDataset) -> None:
    def ids(seed: int) -> list[tuple]:
        return [
            (x.sum().item(), tuple(a.tolist()), tuple(y.tolist()))
            for x, a, y in train.batches(100, seed=seed)
        ]

    assert ids(3) == ids(3)
    assert ids(3) != ids(4)
    arrays = train.to_arrays()
    xs = torch.cat([x for x, _, _ in train.batches(100, shuffle=False)]).numpy()
    np.testing.assert_array_equal(xs, arrays["X"])
    shuffled = list(train.batches(100, shuffle=True, seed=5))
    assert sum(len(b[0]) for b in shuffled) == len(train)
    got = np.sort(torch.cat([x for x, _, _ in shuffled]).numpy().reshape(len(train), -1), axis=0)
    np.testing.assert_array_equal(got, np.sort(arrays["X"].reshape(len(train), -1), axis=0))
    dropped = list(train.batches(100, drop_last=True))
    assert len(dropped) == len(train) // 100 and all(len(b[0]) == 100 for b in dropped)


def test_date_synchronised_batches(train: WindowDataset) -> None:
    seen = 0
    dates = set()
    for _x, ids, _y in train.batches(by_date=True, seed=2):
        seen += len(ids)
        assert len(set(ids.tolist())) == len(ids)  # each asset once per date
    for d in train.label_dates:
        dates.add(d)
    assert seen == len(train)
    assert len(list(train.batches(by_date=True))) == len(dates)


def test_dataset_view_with_dataloader(train: WindowDataset) -> None:
    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=False)
    x, ids, y = next(iter(loader))
    a = train.to_arrays()
    np.testing.assert_array_equal(x.numpy(), a["X"][:64])
    np.testing.assert_array_equal(ids.numpy(), a["asset_ids"][:64])
    np.testing.assert_array_equal(y.numpy(), a["y"][:64])
    with pytest.raises(IndexError):
        train[len(train)]


def test_pickles_without_materialising_windows(train: WindowDataset) -> None:
    import pickle

    data = pickle.dumps(train)
    assert len(data) < 2 * train.block_bytes + 100 * len(train)  # the block and indices, not n·L·F windows
    back = pickle.loads(data)
    for key, value in train.to_arrays().items():
        np.testing.assert_array_equal(back.to_arrays()[key], value)
    assert back.fingerprint == train.fingerprint and back.stats.mode == train.stats.mode


def test_stride_keeps_every_kth_window(project: Path, train: WindowDataset) -> None:
    ds = WindowDataset.from_warehouse(project, "train", lookback=L, stride=5)
    full = train.to_arrays()
    sub = ds.to_arrays()
    assert len(ds) < len(train) / 4
    key = {
        (int(a), d): i for i, (a, d) in enumerate(zip(full["asset_ids"], full["label_dates"], strict=True))
    }
    idx = [key[(int(a), d)] for a, d in zip(sub["asset_ids"], sub["label_dates"], strict=True)]
    np.testing.assert_array_equal(sub["X"], full["X"][idx])
    assert ds.fingerprint != train.fingerprint


def test_fingerprint_tracks_data_mapping_and_config(
    project: Path, train: WindowDataset, tmp_path: Path
) -> None:
    again = WindowDataset.from_warehouse(project, "train", lookback=L)
    assert again.fingerprint == train.fingerprint
    assert WindowDataset.from_warehouse(project, "train", lookback=L + 1).fingerprint != train.fingerprint
    assert WindowDataset.from_warehouse(project, "valid", lookback=L).fingerprint != train.fingerprint
    db = tmp_path / "m.duckdb"
    wf.make_warehouse(db)
    con = duckdb.connect(str(db))
    before = training_set_fingerprint(con)
    assert WindowDataset.from_warehouse(con, "train", lookback=L).fingerprint == train.fingerprint
    con.execute("insert into mapping_versions values ('1.2', 3, '2025-03-01')")
    assert WindowDataset.from_warehouse(con, "train", lookback=L).mapping_version == "1.2"
    assert WindowDataset.from_warehouse(con, "train", lookback=L).fingerprint != train.fingerprint
    con.execute("update training_set set close = close + 1 where asset_id = 0 and ts = date '2020-01-02'")
    assert training_set_fingerprint(con) != before
    ensure_tables(con)  # the build engine's bookkeeping, as a build leaves it
    save_state(con, "training_set", "sql", "table", ModelState("abc123", "", "", "table"), "b1", None)
    assert training_set_fingerprint(con) == "model:abc123"
    con.close()


# ---------------------------------------------------------------------------- errors


def test_errors_name_the_problem(project: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"label column 'label_down'.*fwd_ret_1d, label_up"):
        WindowDataset.from_warehouse(project, lookback=L, label="label_down")
    with pytest.raises(ConfigError, match="unknown split 'holdout'"):
        WindowDataset.from_warehouse(project, "holdout", lookback=L)
    with pytest.raises(ConfigError, match="normalize = 'minmax'"):
        WindowDataset.from_warehouse(project, lookback=L, normalize="minmax")
    with (
        pytest.raises(TrainingError, match="no CUDA device") if not torch.cuda.is_available() else _nothing()
    ):
        WindowDataset.from_warehouse(project, lookback=L, device="cuda")
    db = tmp_path / "bad.duckdb"
    wf.make_warehouse(db)
    con = duckdb.connect(str(db))
    con.execute("update training_set set asset_id = 9 where asset_id = 5")
    with pytest.raises(MappingError, match=r"span 0\.\.9 .* only 0\.\.7"):
        WindowDataset.from_warehouse(con, lookback=L)
    con.execute("update training_set set asset_id = 5 where asset_id = 9")
    con.execute("insert into training_set select * from training_set where asset_id = 0 limit 1")
    with pytest.raises(TrainingError, match="more than one row for asset_id 0"):
        WindowDataset.from_warehouse(con, lookback=L)
    con.close()


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def test_split_boundaries_from_dates(tmp_path: Path) -> None:
    root = wf.make_project(
        tmp_path / "p",
        extra_toml='[splits]\ntrain_end = "2020-06-30"\nvalid_end = "2020-09-30"\nembargo = 3\n',
    )
    ds = WindowDataset.from_warehouse(root, "valid", lookback=L)
    assert ds.boundaries.train_end == dt.date(2020, 6, 30) and ds.boundaries.embargo == 3
    assert ds.label_dates.min() > np.datetime64("2020-07-02")
    assert ds.label_dates.max() <= np.datetime64("2020-09-30")
    bad = wf.make_project(tmp_path / "q", extra_toml='[splits]\ntrain_end = "0.9"\nvalid_end = "0.8"\n')
    with pytest.raises(ConfigError, match="must come before"):
        WindowDataset.from_warehouse(bad, lookback=L)


def test_import_training_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, training; assert 'torch' not in sys.modules; print(training.__all__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "WindowDataset" in out.stdout


# ---------------------------------------------------------------------------- CUDA (skipped without a GPU)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("block_on_device", [True, False])
def test_cuda_batches_equal_cpu_batches(project: Path, train: WindowDataset, block_on_device: bool) -> None:
    gpu = WindowDataset.from_warehouse(
        project, "train", lookback=L, device="cuda", block_on_device=block_on_device
    )
    assert gpu.block_device.type == ("cuda" if block_on_device else "cpu")
    cpu_batches = train.batches(128, shuffle=False)
    for (xc, ac, yc), (xg, ag, yg) in zip(cpu_batches, gpu.batches(128, shuffle=False), strict=True):
        assert xg.device.type == "cuda" and ag.device.type == "cuda" and yg.device.type == "cuda"
        np.testing.assert_array_equal(xg.cpu().numpy(), xc.numpy())
        np.testing.assert_array_equal(ag.cpu().numpy(), ac.numpy())
        np.testing.assert_array_equal(yg.cpu().numpy(), yc.numpy())
    np.testing.assert_array_equal(gpu.to_arrays()["X"], train.to_arrays()["X"])
    first = [a.cpu() for _, a, _ in gpu.batches(100, seed=4)]
    again = [a.cpu() for _, a, _ in gpu.batches(100, seed=4)]
    assert all(torch.equal(p, q) for p, q in zip(first, again, strict=True))
    x, a, y = next(
        gpu.batches(100, seed=4)
    )  # a shuffled GPU batch: each window keeps its own asset and label
    idx = _indices_of(train, x)
    np.testing.assert_array_equal(a.cpu().numpy(), train.to_arrays()["asset_ids"][idx])
    np.testing.assert_array_equal(y.cpu().numpy(), train.to_arrays()["y"][idx])


def _indices_of(cpu: WindowDataset, x: torch.Tensor) -> np.ndarray:
    """Which samples a GPU batch holds, found by matching whole windows against the CPU arrays."""
    flat = cpu.to_arrays()["X"].reshape(len(cpu), -1)  # (n, L·C)
    lookup = {row.tobytes(): i for i, row in enumerate(flat)}
    return np.array([lookup[row.tobytes()] for row in x.cpu().numpy().reshape(len(x), -1)])


def test_horizon_comes_from_the_labels_in_the_data(tmp_path: Path) -> None:
    db = wf.make_warehouse(tmp_path / "h3.duckdb", horizon=3)
    ds = WindowDataset.from_warehouse(db, "train", lookback=L)  # a bare warehouse file: no config
    assert ds.boundaries.horizon == 3 and ds.boundaries.embargo == 3
    stale = wf.make_project(tmp_path / "p", horizon=3)
    (stale / "config" / "project.toml").write_text(
        '[paths]\nwarehouse = "data/warehouse.duckdb"\n[features]\nhorizon = 1\n'
    )
    with pytest.raises(ConfigError, match=r"look 3 rows ahead \(fwd_ret_3d\) but \[features\] horizon = 1"):
        WindowDataset.from_warehouse(stale, lookback=L)
