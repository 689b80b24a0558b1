"""What a run shows, in a few lines a newcomer can read: the end of ``make train``.

    python -m training.summary [RUN] [--project DIR] [--symbol AAPL] [--top 5]

For ``RUN`` (default ``latest``, the newest finished run) on the test split:

* the model's **test AUC** (pooled over every test window; beside it the standard error an AUC has
  on that many independent samples when there is no skill, so "how many standard errors above 0.5"
  reads at a glance) and its **per-date Rank IC** (for each date the Spearman correlation across
  assets between the score and the forward return; its mean and t-statistic over dates), computed and
  stored by :func:`training.evaluate.run_evaluation` exactly as ``fstore evaluate RUN`` does;
* on the built-in synthetic market, the same figures for the **oracle** (:mod:`training.oracle`: a
  score that knows each asset's planted φ), the ceiling the run sits under;
* ``symbol``'s nearest **neighbours** in the learned embedding (cosine similarity, trained rows only)
  and, on the synthetic market, the dynamic the market planted in each (momentum, mean reversion,
  none: :mod:`training.planted`), how many share ``symbol``'s, and over every asset the share of its
  ``top`` neighbours that share its planted dynamic beside the share expected by chance.

A user's own data has no planted dynamic and no oracle: those lines are left out.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from features.config import Project, load_project
from features.errors import FstoreError
from features.warehouse import connect
from training.embeddings import Embeddings, cosine_matrix, load_embeddings, neighbours


@dataclass(frozen=True)
class Neighbour:
    symbol: str
    subcategory: str
    cosine: float
    planted: str | None  # the synthetic market's planted dynamic; None on real data


@dataclass(frozen=True)
class Agreement:
    """Over every trained asset with a planted dynamic: the share of its ``top`` nearest neighbours
    that share it, and the share a random pick of ``top`` other trained assets would give."""

    top: int
    share: float
    chance: float


@dataclass(frozen=True)
class Figures:
    """AUC and per-date Rank IC of one score on one split."""

    samples: int
    dates: int
    auc: float | None
    rank_ic_mean: float | None
    rank_ic_t: float | None

    @property
    def auc_null_se(self) -> float:
        """Standard error of the AUC of a skill-less score on ``samples`` independent samples with
        balanced classes (Mann–Whitney: √((n₁+n₂+1)/(12·n₁·n₂)), n₁ = n₂ = n/2)."""
        n = max(self.samples, 2)
        return math.sqrt((n + 1) / (3.0 * n * n))


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    split: str
    model: Figures
    oracle: Figures | None  # synthetic market only
    symbol: str | None  # the symbol whose neighbours are listed (None: no embedding, or not in the run)
    symbol_planted: str | None
    neighbours: list[Neighbour]
    agreement: Agreement | None  # synthetic market only


def neighbour_agreement(emb: Embeddings, labels: Sequence[str], top: int = 5) -> Agreement:
    """Share of each trained asset's ``top`` nearest trained neighbours (cosine) that carry its label,
    averaged over trained assets, and the same share for ``top`` random other trained assets."""
    trained = np.array([emb.is_trained(i) for i in range(len(labels))])
    idx = np.flatnonzero(trained)
    lab = np.asarray(labels)[idx]
    sims = cosine_matrix(emb.vectors[idx])
    np.fill_diagonal(sims, -np.inf)
    k = min(top, len(idx) - 1)
    if k < 1:
        return Agreement(top, float("nan"), float("nan"))
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    share = float((lab[nearest] == lab[:, None]).mean())
    same = (lab[:, None] == lab[None, :]).sum(axis=1) - 1
    chance = float((same / (len(idx) - 1)).mean())
    return Agreement(k, share, chance)


def _figures(samples: int, summary: dict[str, float | None], auc: float | None) -> Figures:
    return Figures(
        samples=samples,
        dates=int(summary.get("dates") or 0),
        auc=auc,
        rank_ic_mean=summary.get("rank_ic_mean"),
        rank_ic_t=summary.get("rank_ic_t"),
    )


def _embedding_part(
    db: Path, run_id: str, symbol: str, top: int
) -> tuple[str | None, str | None, list[Neighbour], Agreement | None]:
    """(symbol, its planted dynamic, its neighbours, the all-asset agreement) of the run's embedding."""
    from training.planted import planted_labels

    with connect(db, read_only=True, wait_s=10.0) as con:
        combine = con.execute("select combine from train_runs where run_id = ?", [run_id]).fetchone()
        if combine is None or combine[0] == "none":
            return None, None, [], None
        emb = load_embeddings(con, run_id)
        labels = planted_labels(con, emb)
    if symbol not in emb.symbols:
        return None, None, [], neighbour_agreement(emb, labels, top) if labels else None
    planted = dict(zip(emb.symbols, labels, strict=True)) if labels else {}
    near = [Neighbour(s, sub, cos, planted.get(s)) for s, _, sub, cos in neighbours(emb, symbol, top=top)]
    agreement = neighbour_agreement(emb, labels, top) if labels else None
    return symbol, planted.get(symbol), near, agreement


