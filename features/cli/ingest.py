"""``fstore ingest PATH…`` (check price files exactly as a build will, copy them into ``data/raw``) and
``fstore sources`` (what the prices cover per symbol, with WARN lines like dbt's source freshness)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from features.choices import DEFAULT_STALE_DAYS, OUTPUT_FORMATS
from features.cli.common import Command, arg, load, warehouse_path
from features.errors import ConfigError


def cmd_ingest(args: argparse.Namespace) -> int:
    """Check price files as the build would and copy them into data/raw; optionally build."""
    from features.ingest.copy import import_files
    from features.ingest.files import rel

    project = load(args)
    targets, preview = import_files(project, args.paths, force=args.force, dry_run=args.dry_run)
    raw_dir = rel(project.path(project.paths.raw), project.root)
    verb = "checked" if args.dry_run else "copied"
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
    if args.dry_run:
        print("nothing was copied (--dry-run)")
        return 0
    if args.build:
        from features.build import run_build

        run_build(project, db=warehouse_path(args, project))
        return 0
    print("run `fstore build` to refresh raw_prices and every model")
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    """The coverage report, then WARN lines (exit 1 on warnings with --strict)."""
    from features.sources import coverage, render, warnings
    from features.warehouse import connect

    project = load(args)
    if args.stale_days < 0:
        raise ConfigError(f"--stale-days must be >= 0, got {args.stale_days}")
    as_of = None
    if args.as_of:
        try:
            as_of = dt.date.fromisoformat(args.as_of)
        except ValueError:
            raise ConfigError(f"--as-of must be a date like 2024-01-31, got {args.as_of!r}") from None
    con = connect(warehouse_path(args, project), read_only=True)
    try:
        entries = coverage(con, project, as_of=as_of)
    finally:
        con.close()
    text = render(entries, args.format, args.stale_days)
    if text is not None:
        sys.stdout.write(text)
    found = warnings(entries, args.stale_days)
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(f"{len(entries)} symbol(s): all have prices within {args.stale_days} days", file=sys.stderr)
    return 1 if found and args.strict else 0


INGEST = Command(
    "ingest",
    "check price files (CSV/Parquet) exactly as a build will, then copy them into data/raw",
    cmd_ingest,
    args=(
        arg("paths", nargs="+", metavar="PATH", help="price files or folders of them"),
        arg("--force", action="store_true", help="replace a different file of the same name (whole)"),
        arg("--dry-run", action="store_true", help="check only: print what the build would do, copy nothing"),
        arg("--build", action="store_true", help="run `fstore build` afterwards"),
    ),
)

SOURCES = Command(
    "sources",
    "price coverage per symbol: dates, rows, rejected rows, staleness (like dbt source freshness)",
    cmd_sources,
    args=(
        arg("--format", choices=OUTPUT_FORMATS, default="table"),
        arg(
            "--stale-days",
            type=int,
            default=DEFAULT_STALE_DAYS,
            metavar="N",
            help=f"warn when a symbol is more than N days behind its calendar group (default {DEFAULT_STALE_DAYS})",
        ),
        arg("--as-of", metavar="DATE", help="measure staleness against this date instead of the newest data"),
        arg("--strict", action="store_true", help="exit 1 when there is any warning (for CI)"),
    ),
)

__all__ = ["INGEST", "SOURCES", "cmd_ingest", "cmd_sources"]
