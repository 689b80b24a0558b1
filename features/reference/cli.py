"""``docs/cli.md``: every ``fstore`` command and subcommand, read from the parser ``fstore`` itself uses.

It walks :func:`features.cli.build_parser` (so whatever ``features.cli.COMMANDS`` holds, including a
command added tomorrow, is on the page): for each parser its usage line, its help, and each argument's
flags, value (choices, type, how many), default and help. The usage line is composed here rather than
taken from argparse's ``format_usage``, whose wrapping follows the terminal width; a test checks that
the two say the same words.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USAGE_WIDTH = 100  # the usage block wraps here, like `--help` in a 100-column terminal

INTRO = """\
Every `fstore` command, generated from the parser (`features.cli.build_parser()`): what `fstore
COMMAND --help` prints, as tables. `python -m features` is the same command. Every command also takes
`-h` / `--help`. `--project DIR` and `--db FILE` may come before the command or after it (`fstore
--project p build` = `fstore build --project p`); written twice, the one after the command wins.
Errors print one message and exit non-zero (2 for a usage error).
"""

_TYPE_NAMES = {int: "integer", float: "number", Path: "path", str: "text"}


@dataclass(frozen=True)
class Page:
    """One parser on the page: its full command (``fstore symbols sync``), help and parser."""

    command: str
    help: str
    parser: argparse.ArgumentParser
    depth: int


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def walk(parser: argparse.ArgumentParser, help_text: str = "", depth: int = 0) -> Iterator[Page]:
    """``parser`` and every subcommand parser below it, depth first in the order ``--help`` lists them."""
    yield Page(parser.prog, help_text or parser.description or "", parser, depth)
    sub = _subparsers(parser)
    if sub is None:
        return
    helps = {choice.dest: choice.help or "" for choice in sub._choices_actions}
    for name, child in sub.choices.items():
        yield from walk(child, helps.get(name, ""), depth + 1)


# --------------------------------------------------------------------------- usage


def metavar(action: argparse.Action) -> str:
    """The placeholder argparse prints for ``action``'s value."""
    if action.metavar is not None:
        return str(action.metavar)
    if action.choices is not None:
        return "{" + ",".join(str(c) for c in action.choices) + "}"
    return action.dest if not action.option_strings else action.dest.upper()


def value_syntax(action: argparse.Action) -> str:
    """What follows the flag (or stands alone, for a positional) in a usage line."""
    name = metavar(action)
    nargs = action.nargs
    if nargs is None:
        return name
    if nargs == argparse.OPTIONAL:
        return f"[{name}]"
    if nargs == argparse.ZERO_OR_MORE:
        return f"[{name} ...]"
    if nargs == argparse.ONE_OR_MORE:
        return f"{name} [{name} ...]"
    if nargs == argparse.PARSER:
        return f"{name} ..."
    if nargs == argparse.REMAINDER:
        return "..."
    return " ".join([name] * int(nargs)) if nargs else ""


def usage_parts(parser: argparse.ArgumentParser) -> list[str]:
    """The usage line's parts: options first (bracketed unless required), then positionals."""
    options, positionals = [], []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            value = value_syntax(action)
            part = action.option_strings[0] + (f" {value}" if value else "")
            options.append(part if action.required else f"[{part}]")
        else:
            positionals.append(value_syntax(action))
    return [*options, *positionals]


def usage(parser: argparse.ArgumentParser, width: int = USAGE_WIDTH) -> str:
    """``usage: PROG …`` wrapped at ``width``, continuation lines aligned after the program name."""
    head = f"usage: {parser.prog}"
    lines, line = [], head
    for part in usage_parts(parser):
        if len(line) + 1 + len(part) > width and line.strip() != head.strip():
            lines.append(line)
            line = " " * len(head)
        line += " " + part
    return "\n".join([*lines, line])


