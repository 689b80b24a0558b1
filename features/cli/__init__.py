"""The ``fstore`` command line: parses arguments and calls library functions.

Keep it thin: every command is a small handler that loads the project and calls into the library,
where tests can reach the same behaviour directly. Heavy modules (torch, polars, sqlglot, pyarrow)
are imported inside the handlers that need them, so ``fstore --help`` and ``fstore query`` start fast.

    common.py     Command / arg (how a command is declared), project, warehouse and console helpers
    project.py    init
    query.py      query
    symbols.py    symbols list | diff | sync | restore
    build.py      build, ls, dag, compile, test, lineage
    clean.py      clean --orphans
    ingest.py     ingest, sources
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
import errno
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from features.cli import build, clean, datasets, docs, ingest, project, query, symbols, train
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
    clean.CLEAN,
    ingest.INGEST,
    ingest.SOURCES,
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


def _print_error(text: str) -> None:
    from rich.markup import escape

    err_console().print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)


_REASON = re.compile(r"no space left on device|file too large|disk quota exceeded", re.I)
_WRITING = re.compile(
    r'(?:write|writing|open|create|extend|truncate)\w*\s+(?:to\s+)?(?:file\s+)?\\?"([^"\\]+)\\?"', re.I
)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the errors it was raised from or while handling, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _disk_full_cause(exc: BaseException) -> BaseException | None:
    """The error in ``exc``'s chain that says the disk (or a file-size limit) is full, if any: the
    innermost OSError that names its file when there is one (an FstoreError wrapping it may not)."""
    from features.warehouse import is_disk_full

    full = [error for error in _chain(exc) if is_disk_full(error)]
    named = [error for error in full if _written_path(error) is not None]
    if named:
        return named[-1]
    return full[0] if full else None


_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.fstore-tmp.*$")


def _written_path(error: BaseException) -> str | None:
    """The file an OSError was writing: the destination of a copy or rename (``filename2``), else its
    file; a temp file of ``atomic_path`` is shown as the file it was to replace."""
    name = getattr(error, "filename2", None) or getattr(error, "filename", None)
    if not isinstance(name, str):
        return None
    path = Path(name)
    temp = _TEMP_NAME.match(path.name)
    return str(path.with_name(temp.group("name"))) if temp else name


def disk_full_message(exc: BaseException, cause: BaseException) -> str:
    """One message for a command stopped by a full disk: which file it was writing, what it was
    doing (an FstoreError's first line), and what to do."""
    path = _written_path(cause)
    if path is None:
        match = _WRITING.search(str(cause))
        path = match.group(1) if match else None
    what = f"while writing {path}" if path else "while writing"
    found = _REASON.search(str(cause))
    reason = getattr(cause, "strerror", None) or (found.group(0) if found else "no space left")
    lines = [f"the disk is full (or a file-size limit was reached) {what}: {reason}"]
    if isinstance(exc, FstoreError):
        model = f" (first: {exc.model})" if exc.model else ""
        lines.append("  " + str(exc).splitlines()[0].rstrip(":") + model)
    lines.append(
        "  hint: free some space (or raise the limit) and run the command again; what was being"
        " written was not kept, and everything written before is intact"
    )
    return "\n".join(lines)


_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def _not_writable_cause(exc: BaseException) -> OSError | None:
    """The error in ``exc``'s chain that says a file or folder cannot be written (a read-only mount,
    no permission), if it names the path."""
    for error in _chain(exc):
        if isinstance(error, OSError) and error.errno in _NOT_WRITABLE and _written_path(error):
            return error
    return None


def not_writable_message(cause: OSError) -> str:
    """One message for a command stopped by a path it may not write."""
    path = Path(_written_path(cause) or "")
    return (
        f"cannot write {path}: {cause.strerror}\n"
        f"  hint: make {path.parent} writable (or point the setting in config/project.toml elsewhere) and run"
        " the command again; what was being written was not kept"
    )


def _run(handler: Handler, args: argparse.Namespace) -> int:
    """Run one handler; an FstoreError becomes its message on stderr and its exit code, and any error
    caused by a full disk one message saying so (never a traceback)."""
    try:
        code = handler(args)
    except FstoreError as err:
        cause = _disk_full_cause(err)
        _print_error(disk_full_message(err, cause) if cause is not None else str(err))
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        cause = _disk_full_cause(exc)
        if cause is not None:
            _print_error(disk_full_message(exc, cause))
            return 1
        denied = _not_writable_cause(exc)
        if denied is None:
            raise
        _print_error(not_writable_message(denied))
        return 1
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


__all__ = ["COMMANDS", "GLOBAL_OPTIONS", "build_parser", "disk_full_message", "main", "not_writable_message"]
