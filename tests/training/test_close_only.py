"""Close-only assets train (issue 13, item 4): a feature an asset never has is filled and flagged, not a
reason to drop the asset; a late listing still inside a feature's warm-up is not "close-only".

The reference is independent of the rule: the same warehouse with the missing feature written in as
the training mean (so it is present, and z-scores to exactly 0) must give the very same windows.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import warehouse_factory as wf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training import WindowDataset

CLOSE_ONLY = "range_1d"  # like hl_range: NULL in every row of a close-only series
SLOW = "slow_30"  # a feature with a 30-row warm-up in every asset


def _rows(close_only: frozenset[int]) -> pa.Table:
    """The factory's rows plus ``range_1d`` (NULL for every row of the ``close_only`` assets) and
    ``slow_30`` (NULL for the first 30 rows of every asset: TINY, 12 rows, never has one)."""
    table = wf.make_rows()
    order = pc.sort_indices(table, [("asset_id", "ascending"), ("ts", "ascending")])
    table = table.take(order)
    rng = np.random.default_rng(5)
    asset = table.column("asset_id").to_numpy()
    rank = np.zeros(len(asset), dtype=int)
    for a in np.unique(asset):
        mine = np.flatnonzero(asset == a)
        rank[mine] = np.arange(len(mine))
    values = rng.normal(0.02, 0.01, len(asset))
    range_1d = [None if int(a) in close_only else float(v) for a, v in zip(asset, values, strict=True)]
    slow = [None if r < 30 else float(v) for r, v in zip(rank, values[::-1], strict=True)]
    table = table.append_column(CLOSE_ONLY, pa.array(range_1d, pa.float64()))
    return table.append_column(SLOW, pa.array(slow, pa.float64()))


def _project(root: Path, close_only: frozenset[int], extra: str = "") -> Path:
    wf.make_project(root, extra)
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"))
    try:
        wf.write_training_set(con, _rows(close_only))
    finally:
        con.close()
    return root


def _fill_with_training_mean(root: Path, ds: WindowDataset, close_only: frozenset[int]) -> None:
    """Write the close-only assets' missing feature in as its training mean: then it is present."""
    mean = float(ds.stats.mean[ds.feature_names.index(CLOSE_ONLY)])
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"))
    try:
        for a in close_only:
            con.execute(f"update training_set set {CLOSE_ONLY} = ? where asset_id = ?", [mean, a])
    finally:
        con.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    close_only=st.frozensets(st.sampled_from([0, 2, 3, 4]), min_size=1, max_size=2),
    lookback=st.integers(3, 40),
    missing=st.sampled_from(["drop", "fill"]),
)
def test_close_only_assets_train_with_the_missing_feature_filled(
    tmp_path_factory: pytest.TempPathFactory, close_only: frozenset[int], lookback: int, missing: str
) -> None:
    root = _project(tmp_path_factory.mktemp("close") / "p", close_only)
    got = WindowDataset.splits(root, ("train", "valid"), lookback=lookback, missing=missing)
    train = got["train"]
    symbols = {a: wf.SYMBOLS[a] for a in close_only}
    assert train.absent_features == {symbols[a]: (CLOSE_ONLY,) for a in close_only}
    counts = train.asset_counts()
    assert all(counts[a] > 0 for a in close_only), "a close-only asset trains"
    _fill_with_training_mean(root, train, close_only)
    ref = WindowDataset.splits(
        root, ("train", "valid"), lookback=lookback, missing=missing, stats=train.stats
    )
    for split in ("train", "valid"):
        a, b = got[split].to_arrays(), ref[split].to_arrays()
        for key in ("asset_ids", "y", "label_dates"):
            np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_allclose(a["X"], b["X"], atol=1e-6)
    col = train.feature_names.index(CLOSE_ONLY)
    mine = np.isin(train.to_arrays()["asset_ids"], list(close_only))
    assert (train.to_arrays()["X"][mine, :, col] == 0).all()  # filled: the training mean


def test_the_missing_indicator_flags_a_feature_an_asset_never_has(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", frozenset({3}))
    ds = WindowDataset.from_warehouse(root, "train", lookback=10, missing_indicator=True)
    a = ds.to_arrays()
    flag = ds.feature_names.index(f"{CLOSE_ONLY}__missing")
    btc = a["asset_ids"] == 3
    assert btc.any() and (a["X"][btc, :, flag] == 1).all()
    assert (a["X"][~btc, :, flag] == 0).all()


def test_an_asset_still_inside_a_warm_up_is_short_not_close_only(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", frozenset())
    ds = WindowDataset.from_warehouse(root, "train", lookback=5)
    # TINY has 12 rows and slow_30 warms up over 30: it lacks it for now, it is not a close-only asset
    assert ds.absent_features == {}
    assert "TINY" in ds.skipped_assets and ds.asset_counts()[5] == 0
