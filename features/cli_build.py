"""CLI commands of the model engine and ingestion: build, ls, dag, compile, test, lineage, ingest."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def register(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    """Add this module's subcommands to the ``fstore`` parser."""
