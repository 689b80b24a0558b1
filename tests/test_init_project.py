"""`fstore init DIR`: a project that builds and trains as it stands (the repo's own models, copied), or
a minimal one with ``--template minimal``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.cli.project import TEMPLATE_CHOICES
from features.errors import ConfigError
from features.scaffold import TEMPLATES, init_project, project_toml

REPO = Path(__file__).resolve().parent.parent


def fstore(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "features", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def _files(folder: Path, pattern: str) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob(pattern))
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }


def test_default_template_is_the_repos_own_models_copied(tmp_path: Path) -> None:
    root = init_project(tmp_path / "p")
    repo_config = tomllib.loads((REPO / "config" / "project.toml").read_text())
    library = [REPO / folder for folder in repo_config["paths"]["python_models"]]
    # the project owns copies of today's models: every SQL file and every Python model file
    assert _files(root / "sql", "*.sql") == _files(REPO / "sql", "*.sql")
    assert _files(root / "models", "*.py") == {
        k: v for lib in library for k, v in _files(lib, "*.py").items()
    }
    assert (root / "config" / "symbols.json").read_bytes() == (REPO / "config" / "symbols.json").read_bytes()
    config = tomllib.loads((root / "config" / "project.toml").read_text())
    assert config["paths"]["python_models"] == ["models"]
    assert {k: v for k, v in config.items() if k != "paths"} == {
        k: v for k, v in repo_config.items() if k != "paths"
    }
    ignored = (root / ".gitignore").read_text().split()
    assert {"/data/", "/target/", "/runs/"} <= set(ignored)
    assert (root / "data" / "raw").is_dir() and (root / "seeds").is_dir()


def test_minimal_template_is_config_universe_and_one_example(tmp_path: Path) -> None:
    root = init_project(tmp_path / "p", template="minimal")
    assert [p.relative_to(root).as_posix() for p in root.rglob("*.sql")] == ["sql/examples/daily_returns.sql"]
    assert not list((root / "models").iterdir())
    assert json.loads((root / "config" / "symbols.json").read_text())["sectors"]["Technology"][0] == "AAPL"


def test_init_refuses_to_overwrite_and_names_the_files(tmp_path: Path) -> None:
    root = init_project(tmp_path / "p", template="minimal")
    before = (root / "config" / "project.toml").read_bytes()
    with pytest.raises(ConfigError, match="not empty"):
        init_project(root)
    with pytest.raises(ConfigError, match=r"already exist.*config/project\.toml"):
        init_project(root, force=True)
    assert (root / "config" / "project.toml").read_bytes() == before
    with pytest.raises(ConfigError, match="unknown template `big`"):
        init_project(tmp_path / "q", template="big")
    assert not (tmp_path / "q").exists()


def test_the_cli_offers_the_library_templates() -> None:
    assert TEMPLATE_CHOICES == TEMPLATES


scalars = st.one_of(
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=6), max_size=3),
    st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
)
keys = st.from_regex(r"[a-z_]{1,10}", fullmatch=True)


@given(
    st.dictionaries(
        keys.filter(lambda k: k != "paths"), st.dictionaries(keys, values, min_size=1, max_size=4), max_size=4
    )
)
def test_project_toml_carries_every_setting_of_the_repos_config(settings: dict) -> None:
    config = tomllib.loads(project_toml({"paths": {"python_models": ["elsewhere"]}, **settings}))
    assert config.pop("paths")["python_models"] == ["models"]
    assert config == settings


def test_init_build_train_end_to_end(tmp_path: Path) -> None:
    """The path a new user walks: init, build, train, with nothing but the CLI."""
    init = fstore("init", "p", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "fstore build" in init.stdout and "fstore train" in init.stdout and "make" not in init.stdout
    root = tmp_path / "p"
    with (root / "config" / "project.toml").open("a") as handle:  # a small market keeps the test quick
        handle.write("\n[synthetic]\nyears = 1.2\n")
    build = fstore("build", "--quiet", cwd=root)
    assert build.returncode == 0, build.stderr
    train = fstore("train", "--epochs", "1", "--max-train-samples", "2000", cwd=root)
    assert train.returncode == 0, train.stderr + train.stdout
    runs = fstore("query", "select status, epochs_done from train_runs", "--format", "json", cwd=root)
    assert runs.returncode == 0, runs.stderr
    assert json.loads(runs.stdout) == [{"status": "finished", "epochs_done": 1}]


def test_the_selection_examples_of_docs_models_select_in_a_new_project(tmp_path: Path) -> None:
    """Each `fstore build|ls --select …` line of docs/models.md, run as `fstore ls` on a default project."""
    root = init_project(tmp_path / "p")
    text = (REPO / "docs" / "models.md").read_text()
    examples = [
        line.split("#")[0].split()[2:]
        for line in text.splitlines()
        if line.startswith(("fstore build -", "fstore ls -"))
    ]
    assert len(examples) >= 3
    for args in examples:
        out = fstore("ls", *args, cwd=root)
        assert out.returncode == 0, (args, out.stderr)
        assert len(out.stdout.splitlines()) > 1, args  # a header and at least one model
