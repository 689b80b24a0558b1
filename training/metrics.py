"""Scores of a model's outputs against labels: loss, accuracy, ROC AUC, information coefficient.

Plain numpy in float64, no torch: :func:`score` is what training, evaluation and benchmarks report.
"""

from __future__ import annotations

import numpy as np


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if (counts > 1).any():
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    return ranks


def auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; None when one class is absent."""
    labels = labels > 0.5
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return None
    r = _ranks(scores)
    return float((r[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Rank correlation (the information coefficient); None when either side is constant."""
    if len(a) < 2:
        return None
    ra, rb = _ranks(a), _ranks(b)
    sa, sb = ra.std(), rb.std()
    if sa == 0 or sb == 0:
        return None
    return float(((ra - ra.mean()) * (rb - rb.mean())).mean() / (sa * sb))


def score(task: str, out: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """Loss, accuracy (direction for regression), AUC (classification) and IC (regression)."""
    out64, y64 = out.astype(np.float64), y.astype(np.float64)
    if task == "classification":
        # numerically stable BCE with logits: max(o, 0) - o·y + log(1 + exp(-|o|))
        loss = np.maximum(out64, 0) - out64 * y64 + np.log1p(np.exp(-np.abs(out64)))
        return {
            "loss": float(loss.mean()),
            "accuracy": float(((out64 > 0) == (y64 > 0.5)).mean()),
            "auc": auc(out64, y64),
            "ic": None,
        }
    return {
        "loss": float(((out64 - y64) ** 2).mean()),
        "accuracy": float((np.sign(out64) == np.sign(y64)).mean()),
        "auc": None,
        "ic": spearman(out64, y64),
    }


__all__ = ["auc", "score", "spearman"]
