"""``fstore clean --orphans [--yes]``: drop relations left in the warehouse by deleted or renamed models.

Without ``--yes`` it is a dry run: it lists what it would drop and changes nothing. It refuses while a
model file cannot be read (a table whose model has a syntax error is not an orphan: fixing the file
must not find the table gone).
"""

from __future__ import annotations

import argparse

from features.cli.common import Command, arg, load, warehouse_path


def cmd_clean(args: argparse.Namespace) -> int:
    from features.errors import ConfigError, ValidationErrors
    from features.models.discovery import discover
    from features.models.orphans import drop_orphans, find_orphans
    from features.warehouse import connect

    if not args.orphans:
        raise ConfigError("say what to clean: `fstore clean --orphans` (a dry run; add --yes to drop)")
    project = load(args)
    found = discover(project)
    if found.problems:
        raise ValidationErrors(found.problems) if len(found.problems) > 1 else found.problems[0]
    db = warehouse_path(args, project)
    if not db.exists():
        print(f"no warehouse at {db} yet: nothing to clean")
        return 0
    with connect(db, read_only=not args.yes) as con:
        orphans = find_orphans(con, found)
        if args.yes and orphans:
            drop_orphans(con, orphans)
    if not orphans:
        print("no orphans: every relation fstore built belongs to a model")
        return 0
    verb = "dropped" if args.yes else "would drop"
    for orphan in orphans:
        print(f"{verb} {orphan.describe()}")
    if not args.yes:
        print(f"dry run: nothing changed; `fstore clean --orphans --yes` drops these {len(orphans)}")
    return 0


CLEAN = Command(
    "clean",
    "drop relations left by deleted or renamed models (a dry run unless --yes)",
    cmd_clean,
    args=(
        arg("--orphans", action="store_true", help="relations built by models that no longer exist"),
        arg("--yes", action="store_true", help="drop them (without it: list them and change nothing)"),
    ),
)

__all__ = ["CLEAN", "cmd_clean"]
