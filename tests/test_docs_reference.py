"""The generated reference pages are true: docs/cli.md and docs/config.md are what
``python -m features.reference`` writes now, and what they say matches argparse and load_project."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features import choices
from features.cli import COMMANDS, build_parser
from features.cli.common import Command, add_command, arg
from features.config import Project, load_project
from features.errors import ConfigError
from features.reference import PAGES, REGENERATE, stale_pages, write_pages
from features.reference.cli import cli_reference, usage, walk
from features.reference.config import (
    choice_lists,
    class_docstring,
    field_comments,
    sections,
    toml_value,
)

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


# --------------------------------------------------------------------------- generated pages


@pytest.mark.parametrize("page", sorted(PAGES))
def test_generated_page_is_up_to_date(page: str) -> None:
    current = (DOCS / page).read_text(encoding="utf-8") if (DOCS / page).is_file() else ""
    expected = PAGES[page]()
    diff = "".join(
        list(
            difflib.unified_diff(
                current.splitlines(True), expected.splitlines(True), f"docs/{page}", "generated"
            )
        )[:40]
    )
    assert current == expected, f"docs/{page} is out of date: run `{REGENERATE}` and commit it\n{diff}"


def test_regeneration_writes_only_what_changed(tmp_path: Path) -> None:
    assert sorted(stale_pages(tmp_path)) == sorted(PAGES)
    assert {p.name for p in write_pages(tmp_path)} == set(PAGES)
    assert stale_pages(tmp_path) == [] and write_pages(tmp_path) == []
    (tmp_path / "cli.md").write_text("edited by hand\n")
    assert stale_pages(tmp_path) == ["cli.md"]


def test_the_check_command_names_the_stale_page(tmp_path: Path) -> None:
    write_pages(tmp_path)
    (tmp_path / "config.md").write_text("old\n")
    args = [sys.executable, "-m", "features.reference", "--check", "--docs", str(tmp_path)]
    done = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert "config.md is out of date" in done.stderr and REGENERATE in done.stderr


# --------------------------------------------------------------------------- docs/cli.md


def _words(text: str) -> str:
    return " ".join(text.split())


def test_every_usage_line_says_what_argparse_says() -> None:
    for page in walk(build_parser()):
        assert _words(usage(page.parser)) == _words(page.parser.format_usage()), page.command


def _commands(commands: tuple[Command, ...], prefix: str = "fstore") -> list[tuple[str, Command]]:
    found = []
    for command in commands:
        found.append((f"{prefix} {command.name}", command))
        found += _commands(command.subcommands, f"{prefix} {command.name}")
    return found


def test_every_command_of_the_table_has_a_section_with_its_help() -> None:
    text = cli_reference()
    for name, command in _commands(COMMANDS):
        section = text.split(f"`{name}`\n\n", 1)
        assert len(section) == 2, f"no section for {name}"
        assert section[1].startswith(command.help), name
        for a in command.args:
            body = section[1].split("\n## ", 1)[0]
            shown = a.flags if a.flags[0].startswith("-") else (a.options.get("metavar", a.flags[0]),)
            assert all(f"`{flag}`" in body for flag in shown), (name, a.flags)


_names = st.from_regex(r"[a-z][a-z0-9]{1,7}", fullmatch=True)


@st.composite
def _argument(draw: st.DrawFn) -> tuple:
    flag = "--" + draw(_names)
    kind = draw(st.sampled_from(["flag", "choice", "int", "many", "positional"]))
    if kind == "flag":
        return (flag,), {"action": "store_true", "help": draw(st.text("abc |", max_size=12))}
    if kind == "choice":
        values = draw(st.lists(_names, min_size=1, max_size=4, unique=True))
        return (flag,), {"choices": values, "default": values[0]}
    if kind == "int":
        return (flag,), {"type": int, "default": draw(st.integers(0, 99)), "metavar": "N"}
    if kind == "many":
        return (flag,), {"nargs": "+", "action": "extend", "metavar": "SPEC"}
    return (draw(_names),), {"help": "a positional"}


@settings(max_examples=40, deadline=None)
@given(name=_names, args=st.lists(_argument(), max_size=6, unique_by=lambda a: a[0][0]))
def test_a_new_command_is_documented_with_its_usage_choices_and_defaults(name: str, args: list) -> None:
    """Whatever a command declares, the page shows: argparse's usage, each flag, its choices, its default."""
    parser = argparse.ArgumentParser(prog="fstore")
    add_command(
        parser.add_subparsers(dest="command"),
        Command(name, "does a new thing", args=tuple(arg(*f, **o) for f, o in args)),
    )
    text = cli_reference(parser)
    child = next(p for p in walk(parser) if p.command == f"fstore {name}")
    assert _words(usage(child.parser)) == _words(child.parser.format_usage())
    section = text.split(f"## `fstore {name}`\n\ndoes a new thing\n", 1)[1]
    for flags, options in args:
        row = next(line for line in section.splitlines() if line.startswith(f"| `{flags[0]}` |"))
        for value in options.get("choices", []):
            assert f"`{value}`" in row
        if "default" in options:
            assert f"| `{options['default']}` |" in row
        if options.get("action") == "store_true":
            assert "| flag |" in row
        assert row.count("|") - row.count("\\|") == 5, row  # four cells: a `|` in a help text is escaped


