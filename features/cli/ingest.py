"""``fstore ingest PATH…``: check price files (CSV/Parquet) and copy them into ``data/raw``."""

from __future__ import annotations

import argparse

from features.cli.build import cmd_build
from features.cli.common import Command, arg, load


def cmd_ingest(args: argparse.Namespace) -> int:
    """Validate and copy price files into data/raw (the build ingests them); optionally build."""
    from features.ingest import import_files

    project = load(args)
    copied, preview = import_files(project, args.paths, force=args.force)
    raw_dir = project.path(project.paths.raw)
    print(
        f"copied {len(copied)} file(s) to {raw_dir}: {preview.rows:,} valid rows, {preview.symbols} symbol(s)"
    )
    if preview.rejected:
        detail = ", ".join(f"{n:,} {reason}" for reason, n in preview.rejected.items())
        print(f"  {preview.rejected_total:,} row(s) will go to raw_prices_rejected: {detail}")
    if args.build:
        args.select, args.full_refresh, args.quiet, args.no_tests = None, False, False, False
        return cmd_build(args)
    print("run `fstore build` to refresh raw_prices and every model")
    return 0


INGEST = Command(
    "ingest",
    "check price files (CSV/Parquet) and copy them into data/raw",
    cmd_ingest,
    args=(
        arg("paths", nargs="+", metavar="PATH", help="price files or folders of them"),
        arg("--force", action="store_true", help="replace a different file of the same name"),
        arg("--build", action="store_true", help="run `fstore build` afterwards"),
    ),
)

__all__ = ["INGEST", "cmd_ingest"]
