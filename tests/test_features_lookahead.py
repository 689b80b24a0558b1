"""No feature looks ahead: change every price after a date t and nothing at or before t moves.

The feature columns are read from the ``training_features`` view, so a feature added later is
covered without touching this test. Labels (fwd_ret_*, label_*) may change, and must for h >= 1.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from _features_kit import (
    load_raw_prices,
    make_dim_symbol,
    make_feature_params,
    real_shaped_prices,
    run_models,
)


def _build(data: dict) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load_raw_prices(con, data)
    make_dim_symbol(con, data)
    make_feature_params(con, horizon=1)
    run_models(con)
    return con


def _perturb_after(data: dict, cutoff: np.datetime64, rng: np.random.Generator) -> dict:
    """Scale every bar after ``cutoff`` by a random factor (OHLC stays consistent), new volumes."""
    out = {}
    for symbol, cols in data.items():
        cols = {k: v.copy() for k, v in cols.items()}
        later = cols["ts"] > cutoff
        factor = np.exp(rng.normal(0, 0.2, later.sum()))
        for name in ("open", "high", "low", "close"):
            if name in cols:
                cols[name][later] *= factor
        if "volume" in cols:
            cols["volume"][later] = np.round(rng.lognormal(14, 1.0, later.sum()))
        out[symbol] = cols
    return out


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_no_feature_changes_at_or_before_t_when_later_prices_change(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = real_shaped_prices(seed=seed)
    days = np.unique(np.concatenate([c["ts"] for c in data.values()]))
    cutoff = days[rng.integers(30, len(days) - 30)]
    before = _build(data)
    after = _build(_perturb_after(data, cutoff, rng))
    features = [
        r[0] for r in before.execute("select feature from training_features order by position").fetchall()
    ]
    assert len(features) >= 11
    query = "select * from training_set where ts <= ? order by asset_id, ts"
    a = before.sql(query, params=[cutoff.item()]).pl()
    b = after.sql(query, params=[cutoff.item()]).pl()
    assert a.height == b.height > 0
    for feature in features:
        x, y = a[feature].to_numpy().astype(float), b[feature].to_numpy().astype(float)
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=f"{feature}: NULLs moved")
        np.testing.assert_array_equal(x, y, err_msg=f"{feature} at or before {cutoff} changed: look-ahead")
    # the check can fail: the label at t does see t+1, so it must have changed somewhere at the cutoff
    fa, fb = a["fwd_ret_1d"].to_numpy().astype(float), b["fwd_ret_1d"].to_numpy().astype(float)
    assert not np.allclose(fa, fb, equal_nan=True)
