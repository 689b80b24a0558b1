"""The ``fstore`` command line: parses arguments and calls library functions.

Keep it thin: every command is a small handler that loads the project and calls into the library,
where tests can reach the same behaviour directly. Heavy modules (torch, polars, sqlglot, pyarrow)
are imported inside the handlers that need them, so ``fstore --help`` and ``fstore query`` start fast.

    common.py     Command / arg (how a command is declared), project, warehouse and console helpers
    project.py    init
    query.py      query
    symbols.py    symbols list | diff | sync | restore
    build.py      build, ls, dag, compile, test, lineage
    ingest.py     ingest
    datasets.py   export-windows, snapshot create | list
    train.py      train, runs, evaluate, predict, embeddings
    docs.py       docs generate | serve

``--project DIR`` and ``--db FILE`` (:data:`GLOBAL_OPTIONS`) may come before the command as well as
after it, as in dbt: ``fstore --project p build`` is ``fstore build --project p``.

A new command is a handler and a :class:`~features.cli.common.Command` in one of those modules (or
a new one) plus one line in :data:`COMMANDS`, the table :func:`build_parser` reads, in the order
``fstore --help`` lists them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from features.cli import build, datasets, docs, ingest, project, query, symbols, train
from features.cli.common import Command, Handler, add_command, err_console
from features.errors import FstoreError

COMMANDS: tuple[Command, ...] = (
    project.INIT,
    query.QUERY,
    symbols.SYMBOLS,
    build.BUILD,
    build.LS,
    build.DAG,
    build.COMPILE,
    build.TEST,
    build.LINEAGE,
    ingest.INGEST,
    datasets.EXPORT_WINDOWS,
    datasets.SNAPSHOT,
    train.TRAIN,
    train.RUNS,
    train.EVALUATE,
    train.PREDICT,
    train.EMBEDDINGS,
    docs.DOCS,
)


# options a command takes after its name that may also come before it: (flag, metavar, help)
GLOBAL_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--project", "DIR", "project folder, for any command (default: walk up from the current directory)"),
    ("--db", "FILE", "warehouse file, for any command (default: paths.warehouse in config/project.toml)"),
)


def _global_dest(flag: str) -> str:
    """Where the parser keeps a global option given before the command (the command's own is kept apart:
    a subparser would overwrite a shared one with its default)."""
    return "global_" + flag.lstrip("-")


def build_parser() -> argparse.ArgumentParser:
    """The ``fstore`` parser with every command of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="fstore",
        description="fstore: a dbt-style SQL + Python feature store for training one network on many assets.",
    )
    parser.add_argument("--version", action="version", version="fstore 0.1.0")
    for flag, metavar, text in GLOBAL_OPTIONS:
        parser.add_argument(flag, dest=_global_dest(flag), metavar=metavar, help=text)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        add_command(sub, command)
    return parser


def _run(handler: Handler, args: argparse.Namespace) -> int:
    """Run one handler; an FstoreError becomes its message on stderr and its exit code."""
    try:
        code = handler(args)
    except FstoreError as err:
        from rich.markup import escape

        err_console().print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return int(code or 0)


def _apply_global_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Give the command each global option written before it, unless it was also written after it
    (the later one wins); one the command does not take is a usage error, as it would be after it."""
    for flag, _metavar, _help in GLOBAL_OPTIONS:
        value = getattr(args, _global_dest(flag))
        name = flag.lstrip("-")
        if value is None or args.command is None or getattr(args, f"{args.command}_command", "") is None:
            continue  # no option; or no command, or a group without its subcommand: help is printed
        if not hasattr(args, name):
            parser.error(f"`fstore {args.command}` does not take {flag}")
        if getattr(args, name) is None:
            setattr(args, name, value)


def main(argv: Sequence[str] | None = None) -> int:
    """``fstore …``: parse ``argv`` (default: the command line), run the command, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _apply_global_options(parser, args)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return _run(handler, args)


__all__ = ["COMMANDS", "GLOBAL_OPTIONS", "build_parser", "main"]
