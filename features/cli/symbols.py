"""``fstore symbols list|diff|sync|restore``: the asset-ID mapping and its warehouse tables."""

from __future__ import annotations

import argparse

from features.choices import OUTPUT_FORMATS
from features.cli.common import Command, arg, err_console, load, print_rows, warehouse_path

_REGENERATED_WARNING = (
    "[bold yellow]warning:[/] the mapping was regenerated under a new major version: every asset ID "
    "may have changed, so embeddings trained on earlier versions no longer line up with these IDs."
)


def cmd_list(args: argparse.Namespace) -> int:
    from features.dimension import mapping_rows

    print_rows(mapping_rows(load(args), version=args.version), args.format)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from features.dimension import preview_sync

    plan = preview_sync(load(args), regenerate=args.regenerate)
    print(plan.describe(dry_run=True))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from features.dimension import sync_symbols

    project = load(args)
    plan = sync_symbols(project, regenerate=args.regenerate, db=warehouse_path(args, project))
    print(plan.describe(dry_run=False))
    if plan.regenerate and plan.changed_anything:
        err_console().print(_REGENERATED_WARNING)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from features.dimension import restore_warehouse

    project = load(args)
    version = restore_warehouse(project, db=warehouse_path(args, project))
    print(
        f"rebuilt dim_symbol, dim_symbol_history and mapping_versions from {project.paths.mapping} (version {version})"
    )
    return 0


SYMBOLS = Command(
    "symbols",
    "the asset-ID mapping: list, diff, sync",
    subcommands=(
        Command(
            "list",
            "show the asset-ID mapping (current, or at --version)",
            cmd_list,
            args=(
                arg("--version", help="a mapping version such as 1.0"),
                arg("--format", choices=OUTPUT_FORMATS, default="table"),
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
        ),
    ),
)

__all__ = ["SYMBOLS", "cmd_diff", "cmd_list", "cmd_restore", "cmd_sync"]
