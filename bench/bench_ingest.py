"""Ingest at scan speed (issue 15): fstore's ingest against a bare DuckDB CREATE TABLE … AS SELECT.

    .venv/bin/python bench/bench_ingest.py                      # default sizes, a couple of minutes
    .venv/bin/python bench/bench_ingest.py --files 2000         # the issue's 2,000 per-symbol CSVs
    .venv/bin/python bench/bench_ingest.py --compare ../baseline --steps   # before/after, where time goes

Three inputs, generated here (deterministic, Yahoo-style columns, ISO dates):
  parquet   one long Parquet file: SYMBOLS x DAYS rows (default 154 x 5,000 = 770k)
  csv       the same rows as one long CSV
  many      FILES per-symbol CSVs of FILE_DAYS rows (default 400 x 2,600; the issue: 2,000 x 2,600)

For each, in the same run and interleaved (the order rotates), PAIRS rounds of:
  fstore    features.ingest.refresh_raw_prices on a fresh warehouse file whose asset-ID dimension is
            already built (not timed): parse, check, quarantine, de-duplicate, swap in, checkpoint
  before    the same with each --compare checkout's code and interpreter (its own .venv)
  bare      a fresh warehouse file: CREATE TABLE t AS SELECT * FROM read_parquet/read_csv(the files),
            checkpoint (the issue's baseline; read_csv over many files sniffs every one of them)
  bare-typed  (CSV only) the same, but read_csv given the dialect and column types that sniff_csv
            finds in the first file, as fstore's reader does: the stricter baseline
Every run is its own child process (imports done before the clock starts), timed inside it: wall
seconds and CPU seconds (user + sys of the whole process, DuckDB's threads included: on a loaded
machine the CPU figure is the one that does not depend on the neighbours). Prints the medians and
their ratios to bare (target: <= 1.3; also shown: to bare-typed). ``--steps`` also times fstore's ingest steps (scan, checks,
swap) in this checkout. A --compare checkout only needs refresh_raw_prices and ensure_dimension, so
older commits work too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _bars(rng: Any, n: int) -> dict[str, Any]:
    import numpy as np

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


def make_long(folder: Path, symbols: int, days: int) -> Any:
    """One table of ``symbols`` x ``days`` rows in long format (symbol column)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(15)
    dates = np.arange(np.datetime64("2000-01-03"), np.datetime64("2000-01-03") + days)
    parts = []
    for symbol in _symbols(symbols, "L"):
        cols = _bars(rng, days)
        parts.append(pa.table({"Symbol": [symbol] * days, "Date": dates, **cols}))
    return pa.concat_tables(parts)


