"""fstore: a dbt-style SQL + Python feature store for training one network on many assets.

The public surface is small and re-exported here; heavy modules load on first use so that
``import features`` (and so every ``fstore`` command) starts fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from features.errors import FstoreError, MappingError, UnknownSymbolError
from features.models.python import model

_LAZY = {
    "AssetMapping": "features.mapping",
    "Project": "features.config",
    "load_mapping": "features.mapping",
    "load_project": "features.config",
    "num_embeddings": "features.mapping",
    "symbol_to_id": "features.mapping",
}

__all__ = [
    "AssetMapping",
    "FstoreError",
    "MappingError",
    "Project",
    "UnknownSymbolError",
    "load_mapping",
    "load_project",
    "model",
    "num_embeddings",
    "symbol_to_id",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'features' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
