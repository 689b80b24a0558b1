"""Nonsensical config values are a ConfigError naming the file, the line and the key, not a traceback
(issue 12: `[synthetic] end_date = "garbage"`, `seed = -1`, `years = nan` / `inf`)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features import config
from features.config import load_project
from features.errors import ConfigError

BAD_SYNTHETIC = [
    ("end_date", '"garbage"'),
    ("end_date", '"2025-02-30"'),
    ("end_date", '"0003-01-01"'),
    ("seed", "-1"),
    ("years", "nan"),
    ("years", "inf"),
    ("years", "-inf"),
    ("years", "0"),
    ("years", "-2.5"),
    ("years", "1e9"),
    ("extra_symbols", "-1"),
]


def _write(root: Path, body: str) -> Path:
    (root / "config").mkdir(parents=True, exist_ok=True)
    path = root / "config" / "project.toml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(("key", "value"), BAD_SYNTHETIC)
def test_bad_synthetic_values_name_file_line_and_key(tmp_path: Path, key: str, value: str) -> None:
    # [train] seed comes first: the line must be the [synthetic] one
    path = _write(tmp_path, f"[train]\nseed = 3\n\n[synthetic]\n# a comment\n{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    err = info.value
    assert (err.file, err.line) == (str(path), 6), str(err)
    assert f"[synthetic] {key}" in str(err) or (key == "years" and "[synthetic] end_date" in str(err))


def test_bad_synthetic_values_through_the_cli_are_a_message(tmp_path: Path) -> None:
    for key, value in BAD_SYNTHETIC[:6]:
        _write(tmp_path, f"[synthetic]\n{key} = {value}\n")
        out = subprocess.run(
            [sys.executable, "-m", "features", "build", "--project", str(tmp_path)],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert f"project.toml:2: [synthetic] {key}" in out.stderr


FLOAT_KEYS = [
    (name, f.name)
    for name, cls in config._SECTION_CLASSES.items()
    for f in dataclasses.fields(cls)
    if isinstance(getattr(cls(), f.name), float)
]


@settings(max_examples=40, deadline=None)
@given(where=st.sampled_from(FLOAT_KEYS), value=st.sampled_from(["nan", "inf", "-inf", "+nan"]))
def test_no_float_setting_anywhere_accepts_nan_or_inf(
    tmp_path_factory, where: tuple[str, str], value: str
) -> None:
    section, key = where
    root = tmp_path_factory.mktemp("p")
    _write(root, f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_project(root)
    assert info.value.line == 2 and f"[{section}] {key}" in str(info.value)


def test_good_synthetic_values_load(tmp_path: Path) -> None:
    _write(tmp_path, '[synthetic]\nend_date = "2024-02-29"\nseed = 0\nyears = 0.5\nextra_symbols = 3\n')
    synthetic = load_project(tmp_path).synthetic
    assert (synthetic.end_date, synthetic.seed, synthetic.years, synthetic.extra_symbols) == (
        "2024-02-29",
        0,
        0.5,
        3,
    )
