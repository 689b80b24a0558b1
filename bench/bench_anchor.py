"""The anchor benchmark: five SQL models over one Parquet file, fstore vs plain DuckDB vs dbt-duckdb.

    .venv/bin/python bench/bench_anchor.py                    # 154 symbols × 5,000 days, 5 rounds
    .venv/bin/python bench/bench_anchor.py --repeat 7 --symbols 154 --days 5000
    .venv/bin/python bench/bench_anchor.py --fstore /work/wt/baseline/.venv/bin/fstore   # another checkout
    .venv/bin/python bench/bench_anchor.py --steps            # + where fstore's cold build goes, per step

The script writes everything it measures itself: a project with the shipped symbol universe, one
Parquet file of daily bars (``symbol, ts, open, high, low, close, volume``; a seeded random walk per
symbol, business days) under ``data/raw`` and five SQL models (:data:`MODELS`: staging, windowed
price features, a cross-sectional rank, a forward label, the joined training set), all
``materialized: table`` and without data tests, so the three runners do the same work. Each
measure is a fresh process, timed from its start to its exit (wall, and CPU = user + sys of the
child and its threads); every round runs all of them back to back (interleaved), medians reported:

fstore cold            ``fstore build`` on an empty warehouse (the asset-ID mapping file already
                       written, as in a checked-out project; no ``target/`` parse cache): asset IDs,
                       ingest of the Parquet into ``raw_prices`` with every validation rule, the
                       models, the artifacts
fstore ingested        ``fstore build --full-refresh`` with the prices already ingested: the models
                       again, with start-up and bookkeeping
duckdb                 plain DuckDB in a fresh ``python`` process: a fresh database file, ``raw_prices``
                       a view over the Parquet, ``dim_symbol`` from the sorted symbol list, then
                       ``create table <model> as <the model's SQL>`` in dependency order
dbt                    ``dbt build`` (dbt-core + dbt-duckdb from ``--dbt``, default /tmp/dbtvenv) on a
                       fresh database file, same SQL with ``ref()``/``source()``, ``raw_prices`` a
                       view over the Parquet; skipped with a note when dbt is not installed

The targets (issue 15): fstore cold ≤ 1.2× duckdb, and ≤ 0.35× dbt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DBT_VENV = Path("/tmp/dbtvenv")

MODELS: dict[str, str] = {
    "stg_prices": """-- materialized: table
select d.asset_id::integer as asset_id, p.symbol, p.ts, p.open, p.high, p.low, p.close, p.volume
from raw_prices p
join dim_symbol d on d.symbol = p.symbol
""",
    "price_features": """-- materialized: table
with changes as (
    select asset_id, ts, close, high, low, volume,
        ln(close / lag(close, 1) over w) as ret_1d,
        ln(close / lag(close, 5) over w) as ret_5d,
        ln(close / lag(close, 20) over w) as ret_20d,
        close - lag(close, 1) over w as delta
    from stg_prices
    window w as (partition by asset_id order by ts)
)
select asset_id, ts, ret_1d, ret_5d, ret_20d,
    stddev_samp(ret_1d) over w20 as vol_20,
    close / avg(close) over w20 - 1.0 as sma_ratio_20,
    close / avg(close) over w60 - 1.0 as sma_ratio_60,
    sum(greatest(delta, 0)) over w14 / nullif(sum(abs(delta)) over w14, 0) as rsi_14,
    (volume - avg(volume) over w20) / nullif(stddev_samp(volume) over w20, 0) as volume_z_20,
    (high - low) / close as hl_range
from changes
window
    w14 as (partition by asset_id order by ts rows between 13 preceding and current row),
    w20 as (partition by asset_id order by ts rows between 19 preceding and current row),
    w60 as (partition by asset_id order by ts rows between 59 preceding and current row)
""",
    "cs_features": """-- materialized: table
select asset_id, ts,
    percent_rank() over (partition by ts order by ret_1d) as ret_1d_cs_rank,
    percent_rank() over (partition by ts order by vol_20) as vol_20_cs_rank
from price_features
""",
    "labels": """-- materialized: table
-- label: true
select asset_id, ts,
    ln(lead(close, 5) over (partition by asset_id order by ts) / close) as fwd_ret_5d
from stg_prices
""",
    "training_set": """-- materialized: table
