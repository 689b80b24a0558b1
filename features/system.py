"""The relations fstore owns in the warehouse, in one registry: a model can never take their names.

fstore writes its own tables beside the user's models in the warehouse's main schema: the asset-ID
dimension, raw prices, the build log, training runs … Every one of them is listed in
:data:`SYSTEM_RELATIONS` (name → what it holds and who writes it), and every name starting with a
prefix of :data:`RESERVED_PREFIXES` is fstore's bookkeeping or a temporary table of a build step.
A model whose name is one of these (compared case-insensitively, as DuckDB compares identifiers) is a
validation error naming its file, so a ``sql/train_runs.sql`` can never wipe the training history.

A new table is one line here. ``tests/reliability/test_reserved_names.py`` fails when fstore creates
a relation that is not registered: it builds a project, trains, snapshots and evaluates, lists every
relation in the warehouse, subtracts the models, and finds the rest here; a second test scans the
source for ``create table`` statements naming an unregistered literal.

Why not a separate schema for fstore's own tables: the user-facing ones (``dim_symbol``,
``raw_prices``, ``train_runs`` …) are documented at plain names in ``main`` and stay there, so the
registry is needed anyway; the internal ones already carry a reserved prefix that no model may use,
which makes a collision impossible by construction without migrating existing warehouses.
"""

from __future__ import annotations

# name -> what it holds (who writes it). Lower case: DuckDB identifiers are case-insensitive.
SYSTEM_RELATIONS: dict[str, str] = {
    # the asset-ID contract (features.dimension)
    "dim_symbol": "the asset-ID dimension (features.dimension)",
    "dim_symbol_history": "every version of every asset ID (features.dimension)",
    "mapping_versions": "the asset-ID mapping's versions (features.dimension)",
    # sources (features.ingest, features.params)
    "raw_prices": "daily prices read from data/raw or the synthetic market (features.ingest)",
    "raw_prices_rejected": "price rows the ingest refused, with the reason (features.ingest)",
    "feature_params": "the [features] settings models read (features.params)",
    # the build log (features.models.state)
    "build_runs": "one row per build (features.models.state)",
    "build_models": "one row per model per build (features.models.state)",
    "build_tests": "one row per data test per build (features.models.state)",
    # training (training.runs, training.snapshots) and what later steps write
    "train_runs": "one row per training run (training.runs)",
    "train_metrics": "per-epoch metrics of each run (training.runs)",
    "train_embeddings": "per-epoch asset embeddings of each run (training.runs)",
    "train_embedding_stats": "per-epoch embedding statistics of each run (training.runs)",
    "dataset_snapshots": "frozen training_set copies (training.snapshots)",
    "train_asset_samples": "windows per asset and split of each run (training.runs)",
    "eval_daily": "per-date IC, Rank IC and quintile returns of each evaluation (fstore evaluate)",
    "eval_summary": "ICIR, t, hit rate and spreads of each evaluation (fstore evaluate)",
    "predictions": "scores of the newest windows per run (fstore predict)",
}

# bookkeeping (_fstore_models, _fstore_tests, _fstore_sources, _fstore_ingest_*) and the temporary
# tables of incremental refreshes (__fstore_new, __fstore_hw …)
RESERVED_PREFIXES: tuple[str, ...] = ("_fstore_", "__fstore_")


def is_reserved(name: str) -> bool:
    """Whether ``name`` is a relation fstore owns (case-insensitive), so no model may take it."""
    lower = name.lower()
    return lower in SYSTEM_RELATIONS or lower.startswith(RESERVED_PREFIXES)


def reserved_reason(name: str) -> str | None:
    """What fstore keeps under ``name`` (None when the name is free for a model)."""
    lower = name.lower()
    if lower in SYSTEM_RELATIONS:
        return SYSTEM_RELATIONS[lower]
    if lower.startswith(RESERVED_PREFIXES):
        return "fstore's bookkeeping (the _fstore_ prefix is reserved)"
    return None


__all__ = ["RESERVED_PREFIXES", "SYSTEM_RELATIONS", "is_reserved", "reserved_reason"]
