"""What the model learned about each asset: reading, comparing and growing embedding tables.

* :func:`load_embeddings` reads one epoch of ``train_embeddings`` back as a (N, D) matrix, with which
  rows trained (``trained``: the asset had training windows in the run; an untrained row is still at
  its random start and means nothing);
* :func:`neighbours` ranks assets by cosine similarity to one symbol, trained rows only unless asked
  (the SQL version is in docs/training.md);
* :func:`group_separation` and :func:`silhouette` measure whether assets that share a property
  (a planted dynamic, a category) sit closer together than assets that do not;
* :func:`carry_rows` says which row of a run's table each asset of another mapping takes, by symbol
  (symbol → the run's ID → the new ID), and refuses mappings that disagree on a shared symbol's ID;
* :func:`grow_embedding` extends a trained table after a mapping sync appended symbols: carried rows
  are copied bit for bit, each new row is the mean of its sub-category's carried rows, else its
  category's, else of every carried row.

numpy only; no torch needed to read or compare embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from features.errors import MappingError, TrainingError


@dataclass(frozen=True)
class Embeddings:
    """One epoch of one run's embedding table, rows ordered by asset_id."""

    run_id: str
    epoch: int
    asset_ids: np.ndarray  # (N,) int
    symbols: list[str]
    categories: list[str]
    subcategories: list[str]
    vectors: np.ndarray  # (N, D) float32
    trained: np.ndarray | None = None  # (N,) bool: the row had training windows; None when not logged

    @property
    def untrained(self) -> list[str]:
        """Symbols whose row never trained in the run (empty when the run did not log it)."""
        if self.trained is None:
            return []
        return [s for s, t in zip(self.symbols, self.trained.tolist(), strict=True) if not t]

    def is_trained(self, i: int) -> bool:
        return True if self.trained is None else bool(self.trained[i])

    def index_of(self, symbol: str) -> int:
        try:
            return self.symbols.index(symbol)
        except ValueError:
            close = [s for s in self.symbols if s and s.upper().startswith(symbol.upper()[:2])][:5]
            raise TrainingError(
                f"run {self.run_id} has no embedding for symbol {symbol!r}"
                + (f" (did you mean {', '.join(close)}?)" if close else ""),
            ) from None


def load_embeddings(con: duckdb.DuckDBPyConnection, run_id: str, epoch: int | None = None) -> Embeddings:
    """Rows of ``train_embeddings`` for ``run_id`` at ``epoch`` (default: the run's best epoch, else last)."""
    if epoch is None:
        rows = con.execute(
            "select coalesce(r.best_epoch, (select max(epoch) from train_embeddings e where e.run_id = r.run_id))"
            " from train_runs r where run_id = ?",
            [run_id],
        ).fetchall()
        epoch = rows[0][0] if rows else None
        if epoch is None:
            raise TrainingError(
                f"run {run_id} logged no embeddings (a combine='none' run, or it stopped before epoch 1)"
            )
    cols = {r[0] for r in con.execute("describe train_embeddings").fetchall()}
    trained = "trained" if "trained" in cols else "null"  # a warehouse from before the column
    rows = con.execute(
        f"select asset_id, symbol, category, subcategory, dim, vector, {trained} from train_embeddings"
        " where run_id = ? and epoch = ? order by asset_id",
        [run_id, int(epoch)],
    ).fetchall()
    if not rows:
        epochs = [
            r[0]
            for r in con.execute(
                "select distinct epoch from train_embeddings where run_id = ? order by 1", [run_id]
            ).fetchall()
        ]
        raise TrainingError(
            f"run {run_id} has no embeddings for epoch {epoch}"
            + (f" (logged epochs: {', '.join(map(str, epochs))})" if epochs else " (it logged none)")
        )
    dim = int(rows[0][4])
    vectors = np.array([r[5][:dim] for r in rows], dtype=np.float32)
    return Embeddings(
        run_id=run_id,
        epoch=int(epoch),
        asset_ids=np.array([r[0] for r in rows]),
        symbols=[r[1] or str(r[0]) for r in rows],
        categories=[r[2] or "" for r in rows],
        subcategories=[r[3] or "" for r in rows],
        vectors=vectors,
        trained=None if any(r[6] is None for r in rows) else np.array([bool(r[6]) for r in rows]),
    )


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """(N, N) cosine similarity of the rows of ``vectors`` (float64)."""
    v = vectors.astype(np.float64)
    unit = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def neighbours(
    emb: Embeddings, symbol: str, top: int = 10, *, include_untrained: bool = False
) -> list[tuple[str, str, str, float]]:
    """The ``top`` assets most cosine-similar to ``symbol``: (symbol, category, subcategory, cosine).
    Rows that never trained are left out unless ``include_untrained``."""
    i = emb.index_of(symbol)
    sims = cosine_matrix(emb.vectors)[i]
    order = [
        j
        for j in np.argsort(-sims, kind="stable")
        if j != i and (include_untrained or emb.is_trained(int(j)))
    ][:top]
    return [(emb.symbols[j], emb.categories[j], emb.subcategories[j], float(sims[j])) for j in order]


@dataclass(frozen=True)
class Separation:
    within: float  # mean cosine over pairs in the same group
    between: float  # mean cosine over pairs in different groups
    silhouette: float  # mean silhouette with cosine distance, in [-1, 1]

    @property
    def gap(self) -> float:
        return self.within - self.between


