"""Ingest at scan speed (issue 15): fstore's ingest against a bare DuckDB CREATE TABLE … AS SELECT.

    .venv/bin/python bench/bench_ingest.py                      # default sizes, a couple of minutes
    .venv/bin/python bench/bench_ingest.py --files 2000         # the issue's 2,000 per-symbol CSVs

Three inputs, generated here (deterministic, Yahoo-style columns, ISO dates):
  parquet   one long Parquet file: SYMBOLS x DAYS rows (default 154 x 5,000 = 770k)
  csv       the same rows as one long CSV
  many      FILES per-symbol CSVs of FILE_DAYS rows (default 400 x 2,600; the issue: 2,000 x 2,600)

For each, in the same run and interleaved (the order alternates), PAIRS times:
  fstore    features.ingest.refresh_raw_prices on a fresh warehouse file whose asset-ID dimension is
            already built (not timed): parse, check, quarantine, de-duplicate, swap in, checkpoint
  baseline  a fresh warehouse file: CREATE TABLE t AS SELECT * FROM read_parquet/read_csv(the files),
            checkpoint
and prints the medians and their ratio (target: <= 1.3). Works on older fstore commits too (it only
calls refresh_raw_prices and ensure_dimension), so a before figure comes from a checkout of main.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _bars(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    return {
        "Open": open_.round(4),
        "High": high.round(4),
        "Low": low.round(4),
        "Close": close.round(4),
        "Adj Close": (close * 0.98).round(4),
        "Volume": rng.integers(100_000, 10_000_000, n),
    }


def _symbols(n: int, prefix: str) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def make_long(folder: Path, symbols: int, days: int) -> pa.Table:
    """One table of ``symbols`` x ``days`` rows in long format (symbol column)."""
    rng = np.random.default_rng(15)
    dates = np.arange(np.datetime64("2000-01-03"), np.datetime64("2000-01-03") + days)
    parts = []
    for symbol in _symbols(symbols, "L"):
        cols = _bars(rng, days)
        parts.append(pa.table({"Symbol": [symbol] * days, "Date": dates, **cols}))
    return pa.concat_tables(parts)


def make_inputs(work: Path, args: argparse.Namespace) -> dict[str, tuple[Path, list[str], int]]:
    """case -> (folder of its files, its symbols, rows)."""
    cases: dict[str, tuple[Path, list[str], int]] = {}
    long_rows = args.symbols * args.days
    if {"parquet", "csv"} & set(args.cases):
        table = make_long(work, args.symbols, args.days)
        for case in ("parquet", "csv"):
            if case in args.cases:
                (work / case).mkdir()
                path = work / case / f"prices.{case}"
                if case == "parquet":
                    pq.write_table(table, path)
                else:
                    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="none"))
                cases[case] = (work / case, _symbols(args.symbols, "L"), long_rows)
    if "many" in args.cases:
        (work / "many").mkdir()
        rng = np.random.default_rng(2000)
        dates = np.arange(np.datetime64("2000-01-03"), np.datetime64("2000-01-03") + args.file_days)
        names = _symbols(args.files, "F")
        for symbol in names:
            table = pa.table({"Date": dates, **_bars(rng, args.file_days)})
            pacsv.write_csv(table, work / "many" / f"{symbol}.csv", pacsv.WriteOptions(quoting_style="none"))
        cases["many"] = (work / "many", names, args.files * args.file_days)
    return cases


def _project(work: Path, case: str, folder: Path, symbols: list[str]) -> Path:
    root = work / f"project-{case}"
    (root / "config").mkdir(parents=True)
    (root / "config" / "symbols.json").write_text(json.dumps({"sectors": {"Bench": symbols}}))
    (root / "config" / "project.toml").write_text(f'[paths]\nraw = "{folder}"\n')
    return root


def _fresh(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def time_fstore(root: Path) -> tuple[float, int]:
    from features.config import load_project
    from features.dimension import ensure_dimension
    from features.ingest import refresh_raw_prices

    project = load_project(root)
    db = root / "warehouse.duckdb"
    _fresh(db)
    con = duckdb.connect(str(db))
    try:
        ensure_dimension(con, project)
        con.execute("checkpoint")
        start = time.perf_counter()
        summary = refresh_raw_prices(con, project, console=lambda _m: None)
        con.execute("checkpoint")
        elapsed = time.perf_counter() - start
    finally:
        con.close()
    return elapsed, summary.rows


def time_baseline(work: Path, folder: Path) -> tuple[float, int]:
    files = sorted(str(p) for p in folder.iterdir())
    reader = "read_parquet($files)" if files[0].endswith(".parquet") else "read_csv($files)"
    db = work / "baseline.duckdb"
    _fresh(db)
    con = duckdb.connect(str(db))
    try:
        start = time.perf_counter()
        con.execute(f"create table t as select * from {reader}", {"files": files})
        con.execute("checkpoint")
        elapsed = time.perf_counter() - start
        rows = con.execute("select count(*) from t").fetchone()[0]
    finally:
        con.close()
    return elapsed, rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default="parquet,csv,many", help="comma-separated: parquet, csv, many")
    parser.add_argument("--symbols", type=int, default=154, help="symbols of the long Parquet / CSV")
    parser.add_argument("--days", type=int, default=5000, help="days per symbol of the long Parquet / CSV")
    parser.add_argument("--files", type=int, default=400, help="per-symbol CSV files (the issue: 2000)")
    parser.add_argument("--file-days", type=int, default=2600, help="rows per per-symbol CSV")
    parser.add_argument("--pairs", type=int, default=3, help="interleaved (fstore, baseline) pairs; medians")
    parser.add_argument("--work", type=Path, help="folder for the generated data (default: a temp folder)")
    args = parser.parse_args()
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.work))
    print(f"duckdb {duckdb.__version__}, {os.cpu_count()} CPUs, data in {work}", flush=True)
    try:
        started = time.perf_counter()
        cases = make_inputs(work, args)
        print(f"generated inputs in {time.perf_counter() - started:.1f} s", flush=True)
        print(f"{'case':8} {'rows':>10} {'fstore s':>9} {'bare s':>8} {'ratio':>6}  pairs (fstore/bare)")
        for case, (folder, symbols, rows) in cases.items():
            root = _project(work, case, folder, symbols)
            ours, bare = [], []
            for i in range(args.pairs):
                order = (0, 1) if i % 2 == 0 else (1, 0)
                for which in order:
                    if which == 0:
                        t, n = time_fstore(root)
                        ours.append(t)
                    else:
                        t, n = time_baseline(work, folder)
                        bare.append(t)
                    assert n == rows, f"{case}: {n} rows, expected {rows}"
            a, b = statistics.median(ours), statistics.median(bare)
            pairs = " ".join(f"{x:.2f}/{y:.2f}" for x, y in zip(ours, bare, strict=True))
            print(f"{case:8} {rows:>10,} {a:>9.2f} {b:>8.2f} {a / b:>6.2f}  {pairs}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