select f.asset_id, f.ts, f.ret_1d, f.ret_5d, f.ret_20d, f.vol_20, f.sma_ratio_20, f.sma_ratio_60,
    f.rsi_14, f.volume_z_20, f.hl_range, c.ret_1d_cs_rank, c.vol_20_cs_rank, l.fwd_ret_5d,
    (l.fwd_ret_5d > 0)::integer as label_up
from price_features f
join cs_features c on c.asset_id = f.asset_id and c.ts = f.ts
join labels l on l.asset_id = f.asset_id and l.ts = f.ts
""",
}
ORDER = ("stg_prices", "price_features", "cs_features", "labels", "training_set")


def _symbols() -> list[str]:
    cfg = json.loads((REPO / "config" / "symbols.json").read_text())
    return sorted({s for g in ("sectors", "etfs", "crypto") for v in cfg[g].values() for s in v})


def write_parquet(path: Path, symbols: list[str], n_days: int) -> int:
    """``n_days`` business days of bars per symbol (seeded random walks), one Parquet file."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(15)
    days = np.arange(np.datetime64("2000-01-03"), np.datetime64("2000-01-03") + n_days * 2)
    days = days[((days.astype(np.int64) + 3) % 7) < 5][:n_days]  # 1970-01-01 was a Thursday
    n = len(symbols)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, (n, n_days)), axis=1))
    spread = np.abs(rng.normal(0, 0.01, (n, n_days)))
    frame = pl.DataFrame(
        {
            "symbol": np.repeat(np.array(symbols, dtype=object), n_days),
            "ts": np.tile(days, n),
            "open": (close * (1 + rng.normal(0, 0.003, (n, n_days)))).ravel(),
            "high": (close * (1 + spread)).ravel(),
            "low": (close * (1 - spread)).ravel(),
            "close": close.ravel(),
            "volume": rng.integers(1_000, 1_000_000, (n, n_days)).ravel(),
        }
    ).with_columns(pl.col("ts").cast(pl.Date))
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return frame.height


def make_project(root: Path, n_days: int) -> tuple[Path, int]:
    """The anchor project under ``root``; returns (Parquet path, rows)."""
    (root / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "symbols.json", root / "config" / "symbols.json")
    (root / "config" / "project.toml").write_text("[paths]\npython_models = []\n")
    (root / "sql").mkdir()
    for name, sql in MODELS.items():
        (root / "sql" / f"{name}.sql").write_text(sql)
    parquet = root / "data" / "raw" / "prices.parquet"
    return parquet, write_parquet(parquet, _symbols(), n_days)


# ------------------------------------------------------------------------------ runners


def _timed(cmd: list[str], **kw: object) -> tuple[float, float]:
    """Run ``cmd`` to completion; (wall s, CPU s of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _clean(root: Path) -> None:
    """An empty warehouse and no ``target/`` (the mapping file stays, as in a checkout)."""
    shutil.rmtree(root / "data" / "warehouse.duckdb", ignore_errors=True)
    for p in (root / "data").glob("warehouse.duckdb*"):
        p.unlink()
    shutil.rmtree(root / "target", ignore_errors=True)


DUCKDB_SCRIPT = """
import sys, duckdb
db, parquet, symbols, models = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4:]
con = duckdb.connect(db)
con.execute("create view raw_prices as select * from read_parquet('" + parquet.replace("'", "''") + "')")
con.execute("create table dim_symbol as select (row_number() over (order by symbol) - 1)::integer"
            " as asset_id, symbol from (select unnest(?::varchar[]) as symbol)", [symbols])
for path in models:
    name = path.rsplit("/", 1)[-1][:-4]
    con.execute(f"create table {name} as " + open(path).read())
