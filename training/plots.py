"""PNG pictures of a run, drawn from the warehouse: embedding similarity, a 2-D PCA map, training curves.

* ``<run>_similarity.png``  cosine-similarity heatmap, assets ordered by category, sub-category, symbol,
  with the category blocks outlined and labelled;
* ``<run>_pca.png``         the embeddings projected on their first two principal components, one
  colour per category, every point labelled with its symbol;

On a warehouse that holds the built-in synthetic market (:func:`training.planted.planted_labels`) both
embedding pictures also show the dynamic the market planted in each asset: the PCA map gets a second
panel coloured by it (and the first is coloured by sub-category), the heatmap orders its blocks by it
and names it beside each sub-category. A user's own data has no planted dynamic, and no such panel.

Rows that never trained (their asset had no training window in the run, ``train_embeddings.trained``
is false) are still at their random start: the PCA map draws them as hollow grey markers and the
heatmap's labels for them are grey, both with a legend or note that says so.
* ``<run>_curves.png``      train/valid loss per epoch, and validation AUC (classification) or IC
  (regression), with the best epoch marked.

matplotlib's Agg backend: no display needed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from features.errors import ConfigError
from features.warehouse import atomic_path
from training.embeddings import Embeddings, cosine_matrix
from training.planted import DYNAMIC_COLOURS, planted_labels

UNTRAINED_COLOUR = "#9e9e9e"


def check_plot_dir(path: str | Path) -> Path:
    """The folder PNGs go to, checked before any work: it may not exist yet, but it may not be a file,
    sit under a file, or be in a folder this process cannot write to."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"--plot {path} is a file, not a folder: it names the folder the PNG pictures go to",
            file=path,
            hint="give a folder (it is created if missing), e.g. --plot target/plots",
        )
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(
            f"--plot {path}: {existing} is a file, so no folder can be made there", file=existing
        )
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--plot {path}: cannot write in {existing}", file=existing)
    return path


_CATEGORY_COLOURS = {"sectors": "#1f77b4", "etfs": "#2ca02c", "crypto": "#d62728"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path, *, dpi: int) -> None:
    """Write ``fig`` as a PNG at ``path`` whole (temp file, fsync, rename), then free it."""
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)


def _order(emb: Embeddings, planted: list[str] | None = None) -> np.ndarray:
    """Row order of the heatmap: (planted dynamic when given,) category, sub-category, symbol."""
    first = planted if planted is not None else [""] * len(emb.symbols)
    keys = list(zip(first, emb.categories, emb.subcategories, emb.symbols, strict=True))
    return np.array(sorted(range(len(keys)), key=lambda i: keys[i]))


