"""``docs/config.md``: every ``config/project.toml`` section and key, read from the config dataclasses.

A setting's meaning is the comment written beside its field in ``features/config.py`` (a trailing
``# …`` on the field's line, and/or a block of ``# …`` lines right above it), its section's meaning the
class docstring. They are read from the source with :mod:`tokenize` (comments) and :mod:`ast` (fields,
docstrings), so the config module stays plain dataclasses with comments (nothing to keep in step, no
``field(metadata=…)`` on every line) and a test fails when a field or section has no comment.

The type and default come from the dataclass itself (the type as ``load_project`` checks it, from the
default's Python type); the allowed values from ``features/choices.py``, where a tuple whose comment
starts with ``[section] key`` lists that key's choices.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features import choices, config

INTRO = """\
A project's settings live in `config/project.toml`, which holds only what differs from the defaults
below (the defaults are the dataclasses of `features/config.py`; this page is generated from them).
`fstore` finds the project by walking up from the current directory to the folder holding
`config/project.toml`, or takes `--project DIR`; every relative path resolves against that folder.

```toml
[train]
epochs = 10
lr = 0.001
```

When the file is loaded, an unknown section or key is an error naming the file and line (with the
known names), and every value must have its default's type: an **integer** (not `true`, not `1.5`), a
**number** (an integer is accepted), a **string** (a number is accepted and kept as its text), **true
/ false**, a **list of strings** or a **table**. A key listed with *one of* values is checked against
that list when the command that uses it starts.
"""

# the TOML type each Python default stands for, in the order load_project's _coerce tests them
_TYPES: tuple[tuple[type, str], ...] = (
    (tuple, "list of strings"),
    (dict, "table"),
    (bool, "true / false"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
)


@dataclass(frozen=True)
class Setting:
    """One key of one ``[section]``: its TOML type, default, meaning and allowed values."""

    section: str
    key: str
    type: str
    default: Any
    reason: str
    choices: tuple[str, ...] = ()
    choices_note: str = ""


@dataclass(frozen=True)
class Section:
    """One ``[section]`` of ``config/project.toml`` and the dataclass behind it."""

    name: str
    cls: type
    doc: str
    settings: tuple[Setting, ...]


# --------------------------------------------------------------------------- reading the source


def comments_by_line(source: str) -> dict[int, str]:
    """Line number -> the text of the ``#`` comment on it (without ``#``); a ``#`` inside a string is
    not a comment (tokenize tells them apart)."""
    found = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = token.string.lstrip("#").strip()
    return found


def field_comments(source: str, class_name: str) -> dict[str, str]:
    """Field name -> its comment in class ``class_name`` of ``source``: the ``#`` lines right above the
    field, then the comment at the end of its last line, joined into one line of text."""
    lines = source.splitlines()
    comments = comments_by_line(source)
    node = next(
        (n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == class_name), None
    )
    if node is None:
        raise LookupError(f"no class {class_name} in the source")
    found = {}
    for item in node.body:
        if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
            continue
        above = []
        row = item.lineno - 1
        while row >= 1 and lines[row - 1].strip().startswith("#"):
            above.insert(0, comments[row])
            row -= 1
        trailing = [comments[item.end_lineno]] if item.end_lineno in comments else []
        found[item.target.id] = " ".join(part for part in (*above, *trailing) if part)
    return found


def class_docstring(source: str, class_name: str) -> str:
    """The docstring written in class ``class_name`` ("" when it has none; a dataclass's generated
    ``__doc__``, its signature, is not a docstring)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return " ".join((ast.get_docstring(node) or "").split())
    raise LookupError(f"no class {class_name} in the source")


