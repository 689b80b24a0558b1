"""fstore training side: the DuckDB → Polars → torch loader, the TradingModel and logged runs.

Importing this package does not import torch: the public names below load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> module that defines it (loaded lazily, so `import training` stays cheap)
_EXPORTS = {
    "NormStats": "training.normalize",
    "Snapshot": "training.snapshots",
    "SplitBoundaries": "training.splits",
    "TradingModel": "training.model",
    "WindowDataset": "training.loader",
    "create_snapshot": "training.snapshots",
    "evaluate_run": "training.train",
    "export_windows": "training.export",
    "grow_embedding": "training.embeddings",
    "list_snapshots": "training.snapshots",
    "load_embeddings": "training.embeddings",
    "neighbours": "training.embeddings",
    "run_training": "training.train",
    "training_set_fingerprint": "training.source",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'training' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
