"""The ceiling on the synthetic market: how well a score that *knows* each asset's planted φ does.

The synthetic market plants, per asset, an AR(1) coefficient φ on its idiosyncratic return
(``features.synthetic.planted_coefficients``: +0.25 momentum, −0.25 mean reversion, 0 none). No model
can know more about tomorrow than that, so an oracle that uses φ directly is the ceiling a run's
figures sit under. Its score for asset a on date t is

    kind="subcategory" (the default)   φₐ · (ret_1dₐ,ₜ − mean ret_1d of a's sub-category on t)
    kind="return"                      φₐ · ret_1dₐ,ₜ

``ret_1d`` is the feature (today's log return, raw, from ``training_set``); subtracting the sub-category's
mean removes most of the market and sector factors, which carry no autocorrelation, leaving an
estimate of the idiosyncratic part eₜ that the planted AR(1) acts on. It is evaluated on exactly the
samples a run is (the split's windows under the project's ``[loader]`` settings), against the same
``fwd_ret_{h}d`` with the same per-date functions as ``fstore evaluate``
(:func:`training.evaluate.daily_metrics`), and its pooled AUC against the run's label.

    python -m training.oracle [--project DIR] [--split test] [--kind subcategory|return]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from features.config import Project, load_project
from features.errors import TrainingError
from features.warehouse import connect
from training.evaluate import Daily, daily_metrics, forward_returns, summarize, values_at

KINDS = ("subcategory", "return")


@dataclass(frozen=True)
class Oracle:
    kind: str
    split: str
    samples: int
    auc: float | None
    summary: dict[str, float | None]
    daily: Daily


def _samples(project: Project, db: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(asset_ids, days, labels) of the split's samples under the project's loader settings."""
    from training.loader import WindowDataset

    ds = WindowDataset.from_warehouse(db, split, project=project, normalize="none")
    ids, ys = [], []
    for _, batch_ids, batch_y in ds.batches(8192, shuffle=False):
        ids.append(batch_ids.numpy())
        ys.append(batch_y.numpy())
    if not ids:
        raise TrainingError(f"the {split} split has no windows")
    return np.concatenate(ids), ds.label_dates.astype(np.int64), np.concatenate(ys).astype(np.float64)


def _phi(project: Project, con: Any) -> dict[int, float]:
    """asset_id → planted φ, for the synthetic universe of the project."""
    from features.synthetic import planted_coefficients, synthetic_universe

    phi = planted_coefficients(synthetic_universe(project))
    return {
        int(a): phi.get(str(s), 0.0)
        for a, s in con.execute("select asset_id, symbol from dim_symbol").fetchall()
    }


def _signal(con: Any, kind: str) -> dict[str, np.ndarray]:
    """(a, d, r) columns: ret_1d, or ret_1d net of its sub-category's mean on the date."""
    value = "t.ret_1d"
    if kind == "subcategory":
        value += " - avg(t.ret_1d) over (partition by d.category, d.subcategory, t.ts)"
    return con.execute(
        f"select t.asset_id::bigint as a, (t.ts::date - date '1970-01-01')::bigint as d,"
        f" coalesce({value}, 'nan'::double) as r"
        " from training_set t join dim_symbol d on d.asset_id = t.asset_id where t.ret_1d is not null"
    ).fetchnumpy()


def oracle_evaluation(
    project: Project, *, db: Path | None = None, split: str = "test", kind: str = "subcategory"
) -> Oracle:
    """The oracle's per-date figures and pooled AUC on ``split`` (see the module docstring)."""
    from training.metrics import auc
    from training.planning import label_horizon
    from training.source import warehouse_source

    if kind not in KINDS:
        raise TrainingError(f"unknown oracle kind {kind!r} (choose {' or '.join(KINDS)})")
    db = Path(db) if db is not None else project.warehouse_path
    ids, days, y = _samples(project, db, split)
    with connect(db, read_only=True, wait_s=10.0) as con:
        phi = _phi(project, con)
        signal = values_at(_signal(con, kind), ids, days)
        source = warehouse_source(con)
        fwd = forward_returns(con, source, label_horizon(source, project), ids, days)
    score = np.array([phi.get(a, 0.0) for a in ids.tolist()]) * signal
    daily = daily_metrics(days, ids, score, fwd)
    ok = np.isfinite(score) & np.isfinite(y)
    return Oracle(kind, split, len(ids), auc(score[ok], y[ok]), summarize(daily), daily)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the oracle's figures for a project (default: the one around the current directory)."""
    parser = argparse.ArgumentParser(prog="python -m training.oracle", description=__doc__.splitlines()[0])
    parser.add_argument("--project", metavar="DIR")
    parser.add_argument("--split", default="test")
    parser.add_argument("--kind", choices=KINDS, default="subcategory")
    args = parser.parse_args(argv)
    o = oracle_evaluation(load_project(args.project), split=args.split, kind=args.kind)
    s = o.summary
    print(
        f"oracle ({o.kind}) on {o.split}: {o.samples} samples over {int(s['dates'])} dates;"
        f" pooled AUC {o.auc:.4f}; per-date Rank IC mean {s['rank_ic_mean']:.4f}"
        f" (IR {s['rank_icir']:.3f}, t {s['rank_ic_t']:.2f}, hit rate {s['rank_ic_hit_rate']:.3f});"
        f" IC mean {s['ic_mean']:.4f}; top minus bottom quintile {s['top_minus_bottom_mean']:.5f} a date"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["KINDS", "Oracle", "main", "oracle_evaluation"]
