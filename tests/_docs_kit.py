"""Run the code blocks of README.md and docs/*.md as a reader would (used by tests/test_docs.py).

Every fenced block names its language. Blocks in ``sh`` (``bash``, ``shell``), ``sql``, ``python`` and
``toml`` are run, in the order of their file, in one project of the file's own (a copy of a default
project from ``fstore init``, built on a short synthetic market, with one finished training run):

- ``sh``: ``bash -e -o pipefail`` in the project folder, ``fstore`` and ``python`` on the PATH. ``make
  TARGET`` runs that target of this repository's Makefile there; a project made by ``fstore init``
  inside a block gets the same short market and small training settings (:data:`TINY`);
  ``$FSTORE_FIXTURES`` is this repository's ``tests/fixtures`` (real vendor price files, for a
  ``with`` marker to put where a block names the reader's own folder);
- ``sql``: a block whose header has ``-- key: value`` settings is a model: it is written into the
  project's ``sql/`` and built with ``fstore build --select``, and every data test it declares must
  pass (a ``warn`` test too). Any other block is run statement by statement on the warehouse, read-only;
- ``python``: a file of its own run by this interpreter in the project folder;
- ``toml``: loaded as ``config/project.toml`` of an empty project, so a wrong key or type fails.

Other languages (``text``, ``jsonc`` …) are output or formats, shown and not run. A block is changed
or skipped only by marker comments on the lines right above its fence (more than one may stack)::

    <!-- run: skip REASON -->          not run; the reason is required (e.g. it needs a cluster)
    <!-- run: needs TOOL [TOOL …] -->  run only where each TOOL is on the PATH (pytest reports the skip)
    <!-- run: with NAME=VALUE … -->    NAME (a placeholder word, or any text without spaces that stands
                                       alone, like range(5)) is run as VALUE, e.g. a shorter loop
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

RUNNABLE = {"sh": "sh", "bash": "sh", "shell": "sh", "sql": "sql", "python": "python", "toml": "toml"}

# a short market and small models: every documented command stays quick, and still trains and scores
TINY: dict[str, dict[str, object]] = {
    "synthetic": {"years": 1.0},
    "loader": {"lookback": 10},
    "model": {"hidden": 8},
    "train": {"epochs": 1, "max_train_samples": 2000, "batch_size": 256},
}
TINY_MARK = "# tests/_docs_kit.py: short market and small training settings"

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^\s*<!--\s*run:\s*(?P<body>.*?)\s*-->\s*$")
_DIRECTIVES = ("skip", "needs", "with")


class DocsMarkupError(ValueError):
    """A code block or marker of a Markdown file the harness cannot run as written."""


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language, its code and what its markers say."""

    file: str
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str = ""  # the reason, when marked skip
    needs: tuple[str, ...] = ()
    with_: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def kind(self) -> str | None:
        """``sh``, ``sql``, ``python`` or ``toml`` for a block that is run; None for one that is shown."""
        return RUNNABLE.get(self.lang)

    def runnable_code(self) -> str:
        """The code with every ``with`` placeholder replaced (whole words only)."""
        code = self.code
        for name, value in self.with_.items():
            code = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w])", value, code)
        return code


def _directives(markers: list[tuple[int, str]], where: str) -> dict[str, object]:
    """The settings the marker lines above one fence give it."""
    found: dict[str, object] = {}
    for line, body in markers:
        word, _, rest = body.partition(" ")
        rest = rest.strip()
        if word not in _DIRECTIVES:
            raise DocsMarkupError(
                f"{where}:{line}: unknown marker `run: {word}` (known: {', '.join(_DIRECTIVES)})"
            )
        if word == "skip":
            if not rest:
                raise DocsMarkupError(f"{where}:{line}: `run: skip` needs a reason: <!-- run: skip WHY -->")
            found["skip"] = rest
        elif word == "needs":
            if not rest:
                raise DocsMarkupError(f"{where}:{line}: `run: needs` names no tool")
            found["needs"] = tuple(rest.split())
        else:
            pairs = [p.partition("=") for p in rest.split()]
            if not pairs or any(not name or not sep or not value for name, sep, value in pairs):
                raise DocsMarkupError(f"{where}:{line}: write `run: with NAME=VALUE …`, got {rest!r}")
            found["with_"] = {name: value for name, _, value in pairs}
    return found


def _dedent(line: str, indent: int) -> str:
    """A code line without its fence's indentation (a block inside a list item is indented)."""
    return line[indent:] if not line[:indent].strip() else line.lstrip()


