"""Windows as a ``.npz`` file, for people who bring their own training code.

The file holds the strategy's output format plus what is needed to use it correctly later:
``X (n, L, C) float32``, ``asset_ids (n,) int64``, ``y (n,) float32``, ``label_dates (n,)
datetime64[D]``, ``feature_names (C,)``, ``mapping_version``, ``fingerprint``, ``split``, and the
normalisation statistics ``norm_mean`` / ``norm_std`` / ``norm_mode``. It loads with
``numpy.load(path)`` (no pickle).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from features.warehouse import atomic_path

if TYPE_CHECKING:
    from training.loader import WindowDataset


def export_windows(dataset: WindowDataset, path: str | Path) -> Path:
    """Write every window of ``dataset`` to ``path`` (.npz, uncompressed: it is mostly floats)."""
    path = Path(path)
    arrays = dataset.to_arrays()
    # a reader never sees half a file; the temp name ends in .npz so np.savez adds nothing to it
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            **arrays,
            feature_names=np.array(dataset.feature_names, dtype=str),
            mapping_version=np.array(dataset.mapping_version or "", dtype=str),
            fingerprint=np.array(dataset.fingerprint, dtype=str),
            split=np.array(dataset.split, dtype=str),
            norm_mode=np.array(dataset.stats.mode, dtype=str),
            norm_mean=dataset.stats.mean,
            norm_std=dataset.stats.std,
        )
    return path


__all__ = ["export_windows"]
