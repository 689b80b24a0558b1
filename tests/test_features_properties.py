"""Properties every feature must have, over every column the ``training_features`` view lists.

The features are read from the view, so a feature added later is covered without editing this file.
Each example builds a small project end to end (CSV files in data/raw → ingest → the shipped models).

(a) **Scale invariance.** Multiplying one asset's open/high/low/close by k and its volume by m changes
    no feature of any asset (to 1e-9 relative; 1e-12 absolute for values that cancel to about 0).
    A feature in price units (the old MACD) fails this by a factor k.
(b) **Start invariance.** The same asset with its history starting N rows later gives the same value
    wherever the shorter history gives one: to 1e-9 relative for finite windows (the last bits may
    differ with the rows a windowed sum reads), and within ``RECURSIVE_TOLERANCE`` of the feature's
    standard deviation for the features of models tagged ``recursive`` (EMAs, which converge rather
    than become exact: their warm-up lets the first row weigh < 0.1%, which on the default market moved
    a value by at most 1.2% of its standard deviation). The labels are held to the same exact rule.
(c) The no-look-ahead perturbation test lives in ``test_features_lookahead.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pytest
from _features_kit import build_project_with_engine, real_shaped_prices
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.config import load_project
from features.models.discovery import discover

RTOL, ATOL = 1e-9, 1e-12
RECURSIVE_TOLERANCE = 0.02  # of the feature's standard deviation over the asset
SEED = 21
SYMBOLS = sorted(real_shaped_prices(SEED))
PROPERTY = settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Built:
    """training_set of one build as arrays per (symbol, column), with its feature list."""

    def __init__(self, data: dict) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            warehouse = build_project_with_engine(Path(tmp), data)
            con = duckdb.connect(str(warehouse), read_only=True)
            try:
                self.features = [
                    r[0]
                    for r in con.execute("select feature from training_features order by position").fetchall()
                ]
                self.labels = [
                    r[0]
                    for r in con.execute("describe training_set").fetchall()
                    if r[0].startswith(("fwd_ret_", "label_"))
                ]
                frame = con.sql("select * from training_set order by symbol, ts").pl()
                self.closes = con.sql("select symbol, ts, close from stg_prices order by symbol, ts").pl()
                self.recursive = _recursive_columns(Path(tmp), con)
            finally:
                con.close()
        self.rows = {s: frame.filter(frame["symbol"] == s) for s in frame["symbol"].unique()}

    def column(self, symbol: str, name: str) -> np.ndarray:
        return self.rows[symbol][name].cast(float).to_numpy().astype(float)

    def dates(self, symbol: str) -> np.ndarray:
        return self.rows[symbol]["ts"].to_numpy()


def _recursive_columns(root: Path, con: duckdb.DuckDBPyConnection) -> set[str]:
    """Columns of every model tagged ``recursive`` (their values converge instead of becoming exact)."""
    models = discover(load_project(root)).models
    out: set[str] = set()
    for name, model in models.items():
        if "recursive" in model.header.tags:
            out |= {r[0] for r in con.execute(f"describe {name}").fetchall()}
    return out


@pytest.fixture(scope="module")
def base() -> tuple[dict, Built]:
    data = real_shaped_prices(SEED)
    return data, Built(data)


def _close(a: np.ndarray, b: np.ndarray, what: str, atol: float = ATOL) -> None:
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{what}: NULL pattern")
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=atol, equal_nan=True, err_msg=what)


def test_the_view_lists_the_features_and_one_model_is_recursive(base) -> None:
    _, built = base
    assert len(built.features) >= 11
    assert {"ppo", "ppo_signal"} <= built.recursive  # macd_features is tagged: the tolerance applies
    assert not {"ret_1d", "vol_20", "ret_1d_cs_rank"} & built.recursive


# ---------------------------------------------------------------------------- (a) scale


def _scaled(data: dict, symbol: str, k: float, m: float) -> dict:
    out = {s: dict(cols) for s, cols in data.items()}
    cols = out[symbol]
    for name in ("open", "high", "low", "close"):
        if name in cols:
            cols[name] = cols[name] * k
    if "volume" in cols:
        cols["volume"] = cols["volume"] * m
    return out


@PROPERTY
@given(
    symbol=st.sampled_from(SYMBOLS),
    k=st.floats(-3, 3).map(lambda e: 10.0**e),
    m=st.floats(-3, 3).map(lambda e: 10.0**e),
)
def test_scaling_one_assets_prices_and_volume_changes_no_feature(
    base, symbol: str, k: float, m: float
) -> None:
    data, before = base
    after = Built(_scaled(data, symbol, k, m))
    # the prices did change (the check can fail): the close of that asset is k times its old close
    old = before.closes.filter(before.closes["symbol"] == symbol)["close"].to_numpy()
    new = after.closes.filter(after.closes["symbol"] == symbol)["close"].to_numpy()
    np.testing.assert_allclose(new, old * k, rtol=1e-12)
    assert after.features == before.features
    for s in SYMBOLS:
        for name in [*before.features, *before.labels]:
            _close(
                after.column(s, name),
                before.column(s, name),
                f"{name} of {s} ({symbol} ×{k:g}, volume ×{m:g})",
            )


def test_a_price_level_feature_would_fail_the_scale_check(base) -> None:
    """The same comparison on MACD (EMA12 − EMA26, price units) fails: the check has teeth."""
    data, before = base
    after = Built(_scaled(data, "BTCUSD", 7.0, 1.0))

    def macd(built: Built) -> np.ndarray:
        close = built.closes.filter(built.closes["symbol"] == "BTCUSD")["close"].to_numpy()
        ema = {}
        for span in (12, 26):
            alpha, out = 2 / (span + 1), np.empty(len(close))
            out[0] = close[0]
            for t in range(1, len(close)):
                out[t] = alpha * close[t] + (1 - alpha) * out[t - 1]
            ema[span] = out
        return ema[12] - ema[26]

    with pytest.raises(AssertionError):
        _close(macd(after), macd(before), "macd")


# ---------------------------------------------------------------------------- (b) start


def _later_start(data: dict, symbol: str, n: int) -> dict:
    out = dict(data)
    out[symbol] = {name: values[n:] for name, values in data[symbol].items()}
    return out


@PROPERTY
@given(symbol=st.sampled_from(SYMBOLS), n=st.integers(1, 150))
def test_a_later_start_gives_the_same_values_where_it_gives_one(base, symbol: str, n: int) -> None:
    data, full = base
    short = Built(_later_start(data, symbol, n))
    dates = full.dates(symbol)
    assert np.array_equal(short.dates(symbol), dates[n:])
    for name in [*full.features, *full.labels]:
        a, b = short.column(symbol, name), full.column(symbol, name)[n:]
        known = ~np.isnan(a)
        assert not np.isnan(b[known]).any(), f"{name}: a value in the shorter history, none in the full one"
        if name in full.recursive:
            scale = np.nanstd(full.column(symbol, name))
            worst = np.max(np.abs(a[known] - b[known]), initial=0.0)
            assert worst <= RECURSIVE_TOLERANCE * scale, (
                f"{name} of {symbol} from row {n}: {worst / scale:.4f} sd"
            )
        else:
            np.testing.assert_allclose(
                a[known], b[known], rtol=RTOL, atol=ATOL, err_msg=f"{name} from row {n}"
            )
    # the check can fail: the shorter history has values of the recursive features too
    recursive = full.recursive & set(full.features)
    assert any((~np.isnan(short.column(symbol, f))).any() for f in recursive), symbol
