"""`fstore init DIR`: a new project, trainable as it stands or nearly empty.

Two templates (:data:`TEMPLATES`):

    default   the models this repository builds, copied so the project owns and edits them: every
              SQL model under the repo's ``sql/`` and every Python model of its ``python_models``
              folders (``features/library``) into ``models/``; the shipped universe; a
              ``config/project.toml`` with the project's ``[paths]`` and every other setting of the
              repo's own config. ``fstore build`` then ``fstore train`` work in it at once.
    minimal   config, the shipped universe and one example model (``features/templates``).

The default template is read from the source tree at init time, never from a second copy kept by
hand, so a project made today has today's feature and label models.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import ConfigError
from features.warehouse import atomic_write

if TYPE_CHECKING:
    from features.config import Project

TEMPLATES = ("default", "minimal")

SOURCE_TREE = Path(__file__).resolve().parent.parent  # the repository fstore runs from
PYTHON_MODELS = "models"  # where the default template puts the Python models
FOLDERS = ("data/raw", "models", "seeds")  # created empty when no file lands in them

_PACKAGED = {  # packaged template file -> where it goes in the project
    "config/project.toml": "config/project.toml",
    "config/symbols.json": "config/symbols.json",
    "sql/examples/daily_returns.sql": "sql/examples/daily_returns.sql",
    "gitignore": ".gitignore",
}

_PROJECT_TOML_HEAD = """\
# fstore project config: only what differs from the defaults in features/config.py belongs here.
# Every relative path resolves against this project's root (the folder above config/).

[paths]
warehouse = "data/warehouse.duckdb"   # disposable; rebuilt by `fstore build`
raw = "data/raw"                      # drop CSV/Parquet price files here; empty -> synthetic market
sql = "sql"                           # SQL models, one SELECT per file
python_models = ["models"]            # folders of @model Python functions
"""


@dataclass
class Scaffold:
    """The files of a new project (relative path -> bytes) and what they hold, for the summary line."""

    files: dict[str, bytes] = field(default_factory=dict)
    sql_models: int = 0
    python_files: int = 0


def init_project(target: Path, *, template: str = "default", force: bool = False) -> Path:
    """Create a project in ``target`` (new or empty unless ``force``) from ``template``; return its
    resolved root. Nothing is written when a file it would write is there already."""
    return write_scaffold(target, scaffold(template), force=force)


def scaffold(template: str = "default") -> Scaffold:
    """The files ``template`` writes (ConfigError for an unknown template or a missing source tree)."""
    if template not in TEMPLATES:
        raise ConfigError(f"unknown template `{template}`", hint=f"choose one of: {', '.join(TEMPLATES)}")
    packaged = resources.files("features") / "templates"
    out = Scaffold({dest: (packaged / source).read_bytes() for source, dest in _PACKAGED.items()})
    if template == "minimal":
        out.sql_models = 1
        return out
    del out.files["sql/examples/daily_returns.sql"]
    repo = _source_project()
    settings = tomllib.loads(repo.config_file.read_text(encoding="utf-8")) if repo.config_file else {}
    out.files["config/project.toml"] = project_toml(settings).encode()
    sql_dir = repo.path(repo.paths.sql)
    for path in sorted(sql_dir.rglob("*.sql")):
        out.files[(Path("sql") / path.relative_to(sql_dir)).as_posix()] = path.read_bytes()
        out.sql_models += 1
    for folder in repo.paths.python_models:
        py_dir = repo.path(folder)
        for path in sorted(py_dir.rglob("*.py")):
            if path.name == "__init__.py" or "__pycache__" in path.parts:
                continue
            out.files[(Path(PYTHON_MODELS) / path.relative_to(py_dir)).as_posix()] = path.read_bytes()
            out.python_files += 1
    return out


def _source_project() -> Project:
    """The repository's own project (its config, ``sql/`` and ``features/library``)."""
    from features.config import CONFIG_RELPATH, load_project

    if not (SOURCE_TREE / CONFIG_RELPATH).is_file() or not (SOURCE_TREE / "sql").is_dir():
        raise ConfigError(
            f"the default template copies the models of fstore's source tree, which is not at {SOURCE_TREE}",
            hint="install fstore from its repository (pip install -e), or pass --template minimal",
        )
    return load_project(SOURCE_TREE)


def project_toml(settings: dict[str, Any]) -> str:
    """The new project's config: its own ``[paths]``, then every other section of ``settings`` (the
    repo's config, parsed), so the project builds and trains as the repo does."""
    parts = [_PROJECT_TOML_HEAD]
    for section, values in settings.items():
        if section == "paths" or not isinstance(values, dict) or not values:
            continue
        lines = [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        parts.append(f"\n[{section}]\n" + "\n".join(lines) + "\n")
    return "".join(parts)


def _toml_value(value: Any) -> str:
    """A TOML value for what a config holds: strings, numbers, booleans, lists and tables of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise ConfigError(f"config/project.toml: cannot copy a {type(value).__name__} value into a new project")


def _toml_string(text: str) -> str:
    """A TOML basic string: quote, backslash and control characters escaped, the rest as it is."""
    return '"' + "".join(_toml_char(c) for c in text) + '"'


def _toml_char(c: str) -> str:
    if c in '"\\':
        return "\\" + c
    if ord(c) < 0x20 or ord(c) == 0x7F:  # TOML allows no raw control character but tab; escape tab too
        return f"\\u{ord(c):04x}"
    return c


def write_scaffold(target: Path, content: Scaffold, *, force: bool = False) -> Path:
    """Write ``content``'s files under ``target`` (each atomically) and create the empty folders; return the root."""
    target = target.resolve()
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not force:
        raise ConfigError(
            f"{target} is not empty",
            hint="choose a new folder, or pass --force to add the project files there",
        )
    clashes = [dest for dest in content.files if (target / dest).exists()]
    if clashes:
        raise ConfigError(
            f"{len(clashes)} file(s) already exist in {target}: {', '.join(clashes[:5])}; not overwriting them"
        )
    for dest, data in content.files.items():
        atomic_write(target / dest, data)
    for folder in FOLDERS:
        (target / folder).mkdir(parents=True, exist_ok=True)
    return target


__all__ = ["FOLDERS", "TEMPLATES", "Scaffold", "init_project", "project_toml", "scaffold", "write_scaffold"]
