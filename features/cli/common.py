"""What every ``fstore`` command shares: how a command is declared, and the project/warehouse/console
helpers its handler calls.

A command is a :class:`Command` (name, help, handler, its arguments made by :func:`arg`, subcommands)
declared next to its handler in the group module (``features/cli/symbols.py`` …); ``features.cli.COMMANDS`` lists
them all, and ``build_parser`` turns that table into argparse parsers. Nothing here imports more than
the standard library: heavy modules load inside the handlers.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from features.config import Project

Handler = Callable[[argparse.Namespace], int | None]


# --------------------------------------------------------------------------- declaring commands


@dataclass(frozen=True)
class Arg:
    """One ``add_argument`` call: its flags (or positional name) and keyword arguments."""

    flags: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


def arg(*flags: str, **options: Any) -> Arg:
    """An argument of a command, written as for ``ArgumentParser.add_argument``."""
    return Arg(flags, options)


@dataclass(frozen=True)
class Command:
    """One ``fstore`` command (or a group of subcommands, when ``subcommands`` is set).

    ``project`` adds ``--project DIR`` and ``db`` adds ``--db FILE`` after the command's own arguments.
    A group runs no handler of its own: without a subcommand it prints its help and exits 2.
    """

    name: str
    help: str
    handler: Handler | None = None
    args: tuple[Arg, ...] = ()
    project: bool = True
    db: bool = True
    subcommands: tuple[Command, ...] = ()


def add_command(sub: argparse._SubParsersAction, command: Command) -> argparse.ArgumentParser:
    """Add ``command`` (and its subcommands) to the subparsers ``sub``."""
    parser = sub.add_parser(command.name, help=command.help)
    if command.subcommands:
        inner = parser.add_subparsers(dest=f"{command.name}_command", metavar="SUBCOMMAND")
        parser.set_defaults(handler=lambda _args: _print_help(parser))
        for subcommand in command.subcommands:
            add_command(inner, subcommand)
        return parser
    for a in command.args:
        parser.add_argument(*a.flags, **a.options)
    add_location_args(parser, project=command.project, db=command.db)
    parser.set_defaults(handler=command.handler)
    return parser


def add_location_args(parser: argparse.ArgumentParser, *, project: bool = True, db: bool = True) -> None:
    """``--project DIR`` and ``--db FILE``: where the project and its warehouse are."""
    if project:
        parser.add_argument(
            "--project", metavar="DIR", help="project folder (default: walk up from the current directory)"
        )
    if db:
        parser.add_argument(
            "--db", metavar="FILE", help="warehouse file (default: paths.warehouse in config/project.toml)"
        )


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


# --------------------------------------------------------------------------- helpers for handlers


def load(args: argparse.Namespace) -> Project:
    """The project named by ``--project`` (or found by walking up from the current directory)."""
    from features.config import load_project

    return load_project(args.project)


def warehouse_path(args: argparse.Namespace, project: Project) -> Path:
    """``--db`` when given, else the project's ``paths.warehouse``."""
    return Path(args.db).resolve() if getattr(args, "db", None) else project.warehouse_path


def console() -> Console:
    """A rich console on stdout (no highlighting: values are printed as they are)."""
    from rich.console import Console

    return Console(highlight=False)


def err_console() -> Console:
    """A rich console on stderr, for warnings and errors."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_rows(result: Any, fmt: str, *, max_rows: int = 0, end: str = "") -> None:
    """Print a result set (``columns`` and ``rows``) as a table fitting the terminal, CSV or JSON
    (:mod:`features.output`: short numbers in tables, full precision in CSV and JSON)."""
    from features.output import format_result

    print(format_result(result, fmt, max_rows=max_rows), end=end)


__all__ = [
    "Arg",
    "Command",
    "Handler",
    "add_command",
    "add_location_args",
    "arg",
    "console",
    "err_console",
    "load",
    "print_rows",
    "warehouse_path",
]
