"""Alpha158-style features (Qlib's family), an optional model set.

Enable it by adding this folder to the Python model folders in ``config/project.toml``::

    [paths]
    python_models = ["features/library", "features/optional"]

It builds the relation ``alpha158`` (asset_id, ts, then one DOUBLE column per feature), per asset over
its own rows ordered by ts, never looking ahead. To train on it, join it in
``sql/marts/training_set.sql`` before the labels (the loader then picks the columns up by convention).

Definitions follow Qlib's ``Alpha158`` handler (names upper-case as there), with two deliberate
differences: a rolling feature is NULL until its window is full (Qlib uses ``min_periods=1``), and the
operators Polars has no vectorised form for (BETA/RSQR/RESI slopes, IMAX/IMIN/IMXD arg-extrema) and
the VWAP ones are left out. With ``ε = 1e-12``, for d in (5, 10, 20, 30, 60):

* K-bar: ``KMID (c−o)/o``, ``KLEN (h−l)/o``, ``KMID2 (c−o)/(h−l+ε)``, ``KUP (h−max(o,c))/o``,
  ``KUP2 (h−max(o,c))/(h−l+ε)``, ``KLOW (min(o,c)−l)/o``, ``KLOW2 (min(o,c)−l)/(h−l+ε)``,
  ``KSFT (2c−h−l)/o``, ``KSFT2 (2c−h−l)/(h−l+ε)``; price: ``OPEN0 o/c``, ``HIGH0 h/c``, ``LOW0 l/c``.
* ``ROCd c[t−d]/c``, ``MAd mean(c)/c``, ``STDd std(c)/c``, ``MAXd max(h)/c``, ``MINd min(l)/c``,
  ``QTLUd q80(c)/c``, ``QTLDd q20(c)/c`` (linear interpolation), ``RSVd (c−min(l))/(max(h)−min(l)+ε)``,
  ``CORRd corr(c, ln(v+1))``, ``CNTPd mean(c>c[t−1])``, ``CNTNd mean(c<c[t−1])``, ``CNTDd CNTP−CNTN``,
  ``SUMPd sum(max(Δc,0))/(sum|Δc|+ε)``, ``SUMNd`` likewise for losses, ``SUMDd SUMP−SUMN``,
  ``VMAd mean(v)/(v+ε)``, ``VSTDd std(v)/(v+ε)``.

Windows are the last d rows ending at t; standard deviations are sample (n − 1); ``CORRd`` is NULL
when either series is constant over the window. Close-only series
get NULL for everything that needs open/high/low/volume.
"""

from __future__ import annotations

import polars as pl

from features import model

WINDOWS = (5, 10, 20, 30, 60)
EPS = 1e-12


def _kbar() -> list[pl.Expr]:
    o, h, lo, c = pl.col("open"), pl.col("high"), pl.col("low"), pl.col("close")
    top, bottom, span = pl.max_horizontal(o, c), pl.min_horizontal(o, c), h - lo + EPS
    exprs = {
        "KMID": (c - o) / o,
        "KLEN": (h - lo) / o,
        "KMID2": (c - o) / span,
        "KUP": (h - top) / o,
        "KUP2": (h - top) / span,
        "KLOW": (bottom - lo) / o,
        "KLOW2": (bottom - lo) / span,
        "KSFT": (2 * c - h - lo) / o,
        "KSFT2": (2 * c - h - lo) / span,
        "OPEN0": o / c,
        "HIGH0": h / c,
        "LOW0": lo / c,
    }
    # max/min_horizontal skip nulls: a close-only row must stay NULL, not use close alone
    missing = o.is_null() | h.is_null() | lo.is_null()
    return [pl.when(missing).then(None).otherwise(e).alias(name) for name, e in exprs.items()]


def _rolling(d: int) -> list[pl.Expr]:
    c, h, lo, v = pl.col("close"), pl.col("high"), pl.col("low"), pl.col("volume")
    delta = c - c.shift(1)
    up = (delta > 0).cast(pl.Float64)
    down = (delta < 0).cast(pl.Float64)
    gains = pl.when(delta > 0).then(delta).otherwise(0.0)
    losses = pl.when(delta < 0).then(-delta).otherwise(0.0)
    moves = delta.abs().rolling_sum(d) + EPS
    max_h, min_l = h.rolling_max(d), lo.rolling_min(d)
    sump = gains.rolling_sum(d) / moves
    sumn = losses.rolling_sum(d) / moves
    cntp, cntn = up.rolling_mean(d), down.rolling_mean(d)

    def varies(x: pl.Expr) -> pl.Expr:  # a constant window has no correlation (rolling sums would say noise)
        return x.rolling_max(d) > x.rolling_min(d)

    exprs = {
        f"ROC{d}": c.shift(d) / c,
        f"MA{d}": c.rolling_mean(d) / c,
        f"STD{d}": c.rolling_std(d) / c,
        f"MAX{d}": max_h / c,
        f"MIN{d}": min_l / c,
        f"QTLU{d}": c.rolling_quantile(0.8, interpolation="linear", window_size=d) / c,
        f"QTLD{d}": c.rolling_quantile(0.2, interpolation="linear", window_size=d) / c,
        f"RSV{d}": (c - min_l) / (max_h - min_l + EPS),
        f"CORR{d}": pl.when(varies(c) & varies((v + 1).log()))
        .then(pl.rolling_corr(c, (v + 1).log(), window_size=d))
        .otherwise(None),
        f"CNTP{d}": cntp,
        f"CNTN{d}": cntn,
        f"CNTD{d}": cntp - cntn,
        f"SUMP{d}": sump,
        f"SUMN{d}": sumn,
        f"SUMD{d}": sump - sumn,
        f"VMA{d}": v.rolling_mean(d) / (v + EPS),
        f"VSTD{d}": v.rolling_std(d) / (v + EPS),
    }
    # the first row has no change: counts over changes need d changes, i.e. d + 1 rows
    first_full = pl.int_range(pl.len()) >= d
    change_based = {f"CNTP{d}", f"CNTN{d}", f"CNTD{d}", f"SUMP{d}", f"SUMN{d}", f"SUMD{d}"}
    return [
        (pl.when(first_full).then(e).otherwise(None) if name in change_based else e).alias(name)
        for name, e in exprs.items()
    ]


def alpha158_columns() -> list[str]:
    """The feature columns ``alpha158`` builds, in order."""
    names = [e.meta.output_name() for e in _kbar()]
    for d in WINDOWS:
        names += [e.meta.output_name() for e in _rolling(d)]
    return names


@model(
    materialized="table",
    unique_key=("asset_id", "ts"),
    time_column="ts",
    group_by="asset_id",
    tags=("features", "alpha158"),
    tests=("not_null(asset_id, ts)", "unique(asset_id, ts)"),
)
def alpha158(stg_prices: pl.DataFrame) -> pl.DataFrame:
    """Alpha158-style K-bar and rolling features per asset (see the module docstring)."""
    per_asset = [e.over("asset_id") for d in WINDOWS for e in _rolling(d)]
    return (
        stg_prices.sort("asset_id", "ts")
        .select(
            pl.col("asset_id").cast(pl.Int32),
            "ts",
            *_kbar(),
            *per_asset,
        )
        .with_columns(pl.exclude("asset_id", "ts").cast(pl.Float64).fill_nan(None))
    )
