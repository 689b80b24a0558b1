"""``fstore docs generate`` and ``fstore docs serve [--port N]``: the project's static website.

Thin: each handler calls :mod:`features.site` (imported inside the handler, so ``fstore --help`` stays
fast and loads no HTTP server or page code).
"""

from __future__ import annotations

import argparse

from features.choices import DOCS_PORT
from features.cli.common import Command, arg, load, warehouse_path


def cmd_generate(args: argparse.Namespace) -> int:
    from features.site.generate import generate_site

    project = load(args)
    result = generate_site(project, db=warehouse_path(args, project))
    print(f"wrote {len(result.pages)} pages to {result.path} in {result.seconds:.2f} s")
    print(f"open {(result.path / 'index.html').as_uri()} or run `fstore docs serve`")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from features.site.generate import site_dir
    from features.site.serve import serve_site

    serve_site(site_dir(load(args)), args.port)
    return 0


DOCS = Command(
    "docs",
    "a static website of the project: DAG, models, data, asset IDs, runs",
    subcommands=(
        Command("generate", "write the site to target/docs (works offline, from file://)", cmd_generate),
        Command(
            "serve",
            "serve target/docs on 127.0.0.1",
            cmd_serve,
            args=(
                arg("--port", type=int, default=DOCS_PORT, help=f"port (default {DOCS_PORT}; 0 = any free)"),
            ),
            db=False,
        ),
    ),
)

__all__ = ["DOCS", "cmd_generate", "cmd_serve"]
