"""``fstore query SQL``: run SQL on the warehouse (read-only unless ``--write``) and print every result.

Several statements (``"a; b"``) all run, in order, and each result is printed (with ``--write`` in one
transaction); see :mod:`features.query` for what read-only means and :mod:`features.output` for the
formats."""

from __future__ import annotations

import argparse
import sys

from features.choices import OUTPUT_FORMATS
from features.cli.common import Command, arg, load, warehouse_path


def cmd_query(args: argparse.Namespace) -> int:
    from features.output import format_results
    from features.query import run_queries

    project = load(args)
    sql = args.sql if args.sql != "-" else sys.stdin.read()
    results = run_queries(warehouse_path(args, project), sql, write=args.write, readable=project.root)
    sys.stdout.write(format_results(results, args.format, max_rows=args.max_rows))
    return 0


QUERY = Command(
    "query",
    "run SQL on the warehouse and print the result",
    cmd_query,
    args=(
        arg("sql", help="SQL (several statements run in order, each result printed), or - for stdin"),
        arg("--format", choices=OUTPUT_FORMATS, default="table"),
        arg("--write", action="store_true", help="allow statements that change the warehouse"),
        arg("--max-rows", type=int, default=200, help="rows shown in table format (0 = all)"),
    ),
)

__all__ = ["QUERY", "cmd_query"]
