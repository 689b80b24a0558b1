"""CLI commands of the training side: train, runs, evaluate, embeddings, export-windows, snapshot.

torch is imported only inside the handlers, never at module import.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def register(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    """Add this module's subcommands to the ``fstore`` parser."""
    _register_loader(sub, add_common)


# --------------------------------------------------------------------------- loader: export-windows, snapshot


def _cmd_export_windows(args: argparse.Namespace) -> int:
    from features.cli import _project, _warehouse_arg
    from training.export import export_windows
    from training.loader import WindowDataset

    project = _project(args)
    ds = WindowDataset.from_warehouse(
        _warehouse_arg(args, project),
        args.split,
        lookback=args.lookback,
        stride=args.stride,
        normalize=args.normalize,
        missing=args.missing,
        label=args.label,
        snapshot=args.snapshot,
        project=project,
    )
    out = export_windows(ds, args.out)
    print(
        f"wrote {len(ds)} {args.split} windows ({ds.lookback} x {ds.num_features}) to {out}"
        f" — mapping {ds.mapping_version}, fingerprint {ds.fingerprint}"
    )
    if ds.skipped_assets:
        skipped = ", ".join(f"{s} ({n} rows)" for s, n in sorted(ds.skipped_assets.items()))
        print(f"skipped (fewer than lookback + horizon rows after warm-up): {skipped}")
    return 0


def _cmd_snapshot_create(args: argparse.Namespace) -> int:
    from features.cli import _project, _warehouse_arg
    from features.warehouse import connect
    from training.snapshots import create_snapshot

    project = _project(args)
    con = connect(_warehouse_arg(args, project), wait_s=5.0)
    try:
        snap = create_snapshot(con, args.name, project.path(project.paths.snapshots))
    finally:
        con.close()
    print(
        f"snapshot {snap.name}: {snap.rows} rows, mapping {snap.mapping_version},"
        f" fingerprint {snap.fingerprint} -> {snap.path}"
    )
    return 0


def _cmd_snapshot_list(args: argparse.Namespace) -> int:
    from features.cli import _console, _project, _warehouse_arg
    from features.warehouse import connect
    from training.snapshots import list_snapshots

    project = _project(args)
    con = connect(_warehouse_arg(args, project), read_only=True)
    try:
        snaps = list_snapshots(con)
    finally:
        con.close()
    if args.format == "csv":
        print("name,created_at,fingerprint,rows,mapping_version,path")
        for s in snaps:
            print(f"{s.name},{s.created_at},{s.fingerprint},{s.rows},{s.mapping_version},{s.path}")
        return 0
    from rich.table import Table

    table = Table("name", "created_at", "fingerprint", "rows", "mapping_version", "path")
    for s in snaps:
        table.add_row(s.name, str(s.created_at), s.fingerprint, str(s.rows), str(s.mapping_version), s.path)
    _console().print(table)
    return 0


def _register_loader(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    p = sub.add_parser("export-windows", help="write one split's (X, asset_ids, y) windows to a .npz file")
    p.add_argument("--split", choices=["train", "valid", "test"], default="train")
    p.add_argument("--lookback", type=int, help="rows per window (default: [loader] lookback)")
    p.add_argument("--stride", type=int, help="keep every N-th window (default: [loader] stride)")
    p.add_argument("--normalize", choices=["global", "per_asset", "none"], help="default: [loader] normalize")
    p.add_argument("--missing", choices=["drop", "fill"], help="default: [loader] missing")
    p.add_argument("--label", help="label column (default: [loader] label)")
    p.add_argument(
        "--snapshot", metavar="NAME", help="read a frozen dataset snapshot instead of training_set"
    )
    p.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    add_common(p)
    p.set_defaults(handler=_cmd_export_windows)

    sp = sub.add_parser("snapshot", help="immutable, named copies of training_set: create, list")
    ssub = sp.add_subparsers(dest="snapshot_command", metavar="SUBCOMMAND")
    sp.set_defaults(handler=lambda a: (sp.print_help(), 2)[1])

    p = ssub.add_parser("create", help="freeze the current training_set as snapshot NAME (Parquet + a row)")
    p.add_argument("name", help="an identifier, used once (snapshots are immutable)")
    add_common(p)
    p.set_defaults(handler=_cmd_snapshot_create)

    p = ssub.add_parser("list", help="show the dataset snapshots")
    p.add_argument("--format", choices=["table", "csv"], default="table")
    add_common(p)
    p.set_defaults(handler=_cmd_snapshot_list)
