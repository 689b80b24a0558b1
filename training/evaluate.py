"""A signal judged the way quants judge one: per date, across assets (Qlib's SigAnaRecord figures).

For each date ``t`` (a sample's label date: the last day its window reads) and the assets scored on
it, with ``s`` the model's score (a classifier's logit, a regressor's predicted return) and ``r`` the
forward return ``fwd_ret_{h}d``:

* ``ic``       Pearson correlation of s and r across the date's assets;
* ``rank_ic``  Spearman correlation (Pearson of the ranks, ties given their average rank);
* ``q1..q5``   mean r of the date's quintiles by score: the assets sorted by (score, asset_id) and cut
               in five runs of sizes differing by at most one (position i of n goes to quintile
               ⌊5·i/n⌋ + 1; ``q5`` holds the highest scores);
* ``top_minus_bottom``  q5 − q1;
* ``top_turnover``      share of the date's top quintile that was not in the previous quintile date's.

A date's IC is NULL when it has fewer than 2 assets or s or r is constant on it. **Dates with fewer
than 5·k assets** (``min_per_quantile`` = k, default 2: at least two names in every quintile) get no
quintiles: q1..q5, top_minus_bottom and top_turnover are NULL, and the next date's turnover compares
with the last date that had quintiles. Such dates still count for the ICs.

Summary over dates (NULL dates left out; std is the sample standard deviation, n − 1):
``*_mean``, ``*_std``, ``*_ir`` (mean / std), ``*_t`` (mean / std · √n), ``*_hit_rate`` (share of
dates > 0) and ``*_dates`` (n) for ``ic``, ``rank_ic`` and ``top_minus_bottom``; ``q1_mean`` ..
``q5_mean``, ``top_turnover_mean``; ``dates``, ``samples``. The cumulative curves are running sums
of the daily values (not compounded: with a horizon h > 1 consecutive forward returns overlap, so
the curve measures the signal, not a tradable P&L).

Tables (DDL here, written by :func:`write_evaluation`; one evaluation = (run_id, split, snapshot),
replaced when evaluated again)::

    eval_daily    run_id, split, snapshot, ts, n_assets, ic, rank_ic, q1..q5, top_minus_bottom,
                  top_turnover, cum_ic, cum_rank_ic, cum_top_minus_bottom, evaluated_at
    eval_summary  run_id, split, snapshot, epoch, metric, value, evaluated_at

:func:`run_evaluation` (``fstore evaluate``, ``training.train.evaluate_run``) scores a run's best
checkpoint on a split with the run's own loader settings and normalisation, through
:mod:`training.scoring` (runs on an earlier minor mapping version included), looks up each sample's
``fwd_ret_{h}d``, and writes the tables above plus, for live data, the pooled loss / accuracy / AUC /
IC row of ``train_metrics`` as before. The figures themselves are numpy; torch, the loader and
matplotlib load only inside the functions that need them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from features.errors import ConfigError, TrainingError
from features.warehouse import atomic_path
from training.metrics import spearman

QUANTILES = 5
MIN_PER_QUANTILE = 2  # a date needs QUANTILES * this many assets to form quintiles

_DDL = {
    "eval_daily": """
        run_id varchar not null, split varchar not null, snapshot varchar, ts date not null,
        n_assets integer not null, ic double, rank_ic double, q1 double, q2 double, q3 double,
        q4 double, q5 double, top_minus_bottom double, top_turnover double, cum_ic double,
        cum_rank_ic double, cum_top_minus_bottom double, evaluated_at timestamp not null""",
    "eval_summary": """
        run_id varchar not null, split varchar not null, snapshot varchar, epoch integer,
        metric varchar not null, value double, evaluated_at timestamp not null""",
}
EVAL_TABLES = tuple(_DDL)
_QUANTILE_COLOURS = ("#d73027", "#fc8d59", "#8c8c8c", "#91bf5b", "#1a9850")  # Q1 red .. Q5 green
_IR_NAMES = {"ic": "icir", "rank_ic": "rank_icir"}  # Qlib's names; other series get <name>_ir


# --------------------------------------------------------------------------------------- per date


@dataclass(frozen=True)
class Daily:
    """One row per date (ascending): the figures of the module docstring; NaN where NULL."""

    days: np.ndarray  # (D,) int days since 1970-01-01
    n_assets: np.ndarray  # (D,) int
    ic: np.ndarray  # (D,)
    rank_ic: np.ndarray  # (D,)
    quantiles: np.ndarray  # (D, QUANTILES) mean forward return of each quantile, q1 first
    top_turnover: np.ndarray  # (D,)
    samples: int

    @property
    def top_minus_bottom(self) -> np.ndarray:
        return self.quantiles[:, -1] - self.quantiles[:, 0]

    @property
    def dates(self) -> np.ndarray:
        return self.days.astype("datetime64[D]")


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2:
        return math.nan
    da, db = a - a.mean(), b - b.mean()
    den = math.sqrt(float((da * da).sum()) * float((db * db).sum()))
    return float((da * db).sum()) / den if den > 0 else math.nan


def _buckets(scores: np.ndarray, assets: np.ndarray, q: int) -> np.ndarray:
    """Quantile 0..q-1 of each asset: sorted by (score, asset_id), cut in q near-equal runs."""
    order = np.lexsort((assets, scores))
    bucket = np.empty(len(scores), dtype=np.int64)
    bucket[order] = np.arange(len(scores)) * q // len(scores)
    return bucket


def daily_metrics(
    days: np.ndarray,
    assets: np.ndarray,
    scores: np.ndarray,
    returns: np.ndarray,
    *,
    quantiles: int = QUANTILES,
    min_per_quantile: int = MIN_PER_QUANTILE,
) -> Daily:
    """Per-date IC, Rank IC, quantile returns and top-quantile turnover of ``scores`` against ``returns``.

    One entry per sample in each array (any order); ``days`` as int days or datetime64[D]. Samples
    with a non-finite score or return are left out. Two samples of one asset on one date are refused.
    """
    days = np.asarray(days)
    if days.dtype.kind == "M":
        days = days.astype("datetime64[D]").astype(np.int64)
    days, assets = days.astype(np.int64), np.asarray(assets, dtype=np.int64)
    scores, returns = np.asarray(scores, np.float64), np.asarray(returns, np.float64)
    keep = np.isfinite(scores) & np.isfinite(returns)
    days, assets, scores, returns = days[keep], assets[keep], scores[keep], returns[keep]
    order = np.lexsort((assets, days))
    days, assets, scores, returns = days[order], assets[order], scores[order], returns[order]
    if len(days) and ((days[1:] == days[:-1]) & (assets[1:] == assets[:-1])).any():
        raise TrainingError("two predictions for one asset on one date: per-date metrics need one each")
    uniq, starts = np.unique(days, return_index=True)
    bounds = [*starts.tolist(), len(days)]
    d = len(uniq)
    ic, rank_ic, turnover = np.full(d, np.nan), np.full(d, np.nan), np.full(d, np.nan)
    qmeans = np.full((d, quantiles), np.nan)
    previous_top: set[int] | None = None
    for k in range(d):
        lo, hi = bounds[k], bounds[k + 1]
        s, r, a = scores[lo:hi], returns[lo:hi], assets[lo:hi]
        ic[k] = _pearson(s, r)
        rho = spearman(s, r)
        rank_ic[k] = math.nan if rho is None else rho
        if len(s) < quantiles * min_per_quantile:
            continue
        bucket = _buckets(s, a, quantiles)
        qmeans[k] = np.bincount(bucket, weights=r, minlength=quantiles) / np.bincount(
            bucket, minlength=quantiles
        )
        top = set(a[bucket == quantiles - 1].tolist())
        if previous_top is not None:
            turnover[k] = len(top - previous_top) / len(top)
        previous_top = top
    return Daily(
        days=uniq,
        n_assets=np.diff(np.array(bounds, dtype=np.int64)),
        ic=ic,
        rank_ic=rank_ic,
        quantiles=qmeans,
        top_turnover=turnover,
        samples=len(days),
    )


# --------------------------------------------------------------------------------------- summary


def _series_stats(name: str, values: np.ndarray) -> dict[str, float | None]:
    """mean, std (n − 1), IR, t, hit rate and count of the finite entries of ``values``."""
    v = values[np.isfinite(values)]
    n = len(v)
    mean = float(v.mean()) if n else None
    std = float(v.std(ddof=1)) if n >= 2 else None
    ratio = mean / std if mean is not None and std else None
    ir_key = _IR_NAMES.get(name, f"{name}_ir")
    return {
        f"{name}_mean": mean,
        f"{name}_std": std,
        ir_key: ratio,
        f"{name}_t": ratio * math.sqrt(n) if ratio is not None else None,
        f"{name}_hit_rate": float((v > 0).mean()) if n else None,
        f"{name}_dates": float(n),
    }


def summarize(daily: Daily) -> dict[str, float | None]:
    """The summary figures of the module docstring, metric name → value (None where undefined)."""
    out: dict[str, float | None] = {}
    out.update(_series_stats("ic", daily.ic))
    out.update(_series_stats("rank_ic", daily.rank_ic))
    out.update(_series_stats("top_minus_bottom", daily.top_minus_bottom))
    for q in range(daily.quantiles.shape[1]):
        col = daily.quantiles[:, q]
        col = col[np.isfinite(col)]
        out[f"q{q + 1}_mean"] = float(col.mean()) if len(col) else None
    turnover = daily.top_turnover[np.isfinite(daily.top_turnover)]
    out["top_turnover_mean"] = float(turnover.mean()) if len(turnover) else None
    out["dates"] = float(len(daily.days))
    out["samples"] = float(daily.samples)
    return out


def cumulative(values: np.ndarray) -> np.ndarray:
    """Running sum with NULL dates adding nothing (and staying NaN themselves)."""
    out = np.cumsum(np.where(np.isfinite(values), values, 0.0))
    return np.where(np.isfinite(values), out, np.nan)


# --------------------------------------------------------------------------------------- tables


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for table, ddl in _DDL.items():
        con.execute(f"create table if not exists {table} ({ddl})")


def _nullable(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]


def write_evaluation(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    split: str,
    snapshot: str | None,
    epoch: int | None,
    daily: Daily,
    summary: dict[str, float | None],
) -> None:
    """Replace the evaluation (run_id, split, snapshot) in ``eval_daily`` and ``eval_summary``
    (call inside a transaction: both tables change together or not at all)."""
    import pyarrow as pa

    ensure_tables(con)
    now = datetime.now(UTC).replace(tzinfo=None)
    key = [run_id, split, snapshot]
    for table in EVAL_TABLES:
        con.execute(
            f"delete from {table} where run_id = ? and split = ? and snapshot is not distinct from ?", key
        )
    q = daily.quantiles
    columns = {
        "ts": pa.array(daily.dates),
        "n_assets": pa.array(daily.n_assets.astype(np.int32)),
        "ic": daily.ic,
        "rank_ic": daily.rank_ic,
        **{f"q{i + 1}": q[:, i] for i in range(QUANTILES)},
        "top_minus_bottom": daily.top_minus_bottom,
        "top_turnover": daily.top_turnover,
        "cum_ic": cumulative(daily.ic),
        "cum_rank_ic": cumulative(daily.rank_ic),
        "cum_top_minus_bottom": cumulative(daily.top_minus_bottom),
    }
    table = pa.table(
        {
            k: v if isinstance(v, pa.Array) else pa.array(_nullable(v), pa.float64())
            for k, v in columns.items()
        }
    )
    con.register("_fstore_eval_daily", table)
    try:
        names = ", ".join(columns)
        con.execute(
            f"insert into eval_daily select ?, ?, ?, {names}, ? from _fstore_eval_daily order by ts",
            [*key, now],
        )
    finally:
        con.unregister("_fstore_eval_daily")
    con.executemany(
        "insert into eval_summary values (?, ?, ?, ?, ?, ?, ?)",
        [[*key, epoch, metric, value, now] for metric, value in summary.items()],
    )


def read_summary(
    con: duckdb.DuckDBPyConnection, run_id: str, split: str, snapshot: str | None = None
) -> dict[str, float | None]:
    """``eval_summary`` of one evaluation as metric → value."""
    rows = con.execute(
        "select metric, value from eval_summary where run_id = ? and split = ?"
        " and snapshot is not distinct from ?",
        [run_id, split, snapshot],
    ).fetchall()
    return dict(rows)


# --------------------------------------------------------------------------------------- picture


def plot_evaluation(daily: Daily, path: Path, title: str) -> Path:
    """Two panels as one PNG: cumulative IC and Rank IC; cumulative q1..q5 and top-minus-bottom."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = daily.dates
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    try:
        top.plot(x, cumulative(daily.ic), label="IC (Pearson)")
        top.plot(x, cumulative(daily.rank_ic), label="Rank IC (Spearman)")
        top.axhline(0, color="grey", lw=0.6)
        top.set_ylabel("cumulative IC")
        top.set_title(title, fontsize=11)
        top.legend(loc="upper left")
        for i in range(daily.quantiles.shape[1]):
            colour = _QUANTILE_COLOURS[i % len(_QUANTILE_COLOURS)]
            bottom.plot(x, cumulative(daily.quantiles[:, i]), color=colour, lw=1, label=f"Q{i + 1}")
        bottom.plot(x, cumulative(daily.top_minus_bottom), color="black", lw=1.6, label="top − bottom")
        bottom.axhline(0, color="grey", lw=0.6)
        bottom.set_ylabel("cumulative mean forward return")
        bottom.legend(loc="upper left", ncol=3, fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)
    return path


