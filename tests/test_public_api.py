"""A small public surface, and commands that start fast (no heavy imports up front)."""

from __future__ import annotations

import argparse
import json
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


# every command `fstore --help` lists, in its order (the README documents each)
COMMANDS = [
    "init",
    "query",
    "symbols",
    "build",
    "ls",
    "dag",
    "compile",
    "test",
    "lineage",
    "clean",
    "ingest",
    "sources",
    "export-windows",
    "snapshot",
    "train",
    "runs",
    "evaluate",
    "predict",
    "embeddings",
    "docs",
]


def test_build_parser_alone_is_complete() -> None:
    """A fresh process that never ran main() gets every command and subcommand from build_parser()."""
    code = (
        "from features.cli import build_parser\n"
        "def names(parser):\n"
        "    subs = [a for a in parser._actions if a.__class__.__name__ == '_SubParsersAction']\n"
        "    return {n: sorted(names(p)) for n, p in subs[0].choices.items()} if subs else {}\n"
        "import json; print(json.dumps(list(names(build_parser()).items())))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = dict(json.loads(out.stdout))
    assert list(found) == COMMANDS
    assert found["symbols"] == ["diff", "list", "recover", "restore", "sync"]
    assert found["snapshot"] == ["create", "list"]
    assert found["docs"] == ["generate", "serve"]


def test_cli_choices_are_the_config_and_registry_lists() -> None:
    """Each --flag with choices offers exactly the list the config validates (or the engine registry)."""
    from features import config
    from features.cli import build_parser
    from features.engines import ENGINES

    expected = {
        "split": config.SPLITS,
        "normalize": config.NORMALIZE_MODES,
        "missing": config.MISSING_MODES,
        "encoder": config.ENCODERS,
        "combine": config.COMBINES,
        "task": config.TASKS,
        "device": config.DEVICES,
        "engine": tuple(sorted(ENGINES)),
    }
    seen: set[str] = set()

    def walk(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child)
            elif action.choices is not None and action.dest in expected:
                assert tuple(action.choices) == expected[action.dest], (parser.prog, action.dest)
                seen.add(action.dest)
            elif action.dest == "format" and parser.prog.split()[1] not in ("dag",):
                assert set(action.choices) <= set(config.OUTPUT_FORMATS), parser.prog

    walk(build_parser())
    assert seen == set(expected)
