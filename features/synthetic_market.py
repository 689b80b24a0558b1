"""The numpy generator behind :mod:`features.synthetic` (see its docstring for what is simulated)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from features.config import SyntheticConfig
from features.synthetic_params import GARCH_A, GARCH_B, PLANTED_PHI, SECTOR_ETFS, Asset, dynamic_of

# ------------------------------------------------------------------------------------------ calendar


def calendar(config: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
    """(every calendar day, trading days) of the span, as datetime64[D] arrays."""
    end = np.datetime64(config.end_date, "D")
    n_days = max(round(config.years * 365.25), 2)
    days = end - np.arange(n_days - 1, -1, -1)
    weekday = (days.astype(np.int64) + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    months = days.astype("datetime64[M]")
    month = months.astype(np.int64) % 12 + 1
    dom = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    holiday = (
        ((month == 1) & (dom == 1))
        | ((month == 7) & (dom == 4))
        | ((month == 12) & (dom == 25))
        | ((month == 11) & (weekday == 3) & (dom >= 22) & (dom <= 28))  # Thanksgiving
    )
    return days, days[(weekday < 5) & ~holiday]


# ----------------------------------------------------------------------------------------- generator


def _garch_ar(
    rng: np.random.Generator, n_steps: int, long_vol: np.ndarray, phi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) series with GARCH(1,1) shocks, one per column: (values, conditional vol), (T, K)."""
    k = long_vol.shape[0]
    z = rng.standard_normal((n_steps, k))
    vols = np.empty((n_steps, k))
    long_var = long_vol**2
    omega = long_var * (1.0 - GARCH_A - GARCH_B)
    var = long_var.copy()
    prev = np.zeros(k)
    for t in range(n_steps):  # a loop over dates only; each step is vectorised over series
        vols[t] = np.sqrt(var)
        u = vols[t] * z[t]
        prev = phi * prev + u
        z[t] = prev  # reuse the noise buffer for the output
        var = omega + GARCH_A * u * u + GARCH_B * var
    return z, vols


def _listing_index(rng: np.random.Generator, assets: Sequence[Asset], n_steps: np.ndarray) -> np.ndarray:
    """First row of each asset on its own calendar: 0, or 20–60% in for late listings."""
    late = np.array([a.subcategory == "DeFi" for a in assets]) | (rng.random(len(assets)) < 0.06)
    late &= np.array([a.subcategory != "Market" for a in assets])  # index ETFs exist from day one
    frac = rng.uniform(0.2, 0.6, len(assets))
    return np.where(late, (frac * n_steps).astype(np.int64), 0)