# --------------------------------------------------------------------------------------- a run


def _keys(asset_ids: np.ndarray, days: np.ndarray) -> np.ndarray:
    return (np.asarray(asset_ids, np.int64) << 32) | (np.asarray(days, np.int64) & 0xFFFFFFFF)


def values_at(table: dict[str, np.ndarray], asset_ids: np.ndarray, days: np.ndarray) -> np.ndarray:
    """``table["r"]`` at each (asset_id, day) sample, from columns ``a`` (asset), ``d`` (day), ``r``;
    NaN where the table has no such row."""
    keys = _keys(table["a"], table["d"])
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], np.asarray(table["r"], np.float64)[order]
    wanted = _keys(asset_ids, days)
    if not len(keys):
        return np.full(len(wanted), np.nan)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, values[at], np.nan)


def forward_returns(
    con: duckdb.DuckDBPyConnection, source: Any, horizon: int, asset_ids: np.ndarray, days: np.ndarray
) -> np.ndarray:
    """``fwd_ret_{horizon}d`` of each (asset_id, day) sample from ``source`` (NaN where NULL)."""
    from features.warehouse import quote_ident

    column = f"fwd_ret_{horizon}d"
    if column not in source.label_columns:
        raise TrainingError(
            f"{source.relation} has no {column} column: per-date IC and quintiles need the forward return",
            hint="the default `labels` model writes it; add it to your training_set",
        )
    if not len(days):
        return np.zeros(0)
    lo, hi = (np.datetime64(int(d), "D").item() for d in (days.min(), days.max()))
    table = con.execute(
        f"select asset_id::bigint as a, (ts::date - date '1970-01-01')::bigint as d,"
        f" coalesce({quote_ident(column)}::double, 'nan'::double) as r"
        f" from {source.relation} where ts::date between ? and ?",
        [lo, hi],
    ).fetchnumpy()
    return values_at(table, asset_ids, days)


