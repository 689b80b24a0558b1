"""The built-in synthetic market: deterministic daily OHLCV for a symbol universe.

Used when ``data/raw`` holds no price files, so a fresh clone builds and trains end to end. It is
meant to look like the real thing where the pipeline cares, and to contain a known signal:

* **Calendars.** Equities and ETFs trade on weekdays except New Year's Day, Independence Day,
  Thanksgiving and Christmas; crypto trades every calendar day. A few symbols list late: every
  ``DeFi`` coin and about 6% of the others start 20–60% of the way into the span.
* **Returns** (log, close to close) = beta · market factor + sub-category factor + idiosyncratic
  part. Crypto has its own market factor that also loads on the equity market on trading days.
  ETFs track their members: ``Market`` ETFs the mean of every stock, ``Sector`` ETFs the mean of
  their sector (:data:`SECTOR_ETFS`: XLK → Technology, …), others market beta plus a group factor.
* **Volatility clusters**: every factor and idiosyncratic series is GARCH(1,1)
  (σ²ₜ = ω + 0.08·u²ₜ₋₁ + 0.90·σ²ₜ₋₁).
* **Planted, asset-specific dynamics**: the idiosyncratic part of every non-ETF asset is AR(1),
  eₜ = φ·eₜ₋₁ + uₜ, with φ set by sub-category (:data:`PLANTED`): ``momentum`` (φ = +0.25:
  Technology, Energy, crypto Major), ``mean_reversion`` (φ = −0.25: Finance, Utilities, DeFi),
  ``none`` (φ = 0) elsewhere; sub-categories of other universes are assigned by a stable hash of
  their name. The market and sector factors carry no autocorrelation, so the signal is only usable
  by a model that knows which asset it is looking at. :func:`planted_dynamics` and
  :func:`planted_coefficients` expose it for tests.
* **Bars**: open = previous close · exp(gap), high/low beyond max/min(open, close) by a
  volatility-scaled amount, so low ≤ open, close ≤ high; volume positive and higher on big moves.

Everything is vectorised over assets (the only Python loop runs over dates, for the GARCH / AR
recursions) and drawn from one ``numpy.random.Generator`` seeded by ``[synthetic] seed``. The
numpy generator lives in :mod:`features.synthetic_market` and loads only when a market is generated,
so checking whether the market changed (a no-op build) stays cheap. The fixed parameters both modules
share (:data:`PLANTED_PHI`, :data:`SECTOR_ETFS`, the GARCH coefficients, :class:`Asset`) live in the
leaf module :mod:`features.synthetic_params`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from features.config import Project, SyntheticConfig
from features.symbols import load_universe
from features.synthetic_params import (
    MEAN_REVERSION,
    MOMENTUM,
    NONE,
    PLANTED,
    PLANTED_PHI,
    SECTOR_ETFS,
    SYNTHETIC_FORMAT,
    Asset,
    dynamic_of,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

# ------------------------------------------------------------------------------------------ universe


def load_assets(symbols_path: str | Path) -> list[Asset]:
    """The universe of a symbols file, sorted by symbol."""
    return [Asset(s.symbol, s.category, s.subcategory) for s in load_universe(symbols_path).symbols]


def synthetic_universe(project: Project) -> list[Asset]:
    """The configured universe plus ``[synthetic] extra_symbols`` SYN0000… stocks (sorted)."""
    assets = load_assets(project.symbols_path)
    extra = project.synthetic.extra_symbols
    if extra > 0:
        subs = sorted({a.subcategory for a in assets if a.category == "sectors"}) or ["Synthetic"]
        known = {a.symbol for a in assets}
        width = max(4, len(str(extra - 1)))
        for i in range(extra):
            symbol = f"SYN{i:0{width}d}"
            if symbol not in known:
                assets.append(Asset(symbol, "sectors", subs[i % len(subs)]))
    return sorted(assets, key=lambda a: a.symbol)


def planted_dynamics(universe: Sequence[Asset] | Sequence[object] | object) -> dict[str, str]:
    """symbol → ``momentum`` | ``mean_reversion`` | ``none`` as planted in the synthetic market.

    ``universe`` is any sequence of objects with ``.symbol``, ``.category`` and ``.subcategory``
    (:class:`Asset`, ``features.symbols.SymbolInfo``), or a ``features.symbols.Universe``.
    """
    items = getattr(universe, "symbols", universe)
    return {
        u.symbol: dynamic_of(Asset(u.symbol, u.category, u.subcategory))  # type: ignore[attr-defined]
        for u in items  # type: ignore[union-attr]
    }


def planted_coefficients(universe: Sequence[Asset] | Sequence[object] | object) -> dict[str, float]:
    """symbol → φ, the lag-1 autocorrelation planted in the asset's idiosyncratic log returns."""
    return {symbol: PLANTED_PHI[d] for symbol, d in planted_dynamics(universe).items()}


def market_version(project: Project) -> str:
    """A cheap version of the synthetic market: generator format, parameters and universe."""
    universe = synthetic_universe(project)
    payload = {
        "format": SYNTHETIC_FORMAT,
        "config": asdict(project.synthetic),
        "universe": [[a.symbol, a.category, a.subcategory] for a in universe],
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    return f"synthetic:{len(universe)}:{digest}"


# --------------------------------------------------------------------------------------- generation


def calendar(config: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
    """(every calendar day, trading days) of the span, as datetime64[D] arrays."""
    from features.synthetic_market import calendar as _calendar

    return _calendar(config)


def generate_market(universe: Sequence[Asset] | Sequence[object], config: SyntheticConfig) -> pa.Table:
    """Daily OHLCV for ``universe`` as an Arrow table (symbol, ts, open, high, low, close, volume)."""
    from features.synthetic_market import generate_market as _generate

    return _generate(universe, config)


__all__ = [
    "MEAN_REVERSION",
    "MOMENTUM",
    "NONE",
    "PLANTED",
    "PLANTED_PHI",
    "SECTOR_ETFS",
    "Asset",
    "calendar",
    "generate_market",
    "load_assets",
    "market_version",
    "planted_coefficients",
    "planted_dynamics",
    "synthetic_universe",
]
