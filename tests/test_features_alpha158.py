"""The optional Alpha158-style model: reference values, no look-ahead, and enabling it in a project."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from _features_kit import (
    REPO,
    load_raw_prices,
    make_dim_symbol,
    make_feature_params,
    real_shaped_prices,
    run_models,
)

from features.build import run_build
from features.config import load_project

EPS = 1e-12


def _module():
    spec = importlib.util.spec_from_file_location("_alpha158", REPO / "features" / "optional" / "alpha158.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _alpha(data: dict) -> pl.DataFrame:
    con = duckdb.connect()
    load_raw_prices(con, data)
    make_dim_symbol(con, data)
    make_feature_params(con)
    run_models(con, only=["stg_prices"])
    frame = con.sql("select * from stg_prices").pl()
    symbols = con.sql("select asset_id, symbol from dim_symbol").pl()
    return _module().alpha158(frame).join(symbols, on="asset_id").sort("symbol", "ts")


def _rolling(x: np.ndarray, d: int, fn) -> np.ndarray:
    out = np.full(len(x), np.nan)
    for t in range(d - 1, len(x)):
        w = x[t - d + 1 : t + 1]
        if not np.isnan(w).any():
            out[t] = fn(w)
    return out


@pytest.fixture(scope="module")
def alpha() -> tuple[pl.DataFrame, dict]:
    data = real_shaped_prices(seed=5)
    return _alpha(data), data


@pytest.mark.parametrize("symbol", ["AAPL", "BTCUSD", "KO"])
def test_alpha158_matches_numpy(alpha, symbol: str) -> None:
    frame, data = alpha
    got = frame.filter(pl.col("symbol") == symbol)
    col = {k: v for k, v in data[symbol].items() if k != "ts"}
    o, h, lo, c, v = col["open"], col["high"], col["low"], col["close"], col["volume"]
    delta = np.concatenate([[np.nan], np.diff(c)])
    roc5 = np.full(len(c), np.nan)
    roc5[5:] = c[:-5] / c[5:]
    max10, min10 = _rolling(h, 10, np.max), _rolling(lo, 10, np.min)
    gains_5 = _rolling(np.where(np.isnan(delta), np.nan, np.maximum(delta, 0)), 5, np.sum)
    moves_5 = _rolling(np.abs(delta), 5, np.sum) + EPS
    expected = {
        "KMID": (c - o) / o,
        "KSFT2": (2 * c - h - lo) / (h - lo + EPS),
        "KUP": (h - np.maximum(o, c)) / o,
        "ROC5": roc5,
        "MA10": _rolling(c, 10, np.mean) / c,
        "STD20": _rolling(c, 20, lambda w: w.std(ddof=1)) / c,
        "QTLU5": _rolling(c, 5, lambda w: np.quantile(w, 0.8)) / c,
        "QTLD30": _rolling(c, 30, lambda w: np.quantile(w, 0.2)) / c,
        "RSV10": (c - min10) / (max10 - min10 + EPS),
        "CNTP10": _rolling(np.where(np.isnan(delta), np.nan, (delta > 0).astype(float)), 10, np.mean),
        "SUMP5": gains_5 / moves_5,
        "VSTD5": _rolling(v, 5, lambda w: w.std(ddof=1)) / (v + EPS),
    }
    corr = np.full(len(c), np.nan)
    lv = np.log(v + 1)
    for t in range(19, len(c)):
        a, b = c[t - 19 : t + 1], lv[t - 19 : t + 1]
        if not np.isnan(b).any() and np.ptp(a) > 0 and np.ptp(b) > 0:  # constant series: no correlation
            corr[t] = np.corrcoef(a, b)[0, 1]
    expected["CORR20"] = corr
    for name, want in expected.items():
        have = got[name].to_numpy().astype(float)
        np.testing.assert_array_equal(np.isnan(have), np.isnan(want), err_msg=f"{name}: NULL pattern")
        np.testing.assert_allclose(have, want, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name)


def test_close_only_series_has_null_bar_features(alpha) -> None:
    frame, _ = alpha
    spy = frame.filter(pl.col("symbol") == "SPY")
    assert spy["KMID"].null_count() == spy.height and spy["MAX10"].null_count() == spy.height
    assert spy["MA10"].drop_nulls().len() == spy.height - 9


def test_alpha158_never_looks_ahead() -> None:
    data = real_shaped_prices(seed=6)
    cutoff = np.datetime64("2023-07-14")
    later = {}
    rng = np.random.default_rng(0)
    for symbol, cols in data.items():
        cols = {k: v.copy() for k, v in cols.items()}
        after = cols["ts"] > cutoff
        factor = np.exp(rng.normal(0, 0.2, after.sum()))
        for name in ("open", "high", "low", "close"):
            if name in cols:
                cols[name][after] *= factor
        if "volume" in cols:
            cols["volume"][after] *= 3.0
        later[symbol] = cols
    a = _alpha(data).filter(pl.col("ts") <= cutoff.item())
    b = _alpha(later).filter(pl.col("ts") <= cutoff.item())
    columns = _module().alpha158_columns()
    assert len(columns) > 90 and a.columns[2 : 2 + len(columns)] == columns
    for name in columns:
        np.testing.assert_array_equal(a[name].to_numpy(), b[name].to_numpy(), err_msg=name)


def test_enabled_by_adding_its_folder_to_python_models(tiny_project: Path) -> None:
    (tiny_project / "config" / "project.toml").write_text(
        f'[paths]\nsql = "{REPO / "sql"}"\n'
        f'python_models = ["{REPO / "features" / "library"}", "{REPO / "features" / "optional"}"]\n'
        "[synthetic]\nyears = 0.4\n"
    )
    project = load_project(tiny_project)
    run_build(project, quiet=True)
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        rows, symbols = con.execute("select count(*), count(distinct asset_id) from alpha158").fetchone()
        assert symbols == 154 and rows == con.execute("select count(*) from stg_prices").fetchone()[0]
    finally:
        con.close()