@dataclass
class Evaluation:
    """What :func:`run_evaluation` computed and stored."""

    run_id: str
    epoch: int
    split: str
    snapshot: str | None
    mapping_version: str | None
    pooled: dict[str, Any]  # loss, accuracy, auc, ic (pooled Spearman), samples, samples_per_s
    summary: dict[str, float | None]  # what eval_summary holds
    daily: Daily
    unknown: list[str]  # symbols of the data the run does not know (not scored)
    plot: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "epoch": self.epoch,
            "split": self.split,
            "snapshot": self.snapshot,
            "mapping_version": self.mapping_version,
            **self.pooled,
            "summary": self.summary,
            "unknown": self.unknown,
            "plot": self.plot,
        }


def _check_plot_dir(plot_dir: Path | None) -> None:
    if plot_dir is not None and plot_dir.exists() and not plot_dir.is_dir():
        raise ConfigError(f"--plot {plot_dir} is a file; name a folder for the PNG")


def _score_split(project: Any, db: Path, run: Any, split: str, snapshot: str | None, progress: bool) -> Any:
    """(fit, scored samples, forward returns) of ``run`` on ``split``."""
    from features.warehouse import connect
    from training.loader import WindowDataset
    from training.planning import label_horizon
    from training.scoring import data_source, fit_to_data, load_options, run_stats, score_windows

    with connect(db, read_only=True, wait_s=10.0) as con:
        source = data_source(con, project, snapshot)
        fit = fit_to_data(run, con, source)
        horizon = label_horizon(source, project)
    ds = WindowDataset.from_warehouse(
        db,
        split,
        **load_options(run),
        stats=run_stats(run, source.num_embeddings),
        snapshot=snapshot,
        device=run.device,
        project=project,
    )
    if ds.mapping_version != fit.mapping_version:
        raise TrainingError("the warehouse's mapping changed while it was read; evaluate again")
    scored = score_windows(run.model, ds, fit, progress=progress, label=f"scoring {split}")
    with connect(db, read_only=True, wait_s=10.0) as con:
        fwd = forward_returns(
            con, data_source(con, project, snapshot), horizon, scored.asset_ids, scored.days
        )
    return fit, scored, fwd


