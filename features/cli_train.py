"""CLI commands of the training side: train, runs, evaluate, embeddings, export-windows, snapshot.

torch is imported only inside the handlers, never at module import.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def register(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    """Add this module's subcommands to the ``fstore`` parser."""