def choice_lists(
    source: str, namespace: dict[str, Any]
) -> dict[tuple[str, str], tuple[tuple[str, ...], str]]:
    """``(section, key)`` -> (choices, note) for every module-level tuple of ``source`` whose comment
    starts with ``[section] key`` (the rest of the comment is the note)."""
    comments = comments_by_line(source)
    found = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target = node.targets[0]
        match = re.match(r"\[(\w+)\]\s+(\w+)\s*(.*)$", comments.get(node.end_lineno, ""))
        if isinstance(target, ast.Name) and match and isinstance(namespace.get(target.id), tuple):
            found[(match[1], match[2])] = (namespace[target.id], match[3].strip())
    return found


# --------------------------------------------------------------------------- the model of the page


def _source(module: Any) -> str:
    return Path(module.__file__).read_text(encoding="utf-8")


def toml_type(default: Any) -> str:
    """The TOML type ``load_project`` requires of a key with this default."""
    return next(name for kind, name in _TYPES if isinstance(default, kind))


def _default_of(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]


def sections() -> tuple[Section, ...]:
    """Every section of :class:`features.config.Project`, in its order, with every key."""
    source = _source(config)
    allowed = choice_lists(_source(choices), vars(choices))
    found = []
    for section in dataclasses.fields(config.Project):
        cls = type(section.default)
        if not dataclasses.is_dataclass(cls):
            continue  # root, config_file: not settings
        reasons = field_comments(source, cls.__name__)
        settings = []
        for f in dataclasses.fields(cls):
            default = _default_of(f)
            values, note = allowed.get((section.name, f.name), ((), ""))
            settings.append(
                Setting(
                    section.name, f.name, toml_type(default), default, reasons.get(f.name, ""), values, note
                )
            )
        found.append(Section(section.name, cls, class_docstring(source, cls.__name__), tuple(settings)))
    return tuple(found)


# --------------------------------------------------------------------------- rendering


def toml_value(value: Any) -> str:
    """``value`` written as TOML (a string, number, boolean, list of strings or inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(
            f"{json.dumps(str(k), ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items()
        )
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"no TOML form for {value!r}")


def _constants() -> dict[str, Any]:
    """Upper-case constants of the config and choices modules, which a comment may name."""
    return {
        name: value
        for module in (config, choices)
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str | int | float)
    }


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (GitHub ends a cell at every ``|``, even in code)."""
    return text.replace("|", "\\|").replace("\n", " ")


def reason_text(reason: str) -> str:
    """A comment as the page shows it: a constant it names is followed by its value."""
    constants = _constants()

    def expand(match: re.Match) -> str:
        name = match[0]
        return f"{name} = `{constants[name]}`" if name in constants else name

    return re.sub(r"\b[A-Z][A-Z0-9_]{2,}\b", expand, reason)


def _type_text(setting: Setting) -> str:
    if not setting.choices:
        return setting.type
    listed = ", ".join(f"`{c}`" for c in setting.choices)
    return f"one of {listed}" + (f" {setting.choices_note}" if setting.choices_note else "")


def _section_markdown(section: Section) -> list[str]:
    out = [
        f"## [{section.name}]",
        "",
        section.doc,
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for s in section.settings:
        default = toml_value(s.default)
        out.append(
            f"| `{s.key}` | {_cell(_type_text(s))} | `{_cell(default)}` | {_cell(reason_text(s.reason))} |"
        )
    out.append("")
    return out


def config_reference() -> str:
    """The text of ``docs/config.md``."""
    found = sections()
    out = [
        "# Configuration reference: `config/project.toml`",
        "",
        "<!-- generated by `python -m features.reference` from features/config.py; do not edit by hand -->",
        "",
        INTRO,
        " · ".join(f"[`[{s.name}]`](#{s.name})" for s in found),
        "",
    ]
    for section in found:
        out.extend(_section_markdown(section))
    return "\n".join(out)


__all__ = [
    "Section",
    "Setting",
    "choice_lists",
    "class_docstring",
    "comments_by_line",
    "config_reference",
    "field_comments",
    "reason_text",
    "sections",
    "toml_type",
    "toml_value",
]
