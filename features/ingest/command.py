"""The ``fstore ingest`` command: argparse registration and handler (wired into the CLI by its owner).

    fstore ingest PATH... [--force] [--dry-run] [--build]

Thin, like every command: it parses arguments and calls :func:`features.ingest.copy.import_files`
(check exactly as the build will, then copy whole files into data/raw) and, with ``--build``,
:func:`features.build.run_build`. Errors are FstoreErrors that the CLI prints without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def cmd_ingest(args: argparse.Namespace) -> int:
    """Check price files as the build would and copy them into data/raw; optionally build."""
    from features.config import load_project
    from features.ingest.copy import import_files
    from features.ingest.files import rel

    project = load_project(args.project)
    dry_run = bool(getattr(args, "dry_run", False))
    targets, preview = import_files(project, args.paths, force=args.force, dry_run=dry_run)
    raw_dir = rel(project.path(project.paths.raw), project.root)
    verb = "checked" if dry_run else "copied"
    print(
        f"{verb} {len(targets)} file(s) for {raw_dir}; the next build will read {len(preview.files)} file(s):"
    )
    print(f"  {preview.rows:,} valid rows, {preview.symbols} symbol(s)")
    if preview.rejected:
        detail = ", ".join(f"{n:,} {reason}" for reason, n in sorted(preview.rejected.items()))
        print(f"  {preview.rejected_total:,} row(s) will go to raw_prices_rejected: {detail}")
    if preview.duplicates_dropped:
        print(f"  {preview.duplicates_dropped:,} identical duplicate row(s) will be dropped")
    if preview.adjusted_filled:
        print(f"  {preview.adjusted_filled:,} blank adjusted close(s) will be filled from their neighbours")
    for line in preview.warnings():
        print(line, file=sys.stderr)
    if dry_run:
        print("nothing was copied (--dry-run)")
        return 0
    if getattr(args, "build", False):
        from features.build import run_build

        db = Path(args.db).resolve() if getattr(args, "db", None) else None
        run_build(project, db=db)
        return 0
    print("run `fstore build` to refresh raw_prices and every model")
    return 0


def register(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    """Add ``fstore ingest`` to the ``fstore`` parser (same arguments as the other commands' register)."""
    p = sub.add_parser(
        "ingest", help="check price files (CSV/Parquet) exactly as a build will, then copy them into data/raw"
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="price files or folders of them")
    p.add_argument("--force", action="store_true", help="replace a different file of the same name (whole)")
    p.add_argument(
        "--dry-run", action="store_true", help="check only: print what the build would do, copy nothing"
    )
    p.add_argument("--build", action="store_true", help="run `fstore build` afterwards")
    add_common(p)
    p.set_defaults(handler=cmd_ingest)


__all__ = ["cmd_ingest", "register"]
