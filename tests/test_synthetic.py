"""The synthetic market: deterministic, realistic calendars and bars, and the planted dynamics."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features.config import SyntheticConfig, load_project
from features.synthetic import (
    MEAN_REVERSION,
    MOMENTUM,
    NONE,
    PLANTED_PHI,
    generate_market,
    load_assets,
    planted_coefficients,
    planted_dynamics,
    synthetic_universe,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def universe():
    return load_assets(REPO / "config" / "symbols.json")


@pytest.fixture(scope="module")
def market(universe) -> pl.DataFrame:
    table = generate_market(universe, SyntheticConfig(years=10.0))
    return pl.from_arrow(table).with_columns(pl.col("symbol").cast(pl.String))


def test_same_seed_same_market_other_seed_other_market(universe) -> None:
    small = universe[:12]
    a = generate_market(small, SyntheticConfig(seed=1, years=1.0))
    b = generate_market(small, SyntheticConfig(seed=1, years=1.0))
    c = generate_market(small, SyntheticConfig(seed=2, years=1.0))
    assert a.equals(b)
    assert not a.equals(c)


def test_calendars_crypto_every_day_equities_weekdays_without_holidays(market: pl.DataFrame) -> None:
    btc = market.filter(pl.col("symbol") == "BTCUSD")["ts"]
    assert (btc.diff().drop_nulls().dt.total_days() == 1).all()
    assert btc.dt.weekday().is_in([6, 7]).any()
    spy = market.filter(pl.col("symbol") == "SPY")["ts"]
    assert not spy.dt.weekday().is_in([6, 7]).any()
    month_day = spy.dt.strftime("%m-%d")
    assert not month_day.is_in(["01-01", "07-04", "12-25"]).any()
    years = spy.dt.year().n_unique()
    assert 250 * years < spy.len() < 262 * years  # weekdays minus four holidays a year
    assert market["ts"].max().isoformat() == "2025-12-31"


def test_late_listings(market: pl.DataFrame, universe) -> None:
    first = dict(market.group_by("symbol").agg(pl.col("ts").min()).iter_rows())
    start = min(first.values())
    late = {s for s, ts in first.items() if (ts - start).days > 365}
    defi = {u.symbol for u in universe if u.subcategory == "DeFi"}
    assert defi <= late
    assert 0 < len(late - defi) < 0.2 * len(universe)


def test_bars_are_consistent(market: pl.DataFrame) -> None:
    bad = market.filter(
        (pl.col("low") > pl.min_horizontal("open", "close"))
        | (pl.col("high") < pl.max_horizontal("open", "close"))
        | (pl.col("low") <= 0)
        | (pl.col("volume") <= 0)
        | ~pl.col("close").is_finite()
    )
    assert bad.height == 0
    assert market.select(pl.struct("symbol", "ts").is_unique().all()).item()


def _returns(market: pl.DataFrame) -> pl.DataFrame:
    return market.sort("symbol", "ts").with_columns(
        (pl.col("close") / pl.col("close").shift(1)).log().over("symbol").alias("r")
    )


def test_planted_dynamics_show_in_idiosyncratic_autocorrelation(market: pl.DataFrame, universe) -> None:
    """Residual of each asset against its sub-category's mean return: lag-1 autocorrelation by group."""
    info = pl.DataFrame(
        {
            "symbol": [u.symbol for u in universe],
            "sub": [u.subcategory for u in universe],
            "dynamic": [planted_dynamics(universe)[u.symbol] for u in universe],
            "is_etf": [u.category == "etfs" for u in universe],
        }
    )
    r = _returns(market).join(info, on="symbol").filter(~pl.col("is_etf"))
    r = r.with_columns((pl.col("r") - pl.col("r").mean().over("sub", "ts")).alias("e")).drop_nulls("e")
    acf = (
        r.sort("symbol", "ts")
        .group_by("symbol", "dynamic", maintain_order=True)
        .agg(pl.corr(pl.col("e"), pl.col("e").shift(1)).alias("acf"))
        .group_by("dynamic")
        .agg(pl.col("acf").mean())
    )
    by_group = dict(acf.iter_rows())
    assert by_group[MOMENTUM] > 0.12
    assert by_group[MEAN_REVERSION] < -0.12
    assert abs(by_group[NONE]) < 0.05


def test_planted_dynamics_api(universe) -> None:
    dynamics = planted_dynamics(universe)
    phi = planted_coefficients(universe)
    assert set(dynamics) == {u.symbol for u in universe}
    assert dynamics["NVDA"] == MOMENTUM and dynamics["JPM"] == MEAN_REVERSION and dynamics["SPY"] == NONE
    assert phi["BTCUSD"] == PLANTED_PHI[MOMENTUM] == 0.25 and phi["AAVEUSD"] == -0.25
    groups = set(dynamics.values())
    assert groups == {MOMENTUM, MEAN_REVERSION, NONE}


def test_etfs_track_their_sector_and_volatility_clusters(market: pl.DataFrame, universe) -> None:
    r = _returns(market)
    tech = {u.symbol for u in universe if u.subcategory == "Technology"}
    sector_mean = r.filter(pl.col("symbol").is_in(tech)).group_by("ts").agg(pl.col("r").mean().alias("m"))
    xlk = r.filter(pl.col("symbol") == "XLK").join(sector_mean, on="ts").drop_nulls()
    assert xlk.select(pl.corr("r", "m")).item() > 0.95
    spy = r.filter(pl.col("symbol") == "SPY").drop_nulls("r")["r"].to_numpy()
    sq = spy**2
    assert np.corrcoef(sq[1:], sq[:-1])[0, 1] > 0.05  # GARCH: big moves follow big moves


def test_default_size_is_fast_and_extra_symbols_are_added(tiny_project: Path) -> None:
    (tiny_project / "config" / "project.toml").write_text("[synthetic]\nextra_symbols = 30\n")
    project = load_project(tiny_project)
    universe = synthetic_universe(project)
    assert len(universe) == 154 + 30 and universe[-1].symbol == "XRPUSD"
    assert {u.symbol for u in universe if u.symbol.startswith("SYN")} == {f"SYN{i:04d}" for i in range(30)}
    started = time.perf_counter()
    table = generate_market(universe[:154], SyntheticConfig())
    assert time.perf_counter() - started < 3.0
    assert table.num_rows > 154 * 2000


def test_planted_dynamics_accepts_the_symbols_universe() -> None:
    from features.symbols import load_universe

    universe = load_universe(REPO / "config" / "symbols.json")
    assert planted_dynamics(universe) == planted_dynamics(universe.symbols)
    assert planted_coefficients(universe)["XOM"] == 0.25
