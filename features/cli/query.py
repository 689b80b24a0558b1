"""``fstore query SQL``: run SQL on the warehouse (read-only unless ``--write``) and print the result."""

from __future__ import annotations

import argparse
import sys

from features.choices import OUTPUT_FORMATS
from features.cli.common import Command, arg, load, warehouse_path


def cmd_query(args: argparse.Namespace) -> int:
    from features.query import format_result, run_query

    project = load(args)
    sql = args.sql if args.sql != "-" else sys.stdin.read()
    result = run_query(warehouse_path(args, project), sql, write=args.write)
    out = format_result(result, args.format, max_rows=args.max_rows)
    if out is not None:  # None: a rich table, printed directly
        sys.stdout.write(out)
    return 0


QUERY = Command(
    "query",
    "run SQL on the warehouse and print the result",
    cmd_query,
    args=(
        arg("sql", help="a SQL statement, or - to read it from stdin"),
        arg("--format", choices=OUTPUT_FORMATS, default="table"),
        arg("--write", action="store_true", help="allow statements that change the warehouse"),
        arg("--max-rows", type=int, default=200, help="rows shown in table format (0 = all)"),
    ),
)

__all__ = ["QUERY", "cmd_query"]