# --------------------------------------------------------------------------- argument tables


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (GitHub ends a cell at every ``|``, even in code)."""
    return " ".join(text.split()).replace("|", "\\|")


def help_text(action: argparse.Action, prog: str) -> str:
    """``action.help`` with argparse's ``%(default)s``-style fields filled in."""
    text = action.help or ""
    if "%(" not in text:
        return text
    params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
    params["prog"] = prog
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(c) for c in params["choices"])
    return text % params


def value_text(action: argparse.Action) -> str:
    """The value column: a flag, the choices, or the placeholder with its type and count."""
    if action.nargs == 0:
        return "flag"
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        text = "one of " + ", ".join(f"`{c}`" for c in action.choices)
    else:
        kind = _TYPE_NAMES.get(action.type, getattr(action.type, "__name__", "")) if action.type else ""
        text = f"`{metavar(action)}`" + (f" ({kind})" if kind and kind != "text" else "")
    counts = {
        argparse.ONE_OR_MORE: "one or more",
        argparse.ZERO_OR_MORE: "any number",
        argparse.OPTIONAL: "optional",
    }
    notes = [counts[action.nargs]] if action.nargs in counts else []
    if isinstance(action, argparse._ExtendAction | argparse._AppendAction):
        notes.append("repeatable")
    if action.required or (not action.option_strings and action.nargs not in ("?", "*")):
        notes.append("required")
    return text + (f"; {', '.join(notes)}" if notes else "")


def default_text(action: argparse.Action) -> str:
    """The default column: the value argparse fills in when the argument is left out ("" for none)."""
    default = action.default
    if default is None or default is argparse.SUPPRESS or action.nargs == 0:
        return ""
    return f"`{default}`"


def argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    """The Markdown table of ``parser``'s arguments (``-h`` and subcommand placeholders left out)."""
    rows = []
    for action in parser._actions:
        if (
            isinstance(action, argparse._HelpAction | argparse._SubParsersAction)
            or action.help == argparse.SUPPRESS
        ):
            continue
        name = ", ".join(f"`{flag}`" for flag in action.option_strings) or f"`{metavar(action)}`"
        cells = (name, value_text(action), default_text(action), help_text(action, parser.prog))
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if not rows:
        return []
    return ["| argument | value | default | meaning |", "|---|---|---|---|", *rows, ""]


# --------------------------------------------------------------------------- the page


def _anchor(command: str) -> str:
    """GitHub's anchor for a ``## `fstore x y` `` heading."""
    return command.replace(" ", "-")


def _subcommand_rows(page: Page, pages: list[Page]) -> list[str]:
    children = [p for p in pages if p.depth == page.depth + 1 and p.command.rsplit(" ", 1)[0] == page.command]
    if not children:
        return []
    rows = [f"| [`{c.command}`](#{_anchor(c.command)}) | {_cell(c.help)} |" for c in children]
    return ["| command | what it does |", "|---|---|", *rows, ""]


def _section(page: Page, pages: list[Page]) -> list[str]:
    hashes = "#" * max(2, page.depth + 1)  # `fstore` and its commands ##, subcommands ###
    return [
        f"{hashes} `{page.command}`",
        "",
        *([page.help, ""] if page.help else []),
        "```text",
        usage(page.parser),
        "```",
        "",
        *argument_rows(page.parser),
        *_subcommand_rows(page, pages),
    ]


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The text of ``docs/cli.md`` for ``parser`` (default: ``fstore``'s own)."""
    if parser is None:
        from features.cli import build_parser

        parser = build_parser()
    pages = list(walk(parser))
    out = [
        "# Command reference: `fstore`",
        "",
        "<!-- generated by `python -m features.reference` from features.cli.build_parser(); do not edit by hand -->",
        "",
        INTRO,
    ]
    for page in pages:
        out.extend(_section(page, pages))
    return "\n".join(out)


__all__ = [
    "USAGE_WIDTH",
    "Page",
    "argument_rows",
    "cli_reference",
    "default_text",
    "help_text",
    "metavar",
    "usage",
    "usage_parts",
    "value_syntax",
    "value_text",
    "walk",
]
