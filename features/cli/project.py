"""``fstore init DIR``: a new project, trainable at once (``--template minimal``: nearly empty)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from features.cli.common import Command, arg

TEMPLATE_CHOICES = ("default", "minimal")  # features.scaffold.TEMPLATES, kept here so --help stays light


def cmd_init(args: argparse.Namespace) -> int:
    from features.scaffold import scaffold, write_scaffold

    content = scaffold(args.template)
    root = write_scaffold(Path(args.dir), content, force=args.force)
    python = f", {content.python_files} Python model file(s)" if content.python_files else ""
    print(f"created fstore project in {root} ({args.template}: {content.sql_models} SQL model(s){python})")
    print("next:")
    print(f"  cd {shlex.quote(args.dir)}")
    if args.template == "minimal":
        print(
            "  fstore build          # prices (no files in data/raw: the synthetic market), then the models"
        )
    else:
        print("  fstore build          # prices (no files in data/raw: the synthetic market) → training_set")
        print("  fstore train --epochs 1 --max-train-samples 2000")
    return 0


INIT = Command(
    "init",
    "create a project: the default models, ready to build and train (or --template minimal)",
    cmd_init,
    args=(
        arg("dir", help="folder to create (may exist if empty)"),
        arg(
            "--template",
            choices=TEMPLATE_CHOICES,
            default="default",
            help="default: the staging, feature, label and training_set models (SQL and Python), copied "
            "into the project; minimal: config, the universe and one example model",
        ),
        arg(
            "--force",
            action="store_true",
            help="write into a non-empty folder (a file already there is never overwritten)",
        ),
    ),
    project=False,
    db=False,
)

__all__ = ["INIT", "TEMPLATE_CHOICES", "cmd_init"]