def parse_blocks(text: str, file: str) -> list[Block]:
    """Every fenced block of a Markdown ``text``; a fence without a language, a marker that is not
    right above a fence, or a marker the harness does not know is an error naming file and line."""
    lines = text.splitlines()
    blocks: list[Block] = []
    markers: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        number, line = i + 1, lines[i]
        marker, fence = _MARKER.match(line), _FENCE.match(line)
        if marker:
            markers.append((number, marker["body"]))
            i += 1
            continue
        if markers and not fence:
            raise DocsMarkupError(
                f"{file}:{markers[-1][0]}: a `<!-- run: … -->` marker must be right above a fence"
            )
        if not fence:
            i += 1
            continue
        lang = fence["info"].strip().split(" ")[0].lower()
        if not lang:
            raise DocsMarkupError(f"{file}:{number}: a code block must name its language (```sh, ```text …)")
        close = next(
            (
                j
                for j in range(i + 1, len(lines))
                if lines[j].strip().startswith(fence["fence"])
                and not lines[j].strip().strip(fence["fence"][0])
            ),
            None,
        )
        if close is None:
            raise DocsMarkupError(f"{file}:{number}: the code block is never closed")
        indent = len(fence["indent"])
        code = "\n".join(_dedent(raw, indent) for raw in lines[i + 1 : close])
        blocks.append(Block(file, number, lang, code + "\n", **_directives(markers, file)))  # type: ignore[arg-type]
        markers = []
        i = close + 1
    if markers:
        raise DocsMarkupError(
            f"{file}:{markers[-1][0]}: a `<!-- run: … -->` marker must be right above a fence"
        )
    return blocks


def doc_files() -> list[Path]:
    """README.md and every page under docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


# --------------------------------------------------------------------------- the project blocks run in


def toml_text(config: dict[str, dict[str, object]]) -> str:
    """A ``config/project.toml`` holding ``config`` (sections of plain values)."""
    from features.reference.config import toml_value

    out = [TINY_MARK]
    for section, values in config.items():
        out += ["", f"[{section}]", *(f"{key} = {toml_value(value)}" for key, value in values.items())]
    return "\n".join(out) + "\n"


def make_tiny(config_file: Path) -> None:
    """Merge :data:`TINY` into one project's config (its other settings kept)."""
    current = tomllib.loads(config_file.read_text(encoding="utf-8"))
    for section, values in TINY.items():
        current.setdefault(section, {}).update(values)
    config_file.write_text(toml_text(current), encoding="utf-8")


def make_tiny_below(folder: Path) -> None:
    """:func:`make_tiny` for every project under ``folder`` not made tiny yet (after ``fstore init``)."""
    for config_file in sorted(folder.glob("**/config/project.toml")):
        if TINY_MARK not in config_file.read_text(encoding="utf-8"):
            make_tiny(config_file)


SH_PRELUDE = f"""\
make() {{ command make --no-print-directory -f {REPO / "Makefile"} STAMP= FSTORE=fstore BIN={BIN} "$@"; }}
fstore() {{
  command fstore "$@" || return
  case " $* " in *" init "*) {sys.executable} -c 'import sys; sys.path.insert(0, sys.argv[1]); \\
    import _docs_kit, pathlib; _docs_kit.make_tiny_below(pathlib.Path("."))' {REPO / "tests"} ;; esac
}}
"""


def env() -> dict[str, str]:
    """The environment of a block: this interpreter's fstore and python first on the PATH."""
    import os

    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    # one torch thread, as `fstore train` uses by default: two spinning threads crawl on a busy machine
    fixtures = str(REPO / "tests" / "fixtures")
    return {**os.environ, "PATH": path, "COLUMNS": "100", "OMP_NUM_THREADS": "1", "FSTORE_FIXTURES": fixtures}


def run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


def make_project(folder: Path) -> Path:
    """A default project (``fstore init``) with :data:`TINY` settings, built, with one finished run."""
    for args in (["fstore", "init", folder.name],):
        done = run(args, folder.parent)
        assert done.returncode == 0, done.stderr
    make_tiny(folder / "config" / "project.toml")
    for args in (["fstore", "build", "--quiet"], ["fstore", "train", "--no-progress"]):
        done = run(args, folder)
        assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}{done.stdout}"
    return folder


def project_with_config(folder: Path, text: str) -> Path:
    """A project folder (replaced if there) holding only ``config/project.toml`` = ``text``."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "project.toml").write_text(text, encoding="utf-8")
    return folder


def copy_project(template: Path, folder: Path) -> Path:
    shutil.copytree(template, folder)
    return folder


__all__ = [
    "BIN",
    "REPO",
    "RUNNABLE",
    "SH_PRELUDE",
    "TINY",
    "Block",
    "DocsMarkupError",
    "copy_project",
    "doc_files",
    "env",
    "make_project",
    "make_tiny",
    "make_tiny_below",
    "parse_blocks",
    "project_with_config",
    "run",
    "toml_text",
]
