"""A small public surface, and commands that start fast (no heavy imports up front)."""

from __future__ import annotations

import subprocess
import sys

import features
import training


def test_all_is_sorted_and_resolvable() -> None:
    for package in (features, training):
        assert list(package.__all__) == sorted(package.__all__)
        for name in package.__all__:
            assert getattr(package, name) is not None, name


def test_cli_import_pulls_in_no_heavy_modules() -> None:
    code = (
        "import sys, features, features.cli, training\n"
        "heavy = [m for m in ('torch', 'polars', 'sqlglot', 'pyarrow', 'matplotlib') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
