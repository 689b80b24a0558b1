"""The ``fstore`` command line: parses arguments and calls library functions.

Keep it thin: every command is a small ``_cmd_*`` function that loads the project and calls into
the library, where tests can reach the same behaviour directly. Heavy modules (torch, polars,
sqlglot) are imported inside the commands that need them so `fstore query` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from features.errors import FstoreError

Handler = Callable[[argparse.Namespace], int | None]


def _project(args: argparse.Namespace):
    from features.config import load_project

    return load_project(args.project)


def _warehouse_arg(args: argparse.Namespace, project) -> Path:
    return Path(args.db).resolve() if getattr(args, "db", None) else project.warehouse_path


def _console():
    from rich.console import Console

    return Console(highlight=False)


def _err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


# --------------------------------------------------------------------------- init


def _cmd_init(args: argparse.Namespace) -> int:
    from features.scaffold import init_project

    root = init_project(Path(args.dir), force=args.force)
    print(f"created fstore project in {root}")
    print(f"next: cd {args.dir} && fstore build")
    return 0


# --------------------------------------------------------------------------- query


def _cmd_query(args: argparse.Namespace) -> int:
    from features.query import format_result, run_query

    project = _project(args)
    sql = args.sql if args.sql != "-" else sys.stdin.read()
    result = run_query(_warehouse_arg(args, project), sql, write=args.write)
    out = format_result(result, args.format, max_rows=args.max_rows)
    if out is None:  # rich table printed directly
        return 0
    sys.stdout.write(out)
    return 0


# --------------------------------------------------------------------------- symbols


def _cmd_symbols_list(args: argparse.Namespace) -> int:
    from features.dimension import mapping_rows
    from features.query import format_result

    project = _project(args)
    result = mapping_rows(project, version=args.version)
    out = format_result(result, args.format, max_rows=0)
    if out is not None:
        sys.stdout.write(out)
    return 0


def _cmd_symbols_diff(args: argparse.Namespace) -> int:
    from features.dimension import preview_sync

    project = _project(args)
    plan = preview_sync(project, regenerate=args.regenerate)
    print(plan.describe(dry_run=True))
    return 0


def _cmd_symbols_sync(args: argparse.Namespace) -> int:
    from features.dimension import sync_symbols

    project = _project(args)
    plan = sync_symbols(project, regenerate=args.regenerate, db=_warehouse_arg(args, project))
    print(plan.describe(dry_run=False))
    if plan.regenerate and plan.changed_anything:
        _err_console().print(
            "[bold yellow]warning:[/] the mapping was regenerated under a new major version: every asset ID "
            "may have changed, so embeddings trained on earlier versions no longer line up with these IDs."
        )
    return 0


def _cmd_symbols_restore(args: argparse.Namespace) -> int:
    from features.dimension import restore_warehouse

    project = _project(args)
    version = restore_warehouse(project, db=_warehouse_arg(args, project))
    print(
        f"rebuilt dim_symbol, dim_symbol_history and mapping_versions from {project.paths.mapping} (version {version})"
    )
    return 0


# --------------------------------------------------------------------------- parser


def _add_common(p: argparse.ArgumentParser, *, db: bool = True) -> None:
    p.add_argument(
        "--project", metavar="DIR", help="project folder (default: walk up from the current directory)"
    )
    if db:
        p.add_argument(
            "--db", metavar="FILE", help="warehouse file (default: paths.warehouse in config/project.toml)"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fstore",
        description="fstore: a dbt-style SQL + Python feature store for training one network on many assets.",
    )
    parser.add_argument("--version", action="version", version="fstore 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("init", help="scaffold a new project (config, symbols, an example model)")
    p.add_argument("dir", help="folder to create (may exist if empty)")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")
    p.set_defaults(handler=_cmd_init)

    p = sub.add_parser("query", help="run SQL on the warehouse and print the result")
    p.add_argument("sql", help="a SQL statement, or - to read it from stdin")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--write", action="store_true", help="allow statements that change the warehouse")
    p.add_argument("--max-rows", type=int, default=200, help="rows shown in table format (0 = all)")
    _add_common(p)
    p.set_defaults(handler=_cmd_query)

    sp = sub.add_parser("symbols", help="the asset-ID mapping: list, diff, sync")
    ssub = sp.add_subparsers(dest="symbols_command", metavar="SUBCOMMAND")
    sp.set_defaults(handler=lambda a: _missing_sub(sp))

    p = ssub.add_parser("list", help="show the asset-ID mapping (current, or at --version)")
    p.add_argument("--version", help="a mapping version such as 1.0")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _add_common(p)
    p.set_defaults(handler=_cmd_symbols_list)

    p = ssub.add_parser("diff", help="show what `symbols sync` would change, changing nothing")
    p.add_argument(
        "--regenerate", action="store_true", help="preview a full re-sort under a new major version"
    )
    _add_common(p)
    p.set_defaults(handler=_cmd_symbols_diff)

    p = ssub.add_parser("sync", help="append new symbols, retire removed ones (new minor version)")
    p.add_argument(
        "--regenerate",
        action="store_true",
        help="re-sort every symbol from scratch under a new MAJOR version (invalidates trained embeddings)",
    )
    _add_common(p)
    p.set_defaults(handler=_cmd_symbols_sync)

    p = ssub.add_parser(
        "restore", help="rebuild the warehouse's mapping tables from config/asset_id_mapping.json"
    )
    _add_common(p)
    p.set_defaults(handler=_cmd_symbols_restore)

    for register in _EXTRA_COMMANDS:
        register(sub, _add_common)
    return parser


def _missing_sub(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# Other modules add their commands here (kept in one list so `fstore --help` shows them all).
_EXTRA_COMMANDS: list[Callable[..., None]] = []


def _register_extra() -> None:
    from features import cli_build, cli_train

    _EXTRA_COMMANDS[:] = [cli_build.register, cli_train.register]


def main(argv: Sequence[str] | None = None) -> int:
    _register_extra()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        code = handler(args)
    except FstoreError as err:
        from rich.markup import escape

        _err_console().print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(code or 0)


__all__ = ["build_parser", "main"]