def summarize_run(
    project: Project,
    run: str = "latest",
    *,
    db: Path | None = None,
    split: str = "test",
    symbol: str = "AAPL",
    top: int = 5,
) -> RunSummary:
    """Evaluate ``run`` on ``split`` (stored like ``fstore evaluate``), the oracle beside it on the
    synthetic market, and ``symbol``'s neighbours (see the module docstring)."""
    from training.evaluate import run_evaluation
    from training.oracle import oracle_evaluation
    from training.planted import is_synthetic

    db = Path(db) if db is not None else project.warehouse_path
    ev = run_evaluation(project, run, split=split, db=db)
    model = _figures(int(ev.pooled["samples"]), ev.summary, ev.pooled.get("auc"))
    with connect(db, read_only=True, wait_s=10.0) as con:
        synthetic = is_synthetic(con)
    oracle = None
    if synthetic:
        o = oracle_evaluation(project, db=db, split=split)
        oracle = _figures(o.samples, o.summary, o.auc)
    sym, sym_planted, near, agreement = _embedding_part(db, ev.run_id, symbol, top)
    return RunSummary(ev.run_id, split, model, oracle, sym, sym_planted, near, agreement)


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, fmt)


def _figures_line(name: str, f: Figures) -> str:
    auc = _num(f.auc, ".4f")
    se = f.auc_null_se
    above = f" = 0.5 + {(f.auc - 0.5) / se:.1f} SE" if f.auc is not None else ""
    return (
        f"  {name:<7}test AUC {auc}{above}   per-date Rank IC mean {_num(f.rank_ic_mean, '.4f')}"
        f" (t {_num(f.rank_ic_t, '.1f')} over {f.dates} dates)"
    )


def format_summary(s: RunSummary) -> list[str]:
    """The summary as lines of text (what ``python -m training.summary`` prints)."""
    lines = [
        f"what run {s.run_id} shows on the {s.split} split ({s.model.samples:,} windows; chance is"
        f" AUC 0.5 and Rank IC 0; SE of a no-skill AUC on as many independent windows:"
        f" {s.model.auc_null_se:.4f}):",
        _figures_line("model", s.model),
    ]
    if s.oracle is not None:
        lines.append(_figures_line("oracle", s.oracle) + "  <- knows each asset's planted φ: the ceiling")
    if s.symbol is not None:
        own = f", planted: {s.symbol_planted}" if s.symbol_planted else ""
        near = ", ".join(
            f"{n.symbol} {n.cosine:.2f}" + (f" ({n.planted})" if n.planted else "") for n in s.neighbours
        )
        lines.append(f"  {s.symbol}{own}; nearest in the embedding: {near}")
        if s.symbol_planted:
            hits = sum(n.planted == s.symbol_planted for n in s.neighbours)
            lines.append(f"  {hits} of {len(s.neighbours)} share {s.symbol}'s planted dynamic")
    if s.agreement is not None:
        a = s.agreement
        lines.append(
            f"  every asset: {a.share:.0%} of its {a.top} nearest neighbours share its planted dynamic"
            f" (chance {a.chance:.0%})"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Print the summary of a run (default: the newest finished run of the current project)."""
    parser = argparse.ArgumentParser(prog="python -m training.summary", description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default="latest")
    parser.add_argument("--project", metavar="DIR")
    parser.add_argument("--split", default="test")
    parser.add_argument("--symbol", default="AAPL")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        summary = summarize_run(
            load_project(args.project), args.run, split=args.split, symbol=args.symbol, top=args.top
        )
    except FstoreError as exc:  # a message, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(format_summary(summary)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "Agreement",
    "Figures",
    "Neighbour",
    "RunSummary",
    "format_summary",
    "main",
    "neighbour_agreement",
    "summarize_run",
]
