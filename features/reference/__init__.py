"""Reference pages generated from the code, so they cannot drift from what fstore does.

    cli.py      docs/cli.md     every command and subcommand, from ``features.cli.build_parser()``
    config.py   docs/config.md  every ``config/project.toml`` section and key, from ``features/config.py``

Regenerate both (one command, run from anywhere; it writes the repository's ``docs/``)::

    python -m features.reference            # rewrite the pages that changed
    python -m features.reference --check    # change nothing; exit 1 naming each page out of date

``tests/test_docs.py`` fails when a page in ``docs/`` differs from what this package writes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"  # the repository's docs/ (fstore installed -e)
REGENERATE = "python -m features.reference"


def _cli() -> str:
    from features.reference.cli import cli_reference

    return cli_reference()


def _config() -> str:
    from features.reference.config import config_reference

    return config_reference()


# page file name (under docs/) -> the function that writes its text
PAGES: dict[str, Callable[[], str]] = {"cli.md": _cli, "config.md": _config}


def stale_pages(docs_dir: Path = DOCS_DIR) -> list[str]:
    """The pages whose file in ``docs_dir`` is missing or differs from what the code generates now."""
    stale = []
    for name, render in PAGES.items():
        path = docs_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != render():
            stale.append(name)
    return stale


def write_pages(docs_dir: Path = DOCS_DIR) -> list[Path]:
    """Write every page that changed (atomically); return the files written."""
    from features.warehouse import atomic_write

    written = []
    for name in stale_pages(docs_dir):
        written.append(atomic_write(docs_dir / name, PAGES[name]()))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m features.reference [--check] [--docs DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m features.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a page is out of date")
    parser.add_argument("--docs", type=Path, default=DOCS_DIR, help=f"the docs folder (default {DOCS_DIR})")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages(args.docs)
        for name in stale:
            print(f"{args.docs / name} is out of date: run `{REGENERATE}`", file=sys.stderr)
        return 1 if stale else 0
    written = write_pages(args.docs)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"{', '.join(PAGES)} in {args.docs} are up to date")
    return 0


__all__ = ["DOCS_DIR", "PAGES", "REGENERATE", "main", "stale_pages", "write_pages"]
