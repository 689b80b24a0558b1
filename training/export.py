"""Windows as a ``.npz`` file, for people who bring their own training code.

The file holds the strategy's output format plus what is needed to use it correctly later:
``X (n, L, C) float32``, ``asset_ids (n,) int64``, ``y (n,) float32``, ``label_dates (n,)
datetime64[D]``, ``feature_names (C,)``, ``mapping_version``, ``fingerprint``, ``split``, the
normalisation statistics ``norm_mean`` / ``norm_std`` / ``norm_mode``, and ``format``
(``fstore-windows-1``), which marks the file as an fstore export. It loads with ``numpy.load(path)``
(no pickle).

:func:`check_out_path` runs before any window is read: the path may be new or a previous export
(replaced whole); anything else that exists is refused unless ``force``, and the warehouse, the
asset-ID mapping, ``symbols.json``, ``project.toml``, price files under ``[paths] raw`` and snapshot
files are refused even then.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from features.errors import ConfigError
from features.warehouse import atomic_path

if TYPE_CHECKING:
    from features.config import Project
    from training.loader import WindowDataset

FORMAT = "fstore-windows-1"
_EXPORT_KEYS = {"X", "asset_ids", "y", "label_dates", "feature_names", "fingerprint", "split"}


def is_export(path: Path) -> bool:
    """Whether ``path`` is a ``.npz`` file fstore's ``export-windows`` wrote (its arrays, no pickle)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            if "format" in keys:
                return str(npz["format"]) == FORMAT
            return keys >= _EXPORT_KEYS  # written before the format marker
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return False


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def _never(path: Path, project: Project, db: Path | None) -> str | None:
    """What ``path`` is, when it is a file fstore must never replace with windows (else None)."""
    warehouse = Path(db) if db is not None else project.warehouse_path
    named = {
        warehouse: "the warehouse",
        warehouse.with_name(warehouse.name + ".wal"): "the warehouse's write-ahead log",
        project.mapping_path: "the asset-ID mapping",
        project.path(project.paths.symbols): "the symbol universe",
    }
    if project.config_file is not None:
        named[Path(project.config_file)] = "the project config"
    for other, what in named.items():
        if path == other.resolve() or (path.exists() and other.exists() and os.path.samefile(path, other)):
            return f"{what} ({other})"
    folders = (
        (project.path(project.paths.raw), "a price file"),
        (project.path(project.paths.snapshots), "a dataset snapshot"),
    )
    for folder, what in folders:
        if _inside(path, folder.resolve()):
            return f"{what} folder ({folder})"
    return None


def check_out_path(
    path: str | Path, project: Project, *, db: Path | None = None, force: bool = False
) -> Path:
    """Refuse an ``--out`` that would replace something other than a previous export (see the module
    docstring); returns the path. Runs before any window is read."""
    path = Path(path)
    resolved = path.resolve()
    if path.is_dir():
        raise ConfigError(f"--out {path} is a folder; give the .npz file to write", file=path)
    never = _never(resolved, project, db)
    if never is not None:
        raise ConfigError(
            f"--out {path} is {never}: export-windows never writes there, not even with --force",
            file=path,
            hint="write the windows somewhere else, e.g. --out target/windows.npz",
        )
    if path.exists() and not force and not is_export(path):
        raise ConfigError(
            f"--out {path} exists and is not a previous export-windows file; it is left as it is",
            file=path,
            hint="choose a new file name, or add --force to replace it",
        )
    return path


def export_windows(dataset: WindowDataset, path: str | Path, *, task: Any = None) -> Path:
    """Write every window of ``dataset`` to ``path`` (.npz, uncompressed: it is mostly floats).
    ``task``: a :class:`training.progress.Task` that shows the windows gathered and the write."""
    path = Path(path)
    arrays = dataset.to_arrays(task=task)
    if task is not None:
        task.reset(f"writing {path.name}", None)
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
            format=np.array(FORMAT, dtype=str),
        )
    return path


__all__ = ["FORMAT", "check_out_path", "export_windows", "is_export"]
