"""``fstore init DIR``: scaffold a new project (config, symbols, an example model)."""

from __future__ import annotations

import argparse
from pathlib import Path

from features.cli.common import Command, arg


def cmd_init(args: argparse.Namespace) -> int:
    from features.scaffold import init_project

    root = init_project(Path(args.dir), force=args.force)
    print(f"created fstore project in {root}")
    print(f"next: cd {args.dir} && fstore build")
    return 0


INIT = Command(
    "init",
    "scaffold a new project (config, symbols, an example model)",
    cmd_init,
    args=(
        arg("dir", help="folder to create (may exist if empty)"),
        arg("--force", action="store_true", help="write into a non-empty folder"),
    ),
    project=False,
    db=False,
)

__all__ = ["INIT", "cmd_init"]