def similarity_heatmap(emb: Embeddings, path: Path, planted: list[str] | None = None) -> Path:
    """The cosine-similarity heatmap; ``planted`` (one dynamic per row) groups and names the blocks."""
    plt = _plt()
    order = _order(emb, planted)
    sims = cosine_matrix(emb.vectors)[np.ix_(order, order)]
    n = len(order)
    size = min(max(6.0, n * 0.09), 18.0)
    fig, ax = plt.subplots(figsize=(size + 1.5, size + 1.0))
    im = ax.imshow(sims, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    font = max(3.0, min(9.0, 900.0 / max(n, 1) / 2))
    labels = [emb.symbols[i] for i in order]
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    untrained = [k for k, i in enumerate(order) if not emb.is_trained(int(i))]
    for k in untrained:  # rows still at their random start: grey labels
        ax.get_xticklabels()[k].set_color(UNTRAINED_COLOUR)
        ax.get_yticklabels()[k].set_color(UNTRAINED_COLOUR)
    # outline each sub-category block; name each category block on the right
    subs = [(emb.categories[i], emb.subcategories[i]) for i in order]
    start = 0
    for k in range(1, n + 1):
        if k == n or subs[k] != subs[start]:
            ax.add_patch(
                plt.Rectangle(
                    (start - 0.5, start - 0.5), k - start, k - start, fill=False, lw=0.8, ec="black"
                )
            )
            cat, sub = subs[start]
            label = f"{sub} ({cat})" if sub and cat else sub or cat or "?"
            colour = "black"
            if planted is not None:
                dynamic = planted[int(order[start])]
                label, colour = f"{label}: {dynamic}", DYNAMIC_COLOURS.get(dynamic, "black")
            ax.text(n + 0.5, (start + k - 1) / 2, label, va="center", fontsize=8, color=colour)
            start = k
    note = f"\ngrey labels: {len(untrained)} untrained rows (no training windows)" if untrained else ""
    if planted is not None:
        note += "\nblocks ordered by the dynamic the synthetic market planted (named on the right)"
    ax.set_title(
        f"cosine similarity of asset embeddings\nrun {emb.run_id}, epoch {emb.epoch}{note}", fontsize=11
    )
    fig.colorbar(im, ax=ax, orientation="horizontal", fraction=0.03, pad=0.06, label="cosine similarity")
    fig.tight_layout()
    _save(plt, fig, path, dpi=150)
    return path


def _pca(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) coordinates on the first two principal components, and their shares of the variance."""
    v = vectors.astype(np.float64)
    centred = v - v.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, (s[:2] ** 2) / max((s**2).sum(), 1e-12)


def _scatter_panel(
    ax: Any, xy: np.ndarray, emb: Embeddings, groups: list[str], colours: dict[str, str], title: str
) -> None:
    """One PCA panel: trained rows coloured by ``groups``, untrained rows hollow grey, symbols named."""
    trained = [emb.is_trained(i) for i in range(len(emb.symbols))]
    for group in sorted(set(groups)):
        idx = [i for i, g in enumerate(groups) if g == group and trained[i]]
        if idx:
            ax.scatter(
                xy[idx, 0], xy[idx, 1], s=28, alpha=0.8, label=group or "unknown", color=colours.get(group)
            )
    idle = [i for i, t in enumerate(trained) if not t]
    if idle:  # hollow grey: still at their random start
        ax.scatter(
            xy[idle, 0],
            xy[idle, 1],
            s=28,
            facecolors="none",
            edgecolors=UNTRAINED_COLOUR,
            label=f"untrained ({len(idle)}: no training windows)",
        )
    for i, sym in enumerate(emb.symbols):
        colour = "black" if trained[i] else UNTRAINED_COLOUR
        ax.annotate(
            sym, xy[i], fontsize=6, alpha=0.75, xytext=(3, 2), textcoords="offset points", color=colour
        )
    ax.legend(title=title, fontsize=7, title_fontsize=8)
    ax.grid(alpha=0.3)


def _subcategory_colours(names: list[str]) -> dict[str, str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["tab20"]
    return {name: to_hex(cmap(k % 20)) for k, name in enumerate(sorted(set(names)))}


def pca_scatter(emb: Embeddings, path: Path, planted: list[str] | None = None) -> Path:
    """The PCA map, coloured by category; with ``planted`` (one dynamic per row) two panels, coloured
    by sub-category and by the planted dynamic."""
    plt = _plt()
    xy, share = _pca(emb.vectors)
    if planted is None:
        fig, ax = plt.subplots(figsize=(11, 9))
        _scatter_panel(ax, xy, emb, list(emb.categories), _CATEGORY_COLOURS, "category")
        axes = [ax]
        ax.set_title(f"run {emb.run_id}, epoch {emb.epoch}: asset embeddings, first two principal components")
    else:
        fig, axes = plt.subplots(1, 2, figsize=(20, 9))
        subs = [f"{s} ({c})" for c, s in zip(emb.categories, emb.subcategories, strict=True)]
        _scatter_panel(axes[0], xy, emb, subs, _subcategory_colours(subs), "sub-category")
        _scatter_panel(axes[1], xy, emb, planted, DYNAMIC_COLOURS, "planted dynamic")
        axes[0].set_title("coloured by sub-category")
        axes[1].set_title("coloured by the dynamic the synthetic market planted")
        fig.suptitle(f"run {emb.run_id}, epoch {emb.epoch}: asset embeddings, first two principal components")
    for ax in axes:
        ax.set_xlabel(f"PC1 ({share[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({share[1]:.0%} of variance)" if len(share) > 1 else "PC2")
    fig.tight_layout()
    _save(plt, fig, path, dpi=150 if planted is None else 110)
    return path


def training_curves(run_id: str, metrics: list[dict], best_epoch: int | None, path: Path) -> Path:
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for split, style in (("train", "-o"), ("valid", "-s")):
        rows = [m for m in metrics if m["split"] == split and m["loss"] is not None]
        ax1.plot([m["epoch"] for m in rows], [m["loss"] for m in rows], style, label=split)
    from matplotlib.ticker import MaxNLocator

    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.set_title("loss")
    valid = [m for m in metrics if m["split"] == "valid"]
    key = "auc" if any(m["auc"] is not None for m in valid) else "ic"
    ax2.plot(
        [m["epoch"] for m in valid], [m[key] for m in valid], "-s", color="tab:orange", label=f"valid {key}"
    )
    test = [m for m in metrics if m["split"] == "test" and m[key] is not None]
    if test:
        ax2.plot(
            [m["epoch"] for m in test],
            [m[key] for m in test],
            "*",
            ms=12,
            color="tab:red",
            label=f"test {key}",
        )
    if key == "auc":
        ax2.axhline(0.5, color="grey", lw=0.8, ls="--", label="chance")
    else:
        ax2.axhline(0.0, color="grey", lw=0.8, ls="--", label="no skill")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel(key.upper())
    ax2.set_title(f"{key.upper()}: validation per epoch, test at the best epoch")
    for ax in (ax1, ax2):
        if best_epoch is not None:
            ax.axvline(best_epoch, color="green", lw=0.8, ls=":", label="best epoch")
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"run {run_id}")
    fig.tight_layout()
    _save(plt, fig, path, dpi=120)
    return path


def write_run_plots(db: str | Path, run_id: str, out_dir: Path, *, epoch: int | None = None) -> list[Path]:
    """Every picture of ``run_id`` into ``out_dir``; embedding plots only when the run has embeddings,
    showing the planted dynamics when the warehouse holds the synthetic market."""
    from features.warehouse import connect
    from training.embeddings import load_embeddings
    from training.runs import read_metrics, resolve_run

    out_dir = check_plot_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    con = connect(db, read_only=True, wait_s=10.0)
    try:
        row = resolve_run(con, run_id)
        run_id = row["run_id"]
        metrics = read_metrics(con, run_id)
        emb = load_embeddings(con, run_id, epoch) if row["combine"] != "none" else None
        planted = planted_labels(con, emb) if emb is not None else None
    finally:
        con.close()
    paths = [training_curves(run_id, metrics, row["best_epoch"], out_dir / f"{run_id}_curves.png")]
    if emb is not None:
        paths.append(similarity_heatmap(emb, out_dir / f"{run_id}_similarity.png", planted))
        paths.append(pca_scatter(emb, out_dir / f"{run_id}_pca.png", planted))
    return paths


__all__ = [
    "UNTRAINED_COLOUR",
    "check_plot_dir",
    "pca_scatter",
    "similarity_heatmap",
    "training_curves",
    "write_run_plots",
]
