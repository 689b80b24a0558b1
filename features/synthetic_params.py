"""The fixed parameters of the synthetic market, shared by its description and its generator.

A leaf: :mod:`features.synthetic` (the universe, planted dynamics, market version) and
:mod:`features.synthetic_market` (the numpy generator) both import from here, and this module imports
nothing of fstore, so the arrows run one way only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SYNTHETIC_FORMAT = 2  # bump when the generator changes, so existing warehouses regenerate

MOMENTUM = "momentum"
MEAN_REVERSION = "mean_reversion"
NONE = "none"
PLANTED_PHI = {MOMENTUM: 0.25, MEAN_REVERSION: -0.25, NONE: 0.0}  # lag-1 autocorrelation of e
PLANTED = {  # sub-category -> planted dynamic (the default universe)
    "Technology": MOMENTUM,
    "Energy": MOMENTUM,
    "Major": MOMENTUM,
    "Finance": MEAN_REVERSION,
    "Utilities": MEAN_REVERSION,
    "DeFi": MEAN_REVERSION,
    "Healthcare": NONE,
    "Consumer": NONE,
    "Industrials": NONE,
    "Materials": NONE,
    "RealEstate": NONE,
}
SECTOR_ETFS = {  # Sector ETF -> the sectors sub-category whose stocks it tracks
    "XLK": "Technology",
    "XLF": "Finance",
    "XLV": "Healthcare",
    "XLE": "Energy",
    "XLY": "Consumer",
    "XLI": "Industrials",
    "XLB": "Materials",
    "XLU": "Utilities",
    "XLRE": "RealEstate",
}
GARCH_A, GARCH_B = 0.08, 0.90  # shock and persistence of every GARCH(1,1) series


@dataclass(frozen=True)
class Asset:
    """One symbol of the synthetic universe."""

    symbol: str
    category: str  # sectors | etfs | crypto
    subcategory: str


def dynamic_of(asset: Asset) -> str:
    """The planted dynamic of one asset: ETFs none, known sub-categories by PLANTED, others by hash."""
    if asset.category == "etfs":
        return NONE
    if asset.subcategory in PLANTED:
        return PLANTED[asset.subcategory]
    digest = int(hashlib.sha256(asset.subcategory.encode()).hexdigest(), 16)
    return (MOMENTUM, MEAN_REVERSION, NONE)[digest % 3]


__all__ = [
    "GARCH_A",
    "GARCH_B",
    "MEAN_REVERSION",
    "MOMENTUM",
    "NONE",
    "PLANTED",
    "PLANTED_PHI",
    "SECTOR_ETFS",
    "SYNTHETIC_FORMAT",
    "Asset",
    "dynamic_of",
]
