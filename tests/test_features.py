"""Every required feature against an independent numpy computation, on real-shaped prices.

The shipped models (sql/ and features/library/) run on an in-memory DuckDB; the references
below are written from the definitions in docs/features.md, one asset at a time over its own rows.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from _features_kit import (
    REQUIRED,
    build_project_with_engine,
    categories,
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


def seed_updates(span: int, weight: float = 0.001) -> int:
    """The documented warm-up rule: updates until the seed weighs (1 − α)ⁿ < 0.1%, counted one by one."""
    n, left = 0, 1.0
    while left >= weight:
        left *= 1.0 - 2.0 / (span + 1)
        n += 1
    return n


def ref_ppo(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ppo = EMA12/EMA26 − 1, NULL until both seeds weigh < 0.1%; its EMA9 signal starts at the first
    ppo and is NULL until its own seed weighs < 0.1%."""
    warm = max(seed_updates(12), seed_updates(26))
    ppo = ref_ema(close, 12) / ref_ema(close, 26) - 1.0
    ppo[:warm] = np.nan
    signal = np.full(len(close), np.nan)
    if len(close) > warm:
        signal[warm:] = ref_ema(ppo[warm:], 9)
        signal[: warm + seed_updates(9)] = np.nan
    return ppo, signal


def ref_labels(
    ts: np.ndarray, close: np.ndarray, horizon: int, max_gap: float = 4.0
) -> tuple[np.ndarray, np.ndarray]:
    """fwd_ret and label_up by the documented rules, in plain Python: NULL in the first 20 rows, in the
    last h, and when a step inside (t, t + h] is longer than max_gap × the median of the last 20 steps;
    label_up NULL on a zero return."""
    import math
    import statistics

    days = [int(d) for d in ts.astype("datetime64[D]").astype(np.int64)]
    steps = [None] + [days[i] - days[i - 1] for i in range(1, len(days))]
    fwd, up = np.full(len(days), np.nan), np.full(len(days), np.nan)
    for t in range(20, len(days) - horizon):
        usual = statistics.median(steps[t - 19 : t + 1])
        if max(steps[t + 1 : t + horizon + 1]) > max_gap * usual:
            continue
        fwd[t] = math.log(close[t + horizon] / close[t])
        up[t] = 1.0 if fwd[t] > 0 else 0.0 if fwd[t] < 0 else np.nan
    return fwd, up


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


@pytest.mark.parametrize("symbol", ["AAPL", "BTCUSD", "ETHUSD", "MSFT", "SPY", "KO"])
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
    ppo, signal = ref_ppo(close)
    assert_close(got["ppo"], ppo, "ppo")
    assert_close(got["ppo_signal"], signal, "ppo_signal")
    fwd, up = ref_labels(cols["ts"], close, horizon=1)
    assert_close(got["fwd_ret_1d"], fwd, "fwd_ret_1d")
    assert_close(got["label_up"], up, "label_up")


def test_flat_prices_give_rsi_50_and_constant_volume_gives_null_z(built) -> None:
    con, _data = built
    got = feature_frame(con, "KO", ["rsi_14", "volume_z_20"])
    assert got["rsi_14"][79] == 50.0  # 14 unchanged closes before row 79
    assert np.isnan(got["volume_z_20"][124])  # 20 equal volumes: std 0
    assert np.isnan(got["volume_z_20"][200])  # missing volume


def ref_cs_rank(data: dict, groups: str = "crypto") -> dict[tuple[str, np.datetime64], float]:
    """(rank − 1)/(n − 1) of ret_1d among the assets of the same calendar group on the same date (ties
    take the lowest rank, 0 when n = 1). A category listed in ``groups`` is its own group; the rest
    share one."""
    listed = {g.strip().lower() for g in groups.split(",") if g.strip()}
    category = categories()
    per_group: dict[tuple[np.datetime64, str], list[tuple[str, float]]] = {}
    for symbol, cols in data.items():
        group = category.get(symbol, "sectors") if category.get(symbol, "sectors") in listed else ""
        for ts, r in zip(cols["ts"], ref_ret(cols["close"], 1), strict=True):
            if not np.isnan(r):
                per_group.setdefault((ts, group), []).append((symbol, r))
    expected = {}
    for (ts, _group), items in per_group.items():
        values = np.array([v for _, v in items])
        for symbol, v in items:
            n = len(values)
            expected[(symbol, ts)] = 0.0 if n == 1 else np.sum(values < v) / (n - 1)
    return expected


def _check_ranks(rows: list[tuple], expected: dict) -> None:
    assert len(rows) == len(expected)
    for symbol, ts, rank in rows:
        assert rank == pytest.approx(expected[(symbol, np.datetime64(ts))], rel=RTOL, abs=ATOL), (symbol, ts)


def test_cross_sectional_rank_is_within_calendar_groups(built) -> None:
    con, data = built
    rows = con.execute(
        "select symbol, ts, ret_1d_cs_rank from training_set where ret_1d_cs_rank is not null"
    ).fetchall()
    _check_ranks(rows, ref_cs_rank(data))
    # weekends: the two coins rank among themselves (0 and 1), not alone (always 0)
    weekend = [r for r in rows if r[0] in ("BTCUSD", "ETHUSD") and r[1].weekday() >= 5]
    assert weekend and {r[2] for r in weekend} == {0.0, 1.0}
    # a weekday: the equities' ranks span [0, 1] among themselves, the coins' too
    monday = max(r[1] for r in rows if r[1].weekday() == 0)
    equities = sorted(r[2] for r in rows if r[1] == monday and r[0] not in ("BTCUSD", "ETHUSD"))
    assert len(equities) >= 3 and equities[0] == 0.0 and equities[-1] == 1.0


@pytest.mark.parametrize("groups", ["", "crypto, ETFS", "etfs"])
def test_calendar_groups_are_configurable(groups: str) -> None:
    data = real_shaped_prices(seed=8)
    con = duckdb.connect()
    load_raw_prices(con, data)
    make_dim_symbol(con, data)
    make_feature_params(con, calendar_groups=groups)
    run_models(con, only=["cs_features"])
    rows = con.execute(
        "select d.symbol, c.ts, c.ret_1d_cs_rank from cs_features c join dim_symbol d using (asset_id)"
        " where c.ret_1d_cs_rank is not null"
    ).fetchall()
    _check_ranks(rows, ref_cs_rank(data, groups))


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
    for symbol, cols in data.items():
        got = feature_frame(con, symbol, ["fwd_ret_5d", "label_up"])
        fwd, up = ref_labels(cols["ts"], cols["close"], horizon=5)
        assert_close(got["fwd_ret_5d"], fwd, f"{symbol} fwd_ret_5d")
        assert_close(got["label_up"], up, f"{symbol} label_up")
