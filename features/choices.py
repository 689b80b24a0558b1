"""The choice lists of the config and the CLI, torch-free and defined once.

``features.config`` validates ``config/project.toml`` against them (and re-exports them); the CLI
offers them as ``choices``; ``training`` checks its arguments against them. A leaf module: importing
it costs nothing, so ``fstore --help`` stays fast.
"""

from __future__ import annotations

SPLITS = ("train", "valid", "test")  # loader splits, in time order
LATEST_SPLIT = "latest"  # the newest complete window per asset, label not required (prediction)
LOADER_SPLITS = (*SPLITS, LATEST_SPLIT)  # what WindowDataset loads; a run trains on SPLITS
NORMALIZE_MODES = ("global", "per_asset", "none")  # [loader] normalize
MISSING_MODES = ("drop", "fill")  # [loader] missing
ENCODERS = ("gru", "lstm", "tcn")  # [model] encoder
COMBINES = ("concat", "add", "attention", "separate", "none")  # [model] combine
TASKS = ("classification", "regression")  # [model] task
DEVICES = ("cpu", "cuda", "auto")  # [train] device (also cuda:N)
OUTPUT_FORMATS = ("table", "csv", "json")  # --format of commands that print rows
DOCS_PORT = 8080  # `fstore docs serve` default port on 127.0.0.1
DEFAULT_STALE_DAYS = 7  # `fstore sources` warns past this: a long weekend plus holidays is fine

__all__ = [
    "COMBINES",
    "DEFAULT_STALE_DAYS",
    "DEVICES",
    "DOCS_PORT",
    "ENCODERS",
    "LATEST_SPLIT",
    "LOADER_SPLITS",
    "MISSING_MODES",
    "NORMALIZE_MODES",
    "OUTPUT_FORMATS",
    "SPLITS",
    "TASKS",
]
