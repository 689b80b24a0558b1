"""Benchmark: full build of the feature models at the default size and at 2,000 symbols × 20 years.

    .venv/bin/python bench/bench_features.py            # both sizes
    .venv/bin/python bench/bench_features.py --only default
    .venv/bin/python bench/bench_features.py --only default --files 2000   # + CSV ingestion

Each size runs in a fresh child process (so peak RSS is that build's alone) on a temporary project
that uses this repo's sql/ and features/library models and the built-in synthetic market: a full
build from an empty warehouse (asset IDs, synthetic market, every model, data tests), then a no-op
build. The large universe is written into the temporary symbols.json as SYN0000… stocks spread
over the sector sub-categories, so they get asset IDs the ordinary way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZES = {"default": (0, 10.0), "large": (2000, 20.0)}  # name -> (total symbols or 0 = shipped, years)


def _make_project(root: Path, n_symbols: int, years: float) -> None:
    (root / "config").mkdir(parents=True)
    symbols = json.loads((REPO / "config" / "symbols.json").read_text())
    if n_symbols:
        shipped = {s for group in ("sectors", "etfs", "crypto") for v in symbols[group].values() for s in v}
        subs = list(symbols["sectors"])
        for i in range(n_symbols - len(shipped)):
            symbols["sectors"][subs[i % len(subs)]].append(f"SYN{i:04d}")
    (root / "config" / "symbols.json").write_text(json.dumps(symbols, indent=1))
    (root / "config" / "project.toml").write_text(
        "[paths]\n"
        f'sql = "{REPO / "sql"}"\n'
        f'python_models = ["{REPO / "features" / "library"}"]\n'
        f"[synthetic]\nyears = {years}\n"
        + (
            f'[build]\nmemory_limit = "{_limit}"\n'
            if (_limit := os.environ.get("FSTORE_BENCH_MEMORY_LIMIT"))
            else ""
        )
    )


def child(size: str) -> None:
    """Run in a fresh process: build, then a no-op build; print one JSON line."""
    from features.build import run_build
    from features.config import load_project
    from features.warehouse import connect

    n_symbols, years = SIZES[size]
    with tempfile.TemporaryDirectory(prefix=f"fstore-bench-{size}-") as tmp:
        root = Path(tmp) / "proj"
        _make_project(root, n_symbols, years)
        project = load_project(root)
        started = time.perf_counter()
        run_build(project, quiet=True)
        full_s = time.perf_counter() - started
        started = time.perf_counter()
        run_build(project, quiet=True)
        noop_s = time.perf_counter() - started
        con = connect(project.warehouse_path, read_only=True)
        rows, symbols = con.execute("select count(*), count(distinct symbol) from training_set").fetchone()
        con.close()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "size": size,
                "symbols": symbols,
                "years": years,
                "rows": rows,
                "full_s": full_s,
                "noop_s": noop_s,
                "peak_rss_mib": peak_mib,
            }
        )
    )


def files_child(n_files: int) -> None:
    """Ingest ``n_files`` per-symbol CSVs (10 years of weekdays each) into a fresh warehouse."""
    import duckdb
    import numpy as np

    from features.config import load_project
    from features.ingest import refresh_raw_prices

    with tempfile.TemporaryDirectory(prefix="fstore-bench-files-") as tmp:
        root = Path(tmp) / "proj"
        (root / "config").mkdir(parents=True)
        symbols = [f"F{i:05d}" for i in range(n_files)]
        (root / "config" / "symbols.json").write_text(json.dumps({"sectors": {"Bench": symbols}}))
        (root / "config" / "project.toml").write_text("")
        raw = root / "data" / "raw"
        raw.mkdir(parents=True)
        rng = np.random.default_rng(0)
        days = np.arange(np.datetime64("2016-01-01"), np.datetime64("2025-12-31"))
        days = days[((days.astype(np.int64) + 3) % 7) < 5].astype(str)
        for symbol in symbols:
            close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
            lines = [
                f"{d},{c:.4f},{c * 1.01:.4f},{c * 0.99:.4f},{c:.4f},{c:.4f},1000"
                for d, c in zip(days, close, strict=True)
            ]
            (raw / f"{symbol}.csv").write_text(
                "Date,Open,High,Low,Close,Adj Close,Volume\n" + "\n".join(lines) + "\n"
            )
        con = duckdb.connect(str(root / "w.duckdb"))
        con.execute(
            "create table dim_symbol as select (row_number() over () - 1)::integer as asset_id, "
            "unnest(?::varchar[]) as symbol, '1.0' as mapping_version",
            [symbols],
        )
        started = time.perf_counter()
        summary = refresh_raw_prices(con, load_project(root), console=lambda _msg: None)
        seconds = time.perf_counter() - started
        con.close()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"files": n_files, "rows": summary.rows, "seconds": seconds, "peak_rss_mib": peak_mib}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(SIZES))
    parser.add_argument("--files", type=int, default=0, help="also time ingesting N per-symbol CSV files")
    parser.add_argument("--child", choices=sorted(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--files-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-limit", default="", help='[build] memory_limit of the builds, e.g. "3GB"')
    args = parser.parse_args()
    if args.memory_limit:
        os.environ["FSTORE_BENCH_MEMORY_LIMIT"] = args.memory_limit  # read by the child processes
    if args.child:
        child(args.child)
        return
    if args.files_child:
        files_child(args.files_child)
        return
    results = []
    for size in [args.only] if args.only else list(SIZES):
        out = subprocess.run(
            [sys.executable, __file__, "--child", size], check=True, capture_output=True, text=True
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"machine: {platform.machine()}, {platform.python_version()}, date {time.strftime('%Y-%m-%d')}")
    print(
        "| size | symbols | years | rows | full build (s) | rows/s | µs/row | no-op build (s) | peak RSS (MiB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        rate = r["rows"] / r["full_s"]
        print(
            f"| {r['size']} | {r['symbols']:,} | {r['years']:g} | {r['rows']:,} | {r['full_s']:.1f} | "
            f"{rate:,.0f} | {1e6 / rate:.2f} | {r['noop_s']:.2f} | {r['peak_rss_mib']:,.0f} |"
        )
    if args.files:
        out = subprocess.run(
            [sys.executable, __file__, "--files-child", str(args.files)],
            check=True,
            capture_output=True,
            text=True,
        )
        f = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"ingest {f['files']:,} per-symbol CSV files: {f['rows']:,} rows in {f['seconds']:.1f} s "
            f"({f['rows'] / f['seconds']:,.0f} rows/s), peak RSS {f['peak_rss_mib']:,.0f} MiB"
        )
    if len(results) == 2:
        ratio = (results[1]["full_s"] / results[1]["rows"]) / (results[0]["full_s"] / results[0]["rows"])
        print(f"time per row, large / default: {ratio:.2f}× (target ≤ 1.5×)")


if __name__ == "__main__":
    main()
