"""``fstore symbols list|diff|sync|restore|recover``: the asset-ID mapping and its warehouse tables."""

from __future__ import annotations

import argparse

from features.choices import OUTPUT_FORMATS
from features.cli.common import Command, arg, err_console, load, print_rows, warehouse_path

_REGENERATED_WARNING = (
    "[bold yellow]warning:[/] the mapping was regenerated under a new major version: every asset ID "
    "may have changed, so embeddings trained on earlier versions no longer line up with these IDs."
)
_DISCARD_HELP = (
    "also when that loses versions only the other copy records (they are gone for good, and their IDs "
    "may be issued again)"
)


def _warn(text: str) -> None:
    err_console().print(text, highlight=False, markup=False)


def cmd_list(args: argparse.Namespace) -> int:
    from features.dimension import mapping_rows

    project = load(args)
    rows = mapping_rows(
        project,
        version=args.version,
        source=args.source,
        db=warehouse_path(args, project),
        warn=_warn,
    )
    print_rows(rows, args.format)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from features.dimension import preview_sync

    project = load(args)
    plan = preview_sync(project, regenerate=args.regenerate, db=warehouse_path(args, project), warn=_warn)
    print(plan.describe(dry_run=True))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from features.dimension import sync_symbols

    project = load(args)
    plan = sync_symbols(project, regenerate=args.regenerate, db=warehouse_path(args, project), console=print)
    print(plan.describe(dry_run=False))
    if plan.regenerate and plan.changed_anything:
        err_console().print(_REGENERATED_WARNING)
    return 0


def _discarded(repair: object, whose: str) -> None:
    lost = getattr(repair, "discarded", ())
    if lost:
        _warn(f"warning: discarded {whose} version(s) {', '.join(lost)} (--discard-newer)")


def cmd_restore(args: argparse.Namespace) -> int:
    from features.dimension import restore_warehouse

    project = load(args)
    repair = restore_warehouse(project, db=warehouse_path(args, project), discard_newer=args.discard_newer)
    _discarded(repair, "the warehouse's")
    print(
        f"rebuilt dim_symbol, dim_symbol_history and mapping_versions from {project.paths.mapping} "
        f"(version {repair.version})"
    )
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    from features.dimension import recover_file

    project = load(args)
    repair = recover_file(project, db=warehouse_path(args, project), discard_newer=args.discard_newer)
    if not repair.written:
        print(
            f"{project.paths.mapping} already agrees with the warehouse (version {repair.version}): nothing to do"
        )
        return 0
    _discarded(repair, "the file's")
    print(
        f"wrote {project.paths.mapping} from the warehouse's history (version {repair.version}); "
        "commit it: it is the durable record"
    )
    return 0


SYMBOLS = Command(
    "symbols",
    "the asset-ID mapping: list, diff, sync, restore, recover",
    subcommands=(
        Command(
            "list",
            "show the asset-ID mapping (current, or at --version)",
            cmd_list,
            args=(
                arg("--version", help="a mapping version such as 1.0"),
                arg("--format", choices=OUTPUT_FORMATS, default="table"),
                arg(
                    "--from",
                    dest="source",
                    choices=("file", "warehouse"),
                    help="read one copy alone, without comparing it with the other (to inspect a disagreement)",
                ),
            ),
        ),
        Command(
            "diff",
            "show what `symbols sync` would change, changing nothing",
            cmd_diff,
            args=(
                arg(
                    "--regenerate",
                    action="store_true",
                    help="preview a full re-sort under a new major version",
                ),
            ),
        ),
        Command(
            "sync",
            "append new symbols, retire removed ones (new minor version)",
            cmd_sync,
            args=(
                arg(
                    "--regenerate",
                    action="store_true",
                    help="re-sort every symbol from scratch under a new MAJOR version (invalidates trained"
                    " embeddings)",
                ),
            ),
        ),
        Command(
            "restore",
            "rebuild the warehouse's mapping tables from config/asset_id_mapping.json",
            cmd_restore,
            args=(arg("--discard-newer", action="store_true", help=_DISCARD_HELP),),
        ),
        Command(
            "recover",
            "write config/asset_id_mapping.json from the warehouse's history (after it was deleted or an "
            "older one checked out)",
            cmd_recover,
            args=(arg("--discard-newer", action="store_true", help=_DISCARD_HELP),),
        ),
    ),
)

__all__ = ["SYMBOLS", "cmd_diff", "cmd_list", "cmd_recover", "cmd_restore", "cmd_sync"]