def _bars(
    rng: np.random.Generator, r: np.ndarray, vol: np.ndarray, first: np.ndarray, price0: np.ndarray
) -> dict[str, np.ndarray]:
    """OHLCV (T, K) from log returns ``r`` and conditional vol ``vol``; rows before ``first`` unused."""
    n_steps, k = r.shape
    steps = np.arange(n_steps)[:, None]
    r = np.where(steps <= first[None, :], 0.0, r)  # the listing day's close is price0
    close = price0[None, :] * np.exp(np.cumsum(r, axis=0))
    prev_close = np.vstack([close[:1], close[:-1]])
    gap = rng.standard_normal((n_steps, k)) * 0.3 * vol
    open_ = prev_close * np.exp(gap)
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * np.exp(np.abs(rng.standard_normal((n_steps, k))) * 0.5 * vol)
    low = bottom * np.exp(-np.abs(rng.standard_normal((n_steps, k))) * 0.5 * vol)
    base = np.exp(rng.uniform(np.log(2e5), np.log(5e7), k))
    shock = np.abs(r) / np.maximum(vol, 1e-6)
    volume = np.round(base[None, :] * np.exp(0.25 * rng.standard_normal((n_steps, k)) + 0.3 * shock)) + 1.0
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def _equity_world(
    rng: np.random.Generator, assets: list[Asset], n_steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log returns and vols (T, K) for stocks and ETFs on the trading-day grid, and the market."""
    market, _ = _garch_ar(rng, n_steps, np.array([0.010]), np.zeros(1))
    market = market[:, 0] + 0.0003
    stocks = [i for i, a in enumerate(assets) if a.category != "etfs"]
    sector_names = sorted({assets[i].subcategory for i in stocks}, key=lambda s: s)
    sector_f, _ = _garch_ar(rng, n_steps, np.full(len(sector_names), 0.007), np.zeros(len(sector_names)))
    k = len(assets)
    phi = np.array([PLANTED_PHI[dynamic_of(a)] for a in assets])
    idio_vol = rng.uniform(0.010, 0.020, k)
    etf = np.array([a.category == "etfs" for a in assets])
    idio_vol[etf] = 0.0008  # tracking error
    idio, vol = _garch_ar(rng, n_steps, idio_vol, phi)
    beta = rng.uniform(0.7, 1.3, k)
    col = {name: j for j, name in enumerate(sector_names)}
    sector_idx = np.array([col.get(a.subcategory, -1) for a in assets])
    r = beta[None, :] * market[:, None] + idio
    has_sector = (sector_idx >= 0) & ~etf
    r[:, has_sector] += sector_f[:, sector_idx[has_sector]]
    stock_mean = r[:, stocks].mean(axis=1) if stocks else market
    etf_groups = [a.subcategory for a in assets]
    # a Sector ETF tracks the stocks of its sector (SECTOR_ETFS); an unknown one tracks all stocks
    for i, a in enumerate(assets):
        if a.category == "etfs" and a.subcategory == "Sector":
            members = [j for j in stocks if assets[j].subcategory == SECTOR_ETFS.get(a.symbol)]
            r[:, i] = (r[:, members].mean(axis=1) if members else stock_mean) + idio[:, i]
    extra_factor: dict[str, np.ndarray] = {}
    for i, a in enumerate(assets):
        if not etf[i] or a.subcategory == "Sector":
            continue
        group = etf_groups[i]
        if group == "Market" or group not in ("International", "Volatility", "Commodities"):
            r[:, i] = stock_mean + idio[:, i]
            continue
        if group not in extra_factor:
            extra_factor[group], _ = _garch_ar(rng, n_steps, np.array([0.009]), np.zeros(1))
        f = extra_factor[group][:, 0]
        loading = {"International": 0.8, "Volatility": -2.5, "Commodities": 0.2}[group]
        drift = -0.002 if group == "Volatility" else 0.0
        r[:, i] = loading * market + f + 10.0 * idio[:, i] + drift
        vol[:, i] *= 10.0
    total_vol = np.sqrt(vol**2 + 0.010**2)
    return r, total_vol, market


def _crypto_world(
    rng: np.random.Generator, assets: list[Asset], n_steps: int, equity_market_on_days: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Log returns and vols (T, K) for crypto on the every-day grid."""
    k = len(assets)
    factor, _ = _garch_ar(rng, n_steps, np.array([0.030]), np.zeros(1))
    cmarket = factor[:, 0] + 0.5 * equity_market_on_days + 0.0005
    subs = sorted({a.subcategory for a in assets})
    sub_f, _ = _garch_ar(rng, n_steps, np.full(len(subs), 0.012), np.zeros(len(subs)))
    phi = np.array([PLANTED_PHI[dynamic_of(a)] for a in assets])
    idio, vol = _garch_ar(rng, n_steps, rng.uniform(0.020, 0.035, k), phi)
    beta = rng.uniform(0.8, 1.4, k)
    sub_idx = np.array([subs.index(a.subcategory) for a in assets])
    r = beta[None, :] * cmarket[:, None] + sub_f[:, sub_idx] + idio
    return r, np.sqrt(vol**2 + 0.03**2)


def _long(
    assets: list[Asset], dates: np.ndarray, bars: dict[str, np.ndarray], first: np.ndarray
) -> dict[str, np.ndarray]:
    """Flatten (T, K) bars to long rows (asset-major, by date), dropping rows before listing."""
    n_steps = len(dates)
    keep = np.arange(n_steps)[None, :] >= first[:, None]  # (K, T)
    counts = keep.sum(axis=1)
    out = {"asset": np.repeat(np.arange(len(assets)), counts)}
    out["ts"] = np.broadcast_to(dates[None, :], keep.shape)[keep]
    for name, values in bars.items():
        out[name] = values.T[keep]
    return out


def generate_market(universe: Sequence[Asset] | Sequence[object], config: SyntheticConfig) -> pa.Table:
    """Daily OHLCV for ``universe`` as an Arrow table (symbol, ts, open, high, low, close, volume)."""
    assets = sorted((Asset(u.symbol, u.category, u.subcategory) for u in universe), key=lambda a: a.symbol)
    rng = np.random.default_rng(config.seed)
    days, trading = calendar(config)
    equity = [a for a in assets if a.category != "crypto"]
    crypto = [a for a in assets if a.category == "crypto"]
    parts: list[tuple[list[Asset], dict[str, np.ndarray]]] = []
    market_on_days = np.zeros(len(days))
    if equity:
        r, vol, market = _equity_world(rng, equity, len(trading))
        market_on_days[np.searchsorted(days, trading)] = market
        first = _listing_index(rng, equity, np.int64(len(trading)))
        price0 = np.exp(rng.uniform(np.log(10.0), np.log(400.0), len(equity)))
        parts.append((equity, _long(equity, trading, _bars(rng, r, vol, first, price0), first)))
        del r, vol
    if crypto:
        r, vol = _crypto_world(rng, crypto, len(days), market_on_days)
        first = _listing_index(rng, crypto, np.int64(len(days)))
        price0 = np.exp(rng.uniform(np.log(0.1), np.log(30000.0), len(crypto)))
        parts.append((crypto, _long(crypto, days, _bars(rng, r, vol, first, price0), first)))
        del r, vol
    symbols = [a.symbol for part, _ in parts for a in part]
    offsets = np.cumsum([0] + [len(part) for part, _ in parts[:-1]])
    codes = np.concatenate([cols["asset"] + off for (_, cols), off in zip(parts, offsets, strict=True)])
    columns = {
        "symbol": pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(symbols)),
        "ts": pa.array(np.concatenate([cols["ts"] for _, cols in parts]).astype("datetime64[D]")),
    }
    for name in ("open", "high", "low", "close", "volume"):
        columns[name] = pa.array(np.concatenate([cols[name] for _, cols in parts]))
    return pa.table(columns)
