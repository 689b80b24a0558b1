"""Benchmark: the default project built on Spark (local mode) vs DuckDB, at the default size and larger.

    .venv/bin/python bench/bench_spark.py                       # default size (154 symbols × 10 years)
    .venv/bin/python bench/bench_spark.py --only large          # 2,000 symbols × 20 years
    .venv/bin/python bench/bench_spark.py --master local[2] --driver-memory 8g

Each size runs in a fresh child process on a temporary project using this repo's sql/ and
features/library models and the built-in synthetic market (like bench/bench_features.py): a full
DuckDB build from an empty warehouse, then ``run_build(engine="spark")`` on the same project — the
source steps (a no-op by then) and Parquet export, every model on Spark, every data test. The Spark
session start is timed on its own. Row counts of both engines' ``training_set`` are checked equal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_features import SIZES, _make_project  # noqa: E402  (same temporary projects)


def child(size: str, master: str, driver_memory: str) -> None:
    """Run in a fresh process: DuckDB build, Spark session start, Spark build; print one JSON line."""
    import pyarrow.parquet as pq

    from features.build import run_build
    from features.config import load_project
    from features.engines.spark import session
    from features.warehouse import connect

    os.environ.setdefault("FSTORE_SPARK_DRIVER_MEMORY", driver_memory)
    n_symbols, years = SIZES[size]
    with tempfile.TemporaryDirectory(prefix=f"fstore-bench-spark-{size}-") as tmp:
        root = Path(tmp) / "proj"
        _make_project(root, n_symbols, years)
        project = load_project(root)
        started = time.perf_counter()
        run_build(project, quiet=True)
        duckdb_s = time.perf_counter() - started
        started = time.perf_counter()
        spark, _ = session(master)
        session_s = time.perf_counter() - started
        started = time.perf_counter()
        result = run_build(project, quiet=True, engine="spark")
        spark_s = time.perf_counter() - started
        per_model = {r.model: round(r.seconds, 2) for r in result.runs}
        spark.stop()
        con = connect(project.warehouse_path, read_only=True)
        rows, symbols = con.execute("select count(*), count(distinct symbol) from training_set").fetchall()[0]
        con.close()
        folder = project.path(project.paths.spark_output) / "training_set"
        spark_rows = sum(pq.read_metadata(f).num_rows for f in folder.rglob("*.parquet"))
    print(
        json.dumps(
            {
                "size": size,
                "symbols": symbols,
                "years": years,
                "rows": rows,
                "spark_rows": spark_rows,
                "duckdb_s": duckdb_s,
                "session_s": session_s,
                "spark_s": spark_s,
                "tests": len(result.tests),
                "per_model": per_model,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SIZES))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="6g", help="local mode: the driver is the executor")
    parser.add_argument("--child", choices=sorted(SIZES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.master, args.driver_memory)
        return
    results = []
    for size in [args.only] if args.only else ["default"]:
        cmd = [sys.executable, __file__, "--child", size, "--master", args.master]
        out = subprocess.run(
            [*cmd, "--driver-memory", args.driver_memory], check=True, capture_output=True, text=True
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"date {time.strftime('%Y-%m-%d')}, master {args.master}")  # fmt: skip
    print(
        "| size | symbols | years | rows | DuckDB build (s) | Spark session start (s) | Spark build (s) | Spark / DuckDB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        assert r["rows"] == r["spark_rows"], r
        print(
            f"| {r['size']} | {r['symbols']:,} | {r['years']:g} | {r['rows']:,} | {r['duckdb_s']:.1f} | "
            f"{r['session_s']:.1f} | {r['spark_s']:.1f} | {r['spark_s'] / r['duckdb_s']:.1f}× |"
        )
    for r in results:
        print(
            f"{r['size']} per model on Spark (s): " + ", ".join(f"{k} {v}" for k, v in r["per_model"].items())
        )


if __name__ == "__main__":
    main()
