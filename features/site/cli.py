"""CLI commands of the docs site: ``fstore docs generate`` and ``fstore docs serve [--port N]``.

Thin, like features/cli_build.py: ``register(sub, add_common)`` adds the commands to the ``fstore``
parser and each handler calls :mod:`features.site`. Imports are lazy (no torch, no sqlglot at start).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def _project(args: argparse.Namespace):
    from features.config import load_project

    return load_project(args.project)


def cmd_generate(args: argparse.Namespace) -> int:
    from features.site.generate import generate_site

    project = _project(args)
    db = Path(args.db).resolve() if getattr(args, "db", None) else None
    result = generate_site(project, db=db)
    index = result.path / "index.html"
    print(f"wrote {len(result.pages)} pages to {result.path} in {result.seconds:.2f} s")
    print(f"open {index.as_uri()} or run `fstore docs serve`")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from features.site.generate import site_dir
    from features.site.serve import serve_site

    serve_site(site_dir(_project(args)), args.port)
    return 0


def register(sub: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    """Add ``fstore docs generate`` and ``fstore docs serve`` to the ``fstore`` parser."""
    from features.site.serve import DEFAULT_PORT

    docs = sub.add_parser("docs", help="a static website of the project: DAG, models, data, asset IDs, runs")
    dsub = docs.add_subparsers(dest="docs_command", metavar="SUBCOMMAND")
    docs.set_defaults(handler=lambda _a: docs.print_help() or 2)

    p = dsub.add_parser("generate", help="write the site to target/docs (works offline, from file://)")
    add_common(p)
    p.set_defaults(handler=cmd_generate)

    p = dsub.add_parser("serve", help="serve target/docs on 127.0.0.1")
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)"
    )
    add_common(p, db=False)
    p.set_defaults(handler=cmd_serve)


__all__ = ["cmd_generate", "cmd_serve", "register"]
