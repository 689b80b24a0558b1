"""Training data out of the warehouse: ``fstore export-windows`` and ``fstore snapshot create|list``.

torch is imported only inside the handlers, never at module import.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from features.choices import MISSING_MODES, NORMALIZE_MODES, SPLITS
from features.cli.common import Command, arg, console, load, warehouse_path

SNAPSHOT_LIST_FORMATS = ("table", "csv")
_SNAPSHOT_COLUMNS = ("name", "created_at", "fingerprint", "rows", "mapping_version", "path")


def cmd_export_windows(args: argparse.Namespace) -> int:
    from training.export import check_out_path

    project = load(args)
    db = warehouse_path(args, project)
    check_out_path(args.out, project, db=db, force=args.force)  # before torch or any window is read
    from training.export import export_windows
    from training.loader import WindowDataset, require_windows
    from training.progress import progress_for

    ds = WindowDataset.from_warehouse(
        db,
        args.split,
        lookback=args.lookback,
        stride=args.stride,
        normalize=args.normalize,
        missing=args.missing,
        label=args.label,
        snapshot=args.snapshot,
        project=project,
        progress=None,  # a bar on a terminal
    )
    require_windows({args.split: ds}, project.splits)
    with progress_for("exporting", len(ds)) as task:
        out = export_windows(ds, args.out, task=task)
    print(
        f"wrote {len(ds)} {args.split} windows ({ds.lookback} x {ds.num_features}) to {out}"
        f" — mapping {ds.mapping_version}, fingerprint {ds.fingerprint}"
    )
    if ds.skipped_assets:
        skipped = ", ".join(f"{s} ({n} rows)" for s, n in sorted(ds.skipped_assets.items()))
        print(f"skipped (fewer than lookback + horizon rows after warm-up): {skipped}")
    if ds.absent_features:
        absent = ", ".join(f"{s} ({', '.join(f)})" for s, f in sorted(ds.absent_features.items()))
        print(f"features some assets never have, filled with the training mean: {absent}")
    return 0


def cmd_snapshot_create(args: argparse.Namespace) -> int:
    from features.warehouse import connect
    from training.snapshots import create_snapshot

    project = load(args)
    with connect(warehouse_path(args, project), wait_s=5.0) as con:
        snap = create_snapshot(con, args.name, project.path(project.paths.snapshots))
    print(
        f"snapshot {snap.name}: {snap.rows} rows, mapping {snap.mapping_version},"
        f" fingerprint {snap.fingerprint} -> {snap.path}"
    )
    return 0


def cmd_snapshot_list(args: argparse.Namespace) -> int:
    from features.warehouse import connect
    from training.snapshots import list_snapshots

    project = load(args)
    with connect(warehouse_path(args, project), read_only=True) as con:
        snaps = list_snapshots(con, project.path(project.paths.snapshots))
    rows = [
        (s.name, str(s.created_at), s.fingerprint, str(s.rows), str(s.mapping_version), s.path) for s in snaps
    ]
    if args.format == "csv":
        for row in [_SNAPSHOT_COLUMNS, *rows]:
            print(",".join(row))
        return 0
    from rich.table import Table

    table = Table(*_SNAPSHOT_COLUMNS)
    for row in rows:
        table.add_row(*row)
    console().print(table)
    return 0


EXPORT_WINDOWS = Command(
    "export-windows",
    "write one split's (X, asset_ids, y) windows to a .npz file",
    cmd_export_windows,
    args=(
        arg("--split", choices=SPLITS, default="train"),
        arg("--lookback", type=int, help="rows per window (default: [loader] lookback)"),
        arg("--stride", type=int, help="keep every N-th window (default: [loader] stride)"),
        arg("--normalize", choices=NORMALIZE_MODES, help="default: [loader] normalize"),
        arg("--missing", choices=MISSING_MODES, help="default: [loader] missing"),
        arg("--label", help="label column (default: [loader] label)"),
        arg("--snapshot", metavar="NAME", help="read a frozen dataset snapshot instead of training_set"),
        arg("--out", type=Path, required=True, help="the .npz file to write (new, or a previous export)"),
        arg(
            "--force",
            action="store_true",
            help="replace an existing file that is not a previous export (never the warehouse, the mapping,"
            " config or price files)",
        ),
    ),
)
SNAPSHOT = Command(
    "snapshot",
    "immutable, named copies of training_set: create, list",
    subcommands=(
        Command(
            "create",
            "freeze the current training_set as snapshot NAME (Parquet + a row)",
            cmd_snapshot_create,
            args=(arg("name", help="an identifier, used once (snapshots are immutable)"),),
        ),
        Command(
            "list",
            "show the dataset snapshots",
            cmd_snapshot_list,
            args=(arg("--format", choices=SNAPSHOT_LIST_FORMATS, default="table"),),
        ),
    ),
)

__all__ = [
    "EXPORT_WINDOWS",
    "SNAPSHOT",
    "SNAPSHOT_LIST_FORMATS",
    "cmd_export_windows",
    "cmd_snapshot_create",
    "cmd_snapshot_list",
]