def make_inputs(work: Path, args: argparse.Namespace) -> dict[str, tuple[Path, list[str], int]]:
    """case -> (folder of its files, its symbols, rows)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

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


# --------------------------------------------------------------------------------------------- children
# Each timed run is a child process: `python bench_ingest.py --child fstore|bare …` prints one JSON line.


def _clock() -> tuple[float, float]:
    """(wall, CPU) now; CPU is user + sys of the whole process, every DuckDB thread included."""
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


# (module, attribute) of the steps --steps times, in the order they run; stage's parts nest inside it
_STEPS = (
    ("features.ingest.prices", "price_files"),
    ("features.ingest.prices", "files_version"),
    ("features.ingest.scan", "stage"),
    ("features.ingest.scan", "_create_tables"),
    ("features.ingest.scan", "_scan"),
    ("features.ingest.scan", "_csv_reader"),
    ("features.ingest.scan", "_parquet_reader"),
    ("features.ingest.scan", "_detect"),
    ("features.ingest.scan", "_settle_long_symbols"),
    ("features.ingest.scan", "_settle_file_symbols"),
    ("features.ingest.checks", "fill_adjusted"),
    ("features.ingest.checks", "scan_stats"),
    ("features.ingest.checks", "refuse_unusable_files"),
    ("features.ingest.checks", "unknown_symbols"),
    ("features.ingest.checks", "find_duplicates"),
    ("features.ingest.checks", "swap_in"),
    ("features.ingest.prices", "_counts"),
    ("features.ingest.prices", "_drop_temps"),
)


def _timed(name: str, fn: Callable[..., Any], steps: dict[str, list[float]]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = _clock()
        try:
            return fn(*args, **kwargs)
        finally:
            wall, cpu = _since(start)
            total = steps.setdefault(name, [0.0, 0.0])
            total[0] += wall
            total[1] += cpu

    return wrapper


def _instrument(steps: dict[str, list[float]]) -> None:
    """Wrap each step of _STEPS that this checkout has (module globals, so every caller sees it)."""
    import importlib

    for module_name, attr in _STEPS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if callable(getattr(module, attr, None)):
            setattr(module, attr, _timed(attr, getattr(module, attr), steps))


def child_fstore(root: Path, db: Path, steps: bool) -> dict[str, Any]:
    import duckdb

    from features.config import load_project
    from features.dimension import ensure_dimension
    from features.ingest import refresh_raw_prices

    timings: dict[str, list[float]] = {}
    if steps:
        _instrument(timings)
    project = load_project(root)
    _fresh(db)
    con = duckdb.connect(str(db))
    try:
        ensure_dimension(con, project)
        con.execute("checkpoint")
        start = _clock()
        summary = refresh_raw_prices(con, project, console=lambda _m: None)
        before_checkpoint = _clock()
        con.execute("checkpoint")
        timings["checkpoint"] = list(_since(before_checkpoint))
        wall, cpu = _since(start)
    finally:
        con.close()
    _fresh(db)
    return {"wall": wall, "cpu": cpu, "rows": summary.rows, "steps": timings}


def _typed_csv(con: Any, files: list[str]) -> tuple[str, dict[str, Any]]:
    """read_csv over ``files`` with the dialect and column types sniffed once, from the first file."""
    delim, quote, escape, skip, columns = con.execute(
        "select Delimiter, Quote, Escape, SkipRows, Columns from sniff_csv($path)", {"path": files[0]}
    ).fetchone()
    params = {
        "files": files,
        "delim": delim,
        "quote": "" if quote == "(empty)" else quote,
        "escape": "" if escape == "(empty)" else escape,
        "skip": skip,
        "columns": {c["name"]: c["type"] for c in columns},
    }
    options = "delim = $delim, quote = $quote, escape = $escape, skip = $skip, columns = $columns"
    return f"read_csv($files, auto_detect = false, header = true, {options})", params


def child_bare(folder: Path, db: Path, typed: bool) -> dict[str, Any]:
    import duckdb

    files = sorted(str(p) for p in folder.iterdir())
    _fresh(db)
    con = duckdb.connect(str(db))
    try:
        start = _clock()
        if files[0].endswith(".parquet"):
            reader, params = "read_parquet($files)", {"files": files}
        elif typed:  # the sniffing is timed: fstore sniffs the first file too
            reader, params = _typed_csv(con, files)
        else:
            reader, params = "read_csv($files)", {"files": files}
        con.execute(f"create table t as select * from {reader}", params)
        con.execute("checkpoint")
        wall, cpu = _since(start)
        rows = con.execute("select count(*) from t").fetchone()[0]
    finally:
        con.close()
    _fresh(db)
    return {"wall": wall, "cpu": cpu, "rows": rows}


def run_child(python: str, repo: Path, argv: list[str]) -> dict[str, Any]:
    """Run this script as a child with ``python``, importing fstore from ``repo``; its JSON result."""
    cmd = [python, str(Path(__file__).resolve()), "--repo", str(repo), *argv]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_main(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(args.repo))
    if args.child == "fstore":
        result = child_fstore(args.root, args.db, args.steps)
    else:
        result = child_bare(args.folder, args.db, args.child == "bare-typed")
    print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------------------------- parent


def _runners(args: argparse.Namespace) -> dict[str, tuple[str, Path]]:
    """name -> (interpreter, checkout) of each fstore variant: this checkout, then each --compare one."""
    runners = {"fstore": (sys.executable, REPO)}
    for i, checkout in enumerate(args.compare):
        path = Path(checkout).resolve()
        python = path / ".venv" / "bin" / "python"
        if not python.exists():
            raise SystemExit(f"--compare {checkout}: no {python}")
        runners["before" if len(args.compare) == 1 else f"before{i + 1}"] = (str(python), path)
    return runners


def bench_case(
    args: argparse.Namespace, work: Path, case: str, folder: Path, symbols: list[str], rows: int
) -> dict[str, list[dict[str, Any]]]:
    """PAIRS interleaved rounds of every fstore variant and bare DuckDB; name -> results."""
    root = _project(work, case, folder, symbols)
    db = work / f"{case}.duckdb"
    runners = _runners(args)
    names = [*runners, "bare"] + (["bare-typed"] if case != "parquet" else [])
    results: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for i in range(args.pairs):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:  # the order rotates round by round
            if name.startswith("bare"):
                argv = ["--child", name, "--folder", str(folder), "--db", str(db)]
                result = run_child(sys.executable, REPO, argv)
            else:
                python, checkout = runners[name]
                argv = ["--child", "fstore", "--root", str(root), "--db", str(db)]
                steps = args.steps and checkout == REPO
                result = run_child(python, checkout, argv + (["--steps"] if steps else []))
            if result["rows"] != rows:
                raise SystemExit(f"{case} {name}: {result['rows']} rows, expected {rows}")
            results[name].append(result)
    return results


def _median(results: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in results)


def report_case(case: str, rows: int, results: dict[str, list[dict[str, Any]]]) -> None:
    """One line per run kind: medians, their ratios to bare (and to bare-typed, when run), rounds."""
    bare = {k: _median(results["bare"], k) for k in ("wall", "cpu")}
    typed = (
        {k: _median(results["bare-typed"], k) for k in ("wall", "cpu")} if "bare-typed" in results else None
    )
    for name, runs in results.items():
        wall, cpu = _median(runs, "wall"), _median(runs, "cpu")
        to_typed = f"{wall / typed['wall']:>6.2f} {cpu / typed['cpu']:>6.2f}" if typed else f"{'':>6} {'':>6}"
        rounds = " ".join(f"{r['wall']:.2f}/{r['cpu']:.2f}" for r in runs)
        print(
            f"{case:8} {name:10} {rows:>10,} {wall:>7.2f} {cpu:>7.2f} {wall / bare['wall']:>6.2f} "
            f"{cpu / bare['cpu']:>6.2f} {to_typed}  {rounds}",
            flush=True,
        )
    with_steps = [r["steps"] for r in results["fstore"] if r.get("steps")]
    if len(with_steps) > 1 or (with_steps and "stage" in with_steps[0]):
        parts = []
        for step in with_steps[0]:
            wall = statistics.median(s.get(step, [0, 0])[0] for s in with_steps)
            cpu = statistics.median(s.get(step, [0, 0])[1] for s in with_steps)
            parts.append(f"{step} {wall:.2f}/{cpu:.2f}")
        print(
            f"{case:8} steps (median wall/CPU s; stage holds _create_tables, _scan (its reader and _detect) and the _settle_ steps): {', '.join(parts)}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default="parquet,csv,many", help="comma-separated: parquet, csv, many")
    parser.add_argument("--symbols", type=int, default=154, help="symbols of the long Parquet / CSV")
    parser.add_argument("--days", type=int, default=5000, help="days per symbol of the long Parquet / CSV")
    parser.add_argument("--files", type=int, default=400, help="per-symbol CSV files (the issue: 2000)")
    parser.add_argument("--file-days", type=int, default=2600, help="rows per per-symbol CSV")
    parser.add_argument("--pairs", type=int, default=3, help="interleaved rounds; medians")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="CHECKOUT",
        help="also time this fstore checkout (its own .venv), e.g. ../baseline for a before figure",
    )
    parser.add_argument("--steps", action="store_true", help="time this checkout's ingest steps too")
    parser.add_argument("--work", type=Path, help="folder for the generated data (default: a temp folder)")
    parser.add_argument("--child", choices=("fstore", "bare", "bare-typed"), help=argparse.SUPPRESS)
    parser.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    return args


def main() -> int:
    args = parse_args()
    if args.child:
        return child_main(args)
    import duckdb

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.work))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"duckdb {duckdb.__version__}, {os.cpu_count()} CPUs, load {load}, data in {work}", flush=True)
    try:
        started = time.perf_counter()
        cases = make_inputs(work, args)
        print(f"generated inputs in {time.perf_counter() - started:.1f} s", flush=True)
        print(
            f"{'case':8} {'run':10} {'rows':>10} {'wall s':>7} {'CPU s':>7} {'wall×':>6} {'CPU×':>6} "
            f"{'wall×t':>6} {'CPU×t':>6}  rounds (wall/CPU s; × = median / bare's median, ×t = / bare-typed's)"
        )
        for case, (folder, symbols, rows) in cases.items():
            report_case(case, rows, bench_case(args, work, case, folder, symbols, rows))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"load at the end {load}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