con.close()
"""


def run_duckdb(root: Path, parquet: Path, py: str) -> tuple[float, float]:
    """Plain DuckDB in a fresh process (the project under ``root`` gives the SQL files)."""
    db = root.parent / "plain.duckdb"
    db.unlink(missing_ok=True)
    models = [str(root / "sql" / f"{n}.sql") for n in ORDER]
    out = _timed([py, "-c", DUCKDB_SCRIPT, str(db), str(parquet), ",".join(_symbols()), *models])
    db.unlink()
    return out


def dbt_project(root: Path, parquet: Path) -> Path:
    """The same five models as a dbt project; ``raw_prices`` a view over the Parquet, ``dim_symbol``
    from the sorted symbol list (both models too, so ``dbt build`` makes them)."""
    proj = root / "dbt"
    (proj / "models").mkdir(parents=True)
    quoted = ", ".join(f"('{s}')" for s in _symbols())
    (proj / "models" / "raw_prices.sql").write_text(
        f"{{{{ config(materialized='view') }}}}\nselect * from read_parquet('{parquet}')\n"
    )
    (proj / "models" / "dim_symbol.sql").write_text(
        "{{ config(materialized='table') }}\nselect (row_number() over (order by symbol) - 1)::integer"
        f" as asset_id, symbol from (values {quoted}) v(symbol)\n"
    )
    names = (*ORDER, "raw_prices", "dim_symbol")
    for name in ORDER:
        body = "\n".join(ln for ln in MODELS[name].splitlines() if not ln.startswith("--"))
        body = re.sub(r"\b(from|join) (" + "|".join(names) + r")\b", r"\1 {{ ref('\2') }}", body)
        (proj / "models" / f"{name}.sql").write_text(f"{{{{ config(materialized='table') }}}}\n{body}\n")
    (proj / "dbt_project.yml").write_text(
        "name: anchor\nversion: '1.0'\nprofile: anchor\nmodel-paths: ['models']\n"
    )
    (proj / "profiles.yml").write_text(
        f"anchor:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {proj / 'dbt.duckdb'}\n"
        "      threads: 1\n"
    )
    return proj


def run_dbt(proj: Path, dbt: Path) -> tuple[float, float]:
    """``dbt build`` cold: a fresh database file and no ``target/`` (no partial parse)."""
    (proj / "dbt.duckdb").unlink(missing_ok=True)
    shutil.rmtree(proj / "target", ignore_errors=True)
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(proj),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return _timed([str(dbt), "build", "--project-dir", str(proj)], env=env)


def model_seconds(db: Path, py: str) -> dict[str, float]:
    """Per-model seconds of the latest build, from the build log (``build_models``)."""
    code = (
        "import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); print(json.dumps(dict("
        'con.execute("select model, seconds from build_models where build_id = (select build_id from'
        ' build_runs order by started_at desc limit 1)").fetchall())))'
    )
    out = subprocess.run([py, "-c", code, str(db)], capture_output=True, text=True, check=True).stdout
    return {k: round(v, 3) for k, v in json.loads(out).items()}


# ------------------------------------------------------------------------------ where the time goes


def steps(root: Path, py: str) -> dict[str, object]:
    """One cold ``run_build`` in a fresh process, timed per step of ``features.build.STEPS`` (wall
    and CPU seconds), and the interpreter + import share measured apart."""
    _clean(root)
    code = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from features.build import STEPS, BuildContext
from features.config import load_project
project = load_project(Path(sys.argv[1]))
ctx = BuildContext(project=project, db=project.warehouse_path, quiet=True, run_tests=False)
out = {"imports + load_project": [time.perf_counter() - t0, time.process_time()]}
for step in STEPS:
    c0, p0 = time.perf_counter(), time.process_time()
    step(ctx)
    out[step.__name__] = [time.perf_counter() - c0, time.process_time() - p0]
ctx.con.close()
out["models (build log, wall)"] = {r.model: r.seconds for r in ctx.result.runs}
print(json.dumps(out))
"""
    t0 = time.perf_counter()
    done = subprocess.run([py, "-c", code, str(root)], capture_output=True, text=True, check=True)
    total = time.perf_counter() - t0
    out = json.loads(done.stdout.strip().splitlines()[-1])
    t0 = time.perf_counter()
    subprocess.run([py, "-c", "pass"], check=True)
    out["bare interpreter start"] = time.perf_counter() - t0
    out["process total"] = total
    return {
        k: round(v, 3)
        if isinstance(v, float)
        else [round(x, 3) for x in v]
        if isinstance(v, list)
        else {m: round(s, 3) for m, s in v.items()}
        for k, v in out.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=0, help="0: the shipped 154")
    parser.add_argument("--days", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--fstore", action="append", help="fstore executable(s) to compare (default: this venv's)"
    )
    parser.add_argument("--dbt", type=Path, default=DBT_VENV / "bin" / "dbt")
    parser.add_argument("--steps", action="store_true", help="also time each build step in-process")
    parser.add_argument("--steps-only", action="store_true", help="only the per-step timing (no rounds)")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = parser.parse_args()
    fstores = args.fstore or [str(Path(sys.executable).parent / "fstore")]
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="fstore_anchor_"))
    try:
        _bench(tmp, fstores, args)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _bench(tmp: Path, fstores: list[str], args: argparse.Namespace) -> None:
    if args.symbols:
        raise SystemExit("--symbols other than the shipped universe is not supported yet")
    roots = []
    parquet, rows = make_project(tmp / "p0", args.days)
    for k, exe in enumerate(fstores):
        root = tmp / f"p{k}"
        if k:
            shutil.copytree(tmp / "p0", root, ignore=shutil.ignore_patterns("data", "target"))
            (root / "data" / "raw").mkdir(parents=True)
            os.link(parquet, root / "data" / "raw" / "prices.parquet")
        _timed(
            [exe, "build", "--quiet", "--project", str(root)]
        )  # writes the mapping file; warms the page cache
        roots.append(root)
    if args.steps_only:
        for k, exe in enumerate(fstores):
            print(f"steps fstore[{k}] cold:", json.dumps(steps(roots[k], str(Path(exe).parent / "python"))))
        return
    py = sys.executable
    dbt = args.dbt if args.dbt.exists() else None
    proj = dbt_project(tmp, parquet) if dbt else None
    if dbt and proj:
        run_dbt(proj, dbt)  # warm
    run_duckdb(tmp / "p0", parquet, py)
    print(
        f"# anchor: {len(_symbols())} symbols × {args.days} days = {rows:,} rows; {platform.platform()},"
        f" {os.cpu_count()} cores, python {platform.python_version()},"
        f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()}"
    )
    res: dict[str, list[tuple[float, float]]] = {}
    per_model: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        res.setdefault("duckdb", []).append(run_duckdb(tmp / "p0", parquet, py))
        for k, (exe, root) in enumerate(zip(fstores, roots, strict=True)):
            _clean(root)
            res.setdefault(f"fstore[{k}] cold", []).append(
                _timed([exe, "build", "--quiet", "--project", str(root)])
            )
            per_model[f"fstore[{k}] cold"] = model_seconds(root / "data" / "warehouse.duckdb", py)
            res.setdefault(f"fstore[{k}] ingested (--full-refresh)", []).append(
                _timed([exe, "build", "--quiet", "--full-refresh", "--project", str(root)])
            )
            per_model[f"fstore[{k}] ingested"] = model_seconds(root / "data" / "warehouse.duckdb", py)
            res.setdefault(f"fstore[{k}] no-op", []).append(
                _timed([exe, "build", "--quiet", "--project", str(root)])
            )
        if dbt and proj:
            res.setdefault("dbt build", []).append(run_dbt(proj, dbt))
    med = {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in res.items()
    }
    base = med["duckdb"]
    print("| run | wall s (median) | CPU s (median) | wall / duckdb | CPU / duckdb | wall / dbt |")
    print("|---|---|---|---|---|---|")
    for k, (w, c) in med.items():
        vs_dbt = f"{w / med['dbt build'][0]:.3f}" if "dbt build" in med else "—"
        print(f"| {k} | {w:.3f} | {c:.3f} | {w / base[0]:.3f} | {c / base[1]:.3f} | {vs_dbt} |")
    if not dbt:
        print(
            f"dbt: skipped, {args.dbt} not found (python -m venv {DBT_VENV} && {DBT_VENV}/bin/pip install dbt-core dbt-duckdb)"
        )
    else:
        version = subprocess.run([str(dbt), "--version"], capture_output=True, text=True).stdout
        print(
            "dbt:",
            "; ".join(ln.strip(" -") for ln in version.splitlines() if "installed" in ln or "duckdb" in ln),
        )
    print("rounds (wall s):", json.dumps({k: [round(w, 3) for w, _ in v] for k, v in res.items()}))
    print("per model, last round (s):", json.dumps(per_model))
    if args.steps:
        for k, exe in enumerate(fstores):
            print(f"steps fstore[{k}] cold:", json.dumps(steps(roots[k], str(Path(exe).parent / "python"))))
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