def group_separation(vectors: np.ndarray, groups: Sequence[Any]) -> Separation:
    """Within- vs between-group mean cosine similarity, and the cosine-distance silhouette."""
    labels = np.asarray([str(g) for g in groups])
    if len(labels) != len(vectors):
        raise ValueError("one group label per vector")
    sims = cosine_matrix(vectors)
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    within = float(sims[same & off].mean()) if (same & off).any() else float("nan")
    between = float(sims[~same].mean()) if (~same).any() else float("nan")
    return Separation(within, between, silhouette(1.0 - sims, labels))


def silhouette(distances: np.ndarray, labels: Sequence[Any]) -> float:
    """Mean silhouette coefficient from a precomputed (N, N) distance matrix (Rousseeuw 1987)."""
    labels = np.asarray(labels)
    uniq = np.unique(labels)
    if len(uniq) < 2:
        return float("nan")
    scores = np.zeros(len(labels))
    for i in range(len(labels)):
        own = labels == labels[i]
        own[i] = False
        if not own.any():
            continue  # a singleton cluster scores 0
        a = distances[i, own].mean()
        b = min(distances[i, labels == g].mean() for g in uniq if g != labels[i])
        scores[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return float(scores.mean())


def carry_rows(old: Mapping[str, int], new: Mapping[str, int], *, what: str = "the run") -> dict[int, int]:
    """new asset ID → row of the table trained on mapping ``old``, through symbols (never by position).

    ``old`` / ``new``: symbol → asset ID of the two mappings. Allowed only when they agree on every
    symbol ``old`` knows (IDs are append-only within a major version, so a later minor version keeps
    every earlier symbol's ID); otherwise a :class:`MappingError` names the symbols that moved or
    vanished. Symbols only ``new`` has are absent from the result (the run does not know them).
    """
    # TODO(lead): use features.mapping.carry_rows once it is on main (same rule, one place).
    moved = sorted(s for s, i in old.items() if s in new and new[s] != i)
    gone = sorted(s for s in old if s not in new)
    if moved or gone:
        parts = []
        if moved:
            shown = ", ".join(f"{s} {old[s]} -> {new[s]}" for s in moved[:5])
            parts.append(
                f"{len(moved)} symbol(s) have another ID now ({shown}{', …' if len(moved) > 5 else ''})"
            )
        if gone:
            parts.append(
                f"{len(gone)} have no ID at all ({', '.join(gone[:5])}{', …' if len(gone) > 5 else ''})"
            )
        raise MappingError(
            f"{what} was trained on a mapping that disagrees with this one: " + "; ".join(parts),
            symbols=moved + gone,
            hint="its embedding rows belong to other assets here: train a new run on this mapping "
            "(or restore the mapping the run was trained on: `fstore symbols restore`)",
        )
    return {int(new[s]): int(i) for s, i in old.items()}


def grow_embedding(
    old: np.ndarray,
    new_assets: Sequence[tuple[int, str, str]],
    num_embeddings: int,
    old_assets: Sequence[tuple[int, str, str]],
    *,
    carry: Mapping[int, int] | None = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """A (num_embeddings, D) table: carried rows unchanged, each other row from its group's mean.

    ``carry``: new asset ID → row of ``old`` (from :func:`carry_rows`); default: IDs ``0..len(old)-1``
    keep their row. ``old_assets`` / ``new_assets``: (asset_id, category, subcategory) of the carried
    IDs / the others (new IDs). Returns the table and, per new ID, where its initial value came from
    (``subcategory:<name>``, ``category:<name>`` or ``all``).
    """
    n_old, dim = old.shape
    if num_embeddings < n_old:
        raise TrainingError(
            f"cannot shrink an embedding table from {n_old} to {num_embeddings} rows: asset IDs are append-only",
            hint="the checkpoint belongs to a later mapping version than the warehouse; rebuild it",
        )
    carry = {i: i for i in range(n_old)} if carry is None else dict(carry)
    new = np.empty((num_embeddings, dim), dtype=old.dtype)
    for asset_id, row in carry.items():
        new[asset_id] = old[row]  # bit-identical copy
    by_sub: dict[tuple[str, str], list[int]] = {}
    by_cat: dict[str, list[int]] = {}
    for asset_id, category, subcategory in old_assets:
        if asset_id in carry:
            by_sub.setdefault((category, subcategory), []).append(carry[asset_id])
            by_cat.setdefault(category, []).append(carry[asset_id])
    info = {a: (c, s) for a, c, s in new_assets}
    source: dict[int, str] = {}
    overall = old[sorted(set(carry.values())) or list(range(n_old))].astype(np.float64).mean(axis=0)
    for asset_id in (a for a in range(num_embeddings) if a not in carry):
        category, subcategory = info.get(asset_id, ("", ""))
        if (category, subcategory) in by_sub:
            rows, source[asset_id] = by_sub[(category, subcategory)], f"subcategory:{subcategory}"
        elif category in by_cat:
            rows, source[asset_id] = by_cat[category], f"category:{category}"
        else:
            rows, source[asset_id] = None, "all"
        mean = overall if rows is None else old[rows].astype(np.float64).mean(axis=0)
        new[asset_id] = mean.astype(old.dtype)
    return new, source


__all__ = [
    "Embeddings",
    "Separation",
    "carry_rows",
    "cosine_matrix",
    "group_separation",
    "grow_embedding",
    "load_embeddings",
    "neighbours",
    "silhouette",
]