def run_evaluation(
    project: Any,
    run: str,
    *,
    split: str = "test",
    db: Path | None = None,
    device: str = "cpu",
    snapshot: str | None = None,
    plot_dir: Path | None = None,
    progress: bool = False,
) -> Evaluation:
    """Score run ``run``'s best checkpoint on ``split`` (of ``snapshot``, else the live
    ``training_set``), compute pooled and per-date figures, store them, draw them when asked."""
    from features.choices import SPLITS
    from training import runs
    from training.metrics import score
    from training.scoring import open_run

    if split not in SPLITS:
        raise ConfigError(f"evaluate needs a split with labels: {', '.join(SPLITS)} (not {split!r})")
    db = Path(db) if db is not None else project.warehouse_path
    plot_dir = Path(plot_dir) if plot_dir is not None else None
    _check_plot_dir(plot_dir)
    opened = open_run(project, db, run, device)
    t0 = time.perf_counter()
    fit, scored, fwd = _score_split(project, db, opened, split, snapshot, progress)
    task = opened.model.task
    empty = {"loss": None, "accuracy": None, "auc": None, "ic": None}
    pooled: dict[str, Any] = score(task, scored.out, scored.y) if len(scored.y) else empty
    pooled["samples"] = len(scored.y)
    pooled["samples_per_s"] = len(scored.y) / max(time.perf_counter() - t0, 1e-9)
    daily = daily_metrics(scored.days, scored.asset_ids, scored.out, fwd)
    summary = {**summarize(daily), **{k: pooled[k] for k in ("loss", "accuracy", "auc")}}
    summary["pooled_ic"] = pooled["ic"]
    summary["unscored_assets"] = float(len(fit.unknown))
    result = Evaluation(
        opened.run_id, opened.epoch, split, snapshot, fit.mapping_version, pooled, summary, daily, fit.unknown
    )
    with runs.writing(db) as con:
        if snapshot is None:  # the run's own metric row describes the live data, as it always has
            runs.write_evaluation(con, opened.run_id, opened.epoch, split, pooled)
        write_evaluation(con, opened.run_id, split, snapshot, opened.epoch, daily, summary)
    if plot_dir is not None:
        name = f"{opened.run_id}_{split}" + (f"_{snapshot}" if snapshot else "") + "_evaluation.png"
        title = f"run {opened.run_id}, {split} split" + (f" of snapshot {snapshot}" if snapshot else "")
        result.plot = plot_evaluation(daily, plot_dir / name, title)
    return result


def summary_rows(summary: dict[str, float | None], names: Sequence[str]) -> list[tuple[Any, ...]]:
    """(figure, IC, Rank IC) rows for printing: one per statistic of the two IC series."""
    stats = (("mean", "mean"), ("std", "std"), ("IR", None), ("t-stat", "t"), ("hit rate", "hit_rate"))
    rows = []
    for label, suffix in stats:
        row: list[Any] = [label]
        for name in names:
            key = _IR_NAMES.get(name, f"{name}_ir") if suffix is None else f"{name}_{suffix}"
            row.append(summary.get(key))
        rows.append(tuple(row))
    return rows


__all__ = [
    "EVAL_TABLES",
    "MIN_PER_QUANTILE",
    "QUANTILES",
    "Daily",
    "Evaluation",
    "cumulative",
    "daily_metrics",
    "ensure_tables",
    "forward_returns",
    "plot_evaluation",
    "read_summary",
    "run_evaluation",
    "summarize",
    "summary_rows",
    "values_at",
    "write_evaluation",
]
