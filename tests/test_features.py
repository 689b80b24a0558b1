"""Every required feature against an independent numpy computation, on real-shaped prices.

The shipped models (sql/ and features/library/) run on an in-memory DuckDB; the references
below are written from the definitions in the README, one asset at a time over its own rows.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from _features_kit import (
    REQUIRED,
    build_project_with_engine,
    feature_frame,
    load_raw_prices,
    make_dim_symbol,
    make_feature_params,
    real_shaped_prices,
    run_models,
)

RTOL, ATOL = 1e-9, 1e-12  # atol only for values that are exactly 0 in the reference


@pytest.fixture(scope="module", params=["models", "engine"])
def built(request, tmp_path_factory) -> tuple[duckdb.DuckDBPyConnection, dict]:
    """The models run directly on raw_prices, and the whole pipeline (CSV → ingest → run_build)."""
    data = real_shaped_prices(seed=3)
    if request.param == "engine":
        warehouse = build_project_with_engine(tmp_path_factory.mktemp("proj"), data)
        con = duckdb.connect(str(warehouse), read_only=True)
    else:
        con = duckdb.connect()
        load_raw_prices(con, data)
        make_dim_symbol(con, data)
        make_feature_params(con, horizon=1)
        run_models(con)
    yield con, data
    con.close()


# ---------------------------------------------------------------------------- references


def ref_ret(close: np.ndarray, k: int) -> np.ndarray:
    out = np.full(len(close), np.nan)
    out[k:] = np.log(close[k:] / close[:-k])
    return out


def ref_rolling(values: np.ndarray, window: int, fn) -> np.ndarray:
    """fn over the ``window`` rows ending at t; NaN unless all of them are present."""
    out = np.full(len(values), np.nan)
    for t in range(window - 1, len(values)):
        chunk = values[t - window + 1 : t + 1]
        if not np.isnan(chunk).any():
            out[t] = fn(chunk)
    return out


def ref_rsi(close: np.ndarray) -> np.ndarray:
    out = np.full(len(close), np.nan)
    delta = np.diff(close)
    for t in range(14, len(close)):
        d = delta[t - 14 : t]
        gains, losses = np.maximum(d, 0).mean(), np.maximum(-d, 0).mean()
        out[t] = 50.0 if gains + losses == 0 else 100.0 * gains / (gains + losses)
    return out


def ref_volume_z(volume: np.ndarray) -> np.ndarray:
    out = np.full(len(volume), np.nan)
    for t in range(19, len(volume)):
        w = volume[t - 19 : t + 1]
        if np.isnan(volume[t]) or np.isnan(w).any():
            continue
        sd = w.std(ddof=1)
        if sd > 0:
            out[t] = (volume[t] - w.mean()) / sd
    return out


def ref_ema(x: np.ndarray, span: int) -> np.ndarray:
    alpha = 2.0 / (span + 1)
    out = np.empty(len(x))
    out[0] = x[0]
    for t in range(1, len(x)):
        out[t] = alpha * x[t] + (1 - alpha) * out[t - 1]
    return out


def assert_close(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{what}: NULL pattern")
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what, equal_nan=True)


# ---------------------------------------------------------------------------- tests


def test_training_set_columns_in_contract_order(built) -> None:
    con, _ = built
    columns = [r[0] for r in con.execute("describe training_set").fetchall()]
    assert columns[:3] == ["asset_id", "symbol", "ts"]
    assert columns[3 : 3 + len(REQUIRED)] == REQUIRED
    assert columns[3 + len(REQUIRED) :] == ["fwd_ret_1d", "label_up"]
    listed = con.execute("select feature from training_features order by position").fetchall()
    assert [r[0] for r in listed] == REQUIRED


@pytest.mark.parametrize("symbol", ["AAPL", "BTCUSD", "MSFT", "SPY", "KO"])
def test_price_features_match_numpy(built, symbol: str) -> None:
    con, data = built
    cols = data[symbol]
    close = cols["close"]
    got = feature_frame(con, symbol, [*REQUIRED, "fwd_ret_1d", "label_up"])
    assert len(got["ret_1d"]) == len(close), "one row per price row"
    ret1 = ref_ret(close, 1)
    assert_close(got["ret_1d"], ret1, "ret_1d")
    assert_close(got["ret_5d"], ref_ret(close, 5), "ret_5d")
    assert_close(got["ret_20d"], ref_ret(close, 20), "ret_20d")
    assert_close(got["vol_20"], ref_rolling(ret1, 20, lambda w: w.std(ddof=1)), "vol_20")
    sma = ref_rolling(close, 20, np.mean)
    assert_close(got["sma_ratio_20"], close / sma - 1.0, "sma_ratio_20")
    assert_close(got["rsi_14"], ref_rsi(close), "rsi_14")
    volume = cols.get("volume", np.full(len(close), np.nan))
    assert_close(got["volume_z_20"], ref_volume_z(volume), "volume_z_20")
    if "high" in cols:
        assert_close(got["hl_range"], (cols["high"] - cols["low"]) / close, "hl_range")
    else:
        assert np.isnan(got["hl_range"]).all(), "close-only series: hl_range NULL, never wrong"
    macd = ref_ema(close, 12) - ref_ema(close, 26)
    assert_close(got["macd"], macd, "macd")
    assert_close(got["macd_signal"], ref_ema(macd, 9), "macd_signal")
    fwd = np.full(len(close), np.nan)
    fwd[:-1] = np.log(close[1:] / close[:-1])
    assert_close(got["fwd_ret_1d"], fwd, "fwd_ret_1d")
    expected_up = np.where(np.isnan(fwd), np.nan, (fwd > 0).astype(float))
    assert_close(got["label_up"], expected_up, "label_up")


def test_flat_prices_give_rsi_50_and_constant_volume_gives_null_z(built) -> None:
    con, _data = built
    got = feature_frame(con, "KO", ["rsi_14", "volume_z_20"])
    assert got["rsi_14"][79] == 50.0  # 14 unchanged closes before row 79
    assert np.isnan(got["volume_z_20"][124])  # 20 equal volumes: std 0
    assert np.isnan(got["volume_z_20"][200])  # missing volume


def test_cross_sectional_rank_matches_numpy(built) -> None:
    con, data = built
    per_date: dict[np.datetime64, list[tuple[str, float]]] = {}
    for symbol, cols in data.items():
        for ts, r in zip(cols["ts"], ref_ret(cols["close"], 1), strict=True):
            if not np.isnan(r):
                per_date.setdefault(ts, []).append((symbol, r))
    expected: dict[tuple[str, np.datetime64], float] = {}
    for ts, items in per_date.items():
        values = np.array([v for _, v in items])
        for symbol, v in items:
            n = len(values)
            expected[(symbol, ts)] = 0.0 if n == 1 else np.sum(values < v) / (n - 1)
    rows = con.execute(
        "select symbol, ts, ret_1d_cs_rank from training_set where ret_1d_cs_rank is not null"
    ).fetchall()
    assert len(rows) == len(expected)
    for symbol, ts, rank in rows:
        assert rank == pytest.approx(expected[(symbol, np.datetime64(ts))], rel=RTOL, abs=ATOL)
    # BTCUSD trades alone on weekends: n = 1 gives 0
    weekend = [r for r in rows if r[0] == "BTCUSD" and r[1].weekday() >= 5]
    assert weekend and all(r[2] == 0.0 for r in weekend)


def test_crypto_windows_count_days_and_equity_windows_count_trading_days(built) -> None:
    con, data = built
    first = dict(
        con.execute(
            "select symbol, min(ts) from training_set where ret_20d is not null group by symbol"
        ).fetchall()
    )
    for symbol in ("BTCUSD", "AAPL"):
        assert np.datetime64(first[symbol]) == data[symbol]["ts"][20], symbol


def test_label_horizon_comes_from_feature_params() -> None:
    con = duckdb.connect()
    data = real_shaped_prices(seed=4)
    load_raw_prices(con, data)
    make_dim_symbol(con, data)
    make_feature_params(con, horizon=5)
    run_models(con)
    columns = [r[0] for r in con.execute("describe training_set").fetchall()]
    assert columns[-2:] == ["fwd_ret_5d", "label_up"]
    close = data["AAPL"]["close"]
    got = feature_frame(con, "AAPL", ["fwd_ret_5d"])["fwd_ret_5d"]
    expected = np.full(len(close), np.nan)
    expected[:-5] = np.log(close[5:] / close[:-5])
    assert_close(got, expected, "fwd_ret_5d")
