"""What the embeddings page shows of one run: a 2-D PCA map, nearest neighbours, untrained rows.

    embedding_map(con, run)   the run's embedding table at its best (or last) epoch, read-only:
                              PCA coordinates (numpy SVD of the centred vectors), each asset's
                              nearest neighbours by cosine in the full dimension, and which rows
                              never trained

A row is *untrained* when ``train_asset_samples`` (if the training side logs it) says the asset had no
training samples; otherwise when its direction never moved from epoch 0 (cosine with the epoch-0
vector ≥ 1 - 1e-9). Direction, not equality: AdamW's weight decay shrinks every row each step, so a
row that received no gradient is a scaled copy of its initial vector, never equal to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import duckdb

NEIGHBOURS = 10
UNMOVED_COS = 1 - 1e-9


def _vectors(
    con: duckdb.DuckDBPyConnection, run_id: str, epoch: int
) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """(asset_id, symbol, category, subcategory) rows and their vectors (n, dim) at one epoch."""
    rows = con.execute(
        "select asset_id, symbol, category, subcategory, dim, vector from train_embeddings"
        " where run_id = ? and epoch = ? order by asset_id",
        [run_id, epoch],
    ).fetchall()
    if not rows:
        return [], np.zeros((0, 0))
    dim = int(rows[0][4])
    vectors = np.array([r[5][:dim] for r in rows], dtype=np.float64)  # (n, dim)
    return [r[:4] for r in rows], vectors


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Coordinates (n, 2) on the first two principal axes and the share of variance each explains.

    Signs are fixed so each axis's largest loading is positive (the map does not flip between runs
    of the generator)."""
    n, d = vectors.shape
    if n == 0:
        return np.zeros((0, 2)), [0.0, 0.0]
    centred = vectors - vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    axes = np.zeros((2, d))
    k = min(2, vt.shape[0])
    axes[:k] = vt[:k]
    for i in range(k):
        if axes[i, np.argmax(np.abs(axes[i]))] < 0:
            axes[i] = -axes[i]
    total = float((s**2).sum())
    share = [float(s[i] ** 2 / total) if total > 0 and i < len(s) else 0.0 for i in range(2)]
    return centred @ axes.T, share


def nearest(vectors: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest other rows by cosine similarity: (indices (n, k), similarities (n, k))."""
    n = len(vectors)
    k = max(0, min(k, n - 1))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    sim = unit @ unit.T  # (n, n)
    np.fill_diagonal(sim, -np.inf)
    idx = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(sim, idx, axis=1)


def _untrained(
    con: duckdb.DuckDBPyConnection, run_id: str, ids: list[int], vectors: np.ndarray, have: frozenset[str]
) -> tuple[list[bool], str]:
    """Which rows never trained, and how that was decided."""
    if "train_asset_samples" in have:
        counts = dict(
            con.execute(
                "select asset_id, samples from train_asset_samples where run_id = ? and split = 'train'",
                [run_id],
            ).fetchall()
        )
        if counts:
            return [not counts.get(i) for i in ids], "no training samples (train_asset_samples)"
    rows, start = _vectors(con, run_id, 0)
    if not rows or start.shape != vectors.shape:
        return [False] * len(ids), "unknown (no epoch-0 embeddings logged)"
    num = (start * vectors).sum(axis=1)
    den = np.linalg.norm(start, axis=1) * np.linalg.norm(vectors, axis=1)
    cos = num / np.maximum(den, 1e-300)
    return [bool(c >= UNMOVED_COS) for c in cos], "direction unchanged since epoch 0"


def _epoch(con: duckdb.DuckDBPyConnection, run: dict[str, Any]) -> int | None:
    epochs = [
        r[0]
        for r in con.execute(
            "select distinct epoch from train_embeddings where run_id = ? order by epoch", [run["run_id"]]
        ).fetchall()
    ]
    best = run.get("best_epoch")
    if best in epochs:
        return int(best)
    return epochs[-1] if epochs else None


def embedding_map(
    con: duckdb.DuckDBPyConnection,
    run: dict[str, Any],
    k: int = NEIGHBOURS,
    have: frozenset[str] | None = None,
) -> dict[str, Any] | None:
    """The page data of one run (a ``train_runs`` row as a dict); None when it logged no embeddings.

    ``have``: the warehouse's relation names, when the caller has read them already."""
    if have is None:
        from features.site.collect import relation_names

        have = relation_names(con)
    if "train_embeddings" not in have:
        return None
    epoch = _epoch(con, run)
    if epoch is None:
        return None
    rows, vectors = _vectors(con, run["run_id"], epoch)
    coords, share = pca_2d(vectors)
    idx, sim = nearest(vectors, k)
    ids = [int(r[0]) for r in rows]
    untrained, rule = _untrained(con, run["run_id"], ids, vectors, have)
    points = [
        {
            "id": ids[i],
            "symbol": r[1] or f"#{ids[i]}",
            "category": r[2] or "unknown",
            "subcategory": r[3] or "unknown",
            "x": round(float(coords[i, 0]), 5),
            "y": round(float(coords[i, 1]), 5),
            "norm": round(float(np.linalg.norm(vectors[i])), 5),
            "untrained": untrained[i],
            "nn": [[ids[int(j)], round(float(s), 4)] for j, s in zip(idx[i], sim[i], strict=True)],
        }
        for i, r in enumerate(rows)
    ]
    return {
        "run_id": run["run_id"],
        "epoch": epoch,
        "dim": int(vectors.shape[1]),
        "explained": [round(v, 4) for v in share],
        "untrained_rule": rule,
        "points": points,
    }


__all__ = ["embedding_map", "nearest", "pca_2d"]