# --------------------------------------------------------------------------- docs/config.md


def test_every_section_and_key_says_what_it_is_for() -> None:
    missing = [f"[{s.name}] ({s.cls.__name__}): class docstring" for s in sections() if not s.doc]
    missing += [f"[{s.section}] {s.key}" for section in sections() for s in section.settings if not s.reason]
    assert not missing, (
        "features/config.py: write a one-line comment beside each field and a docstring on each section "
        f"class (docs/config.md is generated from them): {', '.join(missing)}"
    )


def test_every_section_of_the_project_is_on_the_page() -> None:
    documented = [s.name for s in sections()]
    sections_of_project = [f.name for f in dataclasses.fields(Project) if dataclasses.is_dataclass(f.default)]
    assert documented == sections_of_project
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    for section in sections():
        for s in section.settings:
            assert f"| `{s.key}` |" in text.split(f"## [{section.name}]", 1)[1], (section.name, s.key)


def _project(folder: Path, text: str) -> Path:
    """A project folder holding only ``config/project.toml`` = ``text`` (replaced each time)."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "project.toml").write_text(text, encoding="utf-8")
    return folder


_WRONG = {
    "integer": '"x"',
    "number": '"x"',
    "string": "[1]",
    "true / false": "1",
    "list of strings": "[1, 2]",
    "table": "3",
}


def test_each_documented_default_loads_as_that_default_and_each_type_is_checked(tmp_path: Path) -> None:
    """The page's default, written in config/project.toml, loads as the dataclass default; a value of
    another type than the page says is refused with the key named."""
    for section in sections():
        for s in section.settings:
            root = _project(tmp_path / "p", f"[{section.name}]\n{s.key} = {toml_value(s.default)}\n")
            assert getattr(getattr(load_project(root), section.name), s.key) == s.default, (
                section.name,
                s.key,
            )
            root = _project(tmp_path / "p", f"[{section.name}]\n{s.key} = {_WRONG[s.type]}\n")
            with pytest.raises(ConfigError, match=rf"\[{section.name}\] {s.key}"):
                load_project(root)


def test_choice_lists_name_real_keys_and_hold_their_defaults() -> None:
    listed = choice_lists(Path(choices.__file__).read_text(encoding="utf-8"), vars(choices))
    assert listed, "features/choices.py lists no [section] key choices"
    keys = {(s.section, s.key): s for section in sections() for s in section.settings}
    for (section, key), (values, _note) in listed.items():
        assert (section, key) in keys, f"features/choices.py names [{section}] {key}, which is not a setting"
        assert keys[(section, key)].default in values, (section, key)
        assert keys[(section, key)].choices == values


SOURCE = '''
@dataclass
class Example:
    """What it is."""

    plain: int = 1  # trailing reason
    # a reason above,
    # over two lines
    above: str = "a # not a comment"
    both: tuple = ("#",)  # and trailing
    # a comment for `both`? no: `none` has this one
    none: int = 0
    bare: int = 0
    # the last comment
'''


def test_comments_become_reasons_and_a_hash_in_a_string_is_not_a_comment() -> None:
    assert field_comments(SOURCE, "Example") == {
        "plain": "trailing reason",
        "above": "a reason above, over two lines",
        "both": "and trailing",
        "none": "a comment for `both`? no: `none` has this one",
        "bare": "",
    }
    assert class_docstring(SOURCE, "Example") == "What it is."
