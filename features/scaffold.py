"""`fstore init DIR`: a new project with config, the symbol universe and an example model."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from features.errors import ConfigError
from features.warehouse import atomic_write

_TEMPLATE_FILES = {
    "config/project.toml": "config/project.toml",
    "config/symbols.json": "config/symbols.json",
    "sql/examples/daily_returns.sql": "sql/examples/daily_returns.sql",
    "gitignore": ".gitignore",
}


def init_project(target: Path, *, force: bool = False) -> Path:
    """Create a project in ``target`` (new or empty unless ``force``). Returns its resolved root."""
    target = target.resolve()
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder")
    if target.exists() and any(target.iterdir()) and not force:
        raise ConfigError(
            f"{target} is not empty",
            hint="choose a new folder, or pass --force to add the project files there",
        )
    templates = resources.files("features") / "templates"
    for dest in _TEMPLATE_FILES.values():
        out = target / dest
        if out.exists():
            raise ConfigError(f"{out} already exists; not overwriting it")
    for source, dest in _TEMPLATE_FILES.items():
        atomic_write(target / dest, (templates / source).read_bytes())
    for folder in ("data/raw", "models"):
        (target / folder).mkdir(parents=True, exist_ok=True)
    return target


__all__ = ["init_project"]
