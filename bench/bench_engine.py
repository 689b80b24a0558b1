"""Benchmark the model engine; prints figures (paste them into docs/benchmarks.md "## Model engine").

    .venv/bin/python bench/bench_engine.py              # everything
    .venv/bin/python bench/bench_engine.py --only overhead,noop,incremental,dbt
    .venv/bin/python bench/bench_engine.py --only plus_one_day --size large --compare ../baseline

overhead     full build of the default project's models through fstore vs the same statements run
             directly through the duckdb Python API in one process (same warehouse, same inputs)
noop         `fstore build` with nothing changed, process start included: default project and a
             generated 200-model project
incremental  after appending one day for every symbol: incremental refresh vs full build, on a
             generated all-incremental feature project (154 assets × ~10 years) and on the default
             project as shipped (every model incremental), wall and CPU seconds, median of --repeat
plus_one_day the default-project half of `incremental` alone, at --size default (154 symbols × 10
             years) or large (1,000 × 20), for this checkout and each --compare checkout (its own
             sql/, library and .venv/bin/python: a "before" measured in the same run), interleaved;
             with CPU seconds per model of the refresh
startup      `fstore --help` and a no-op build in fresh processes, for this checkout and each
             --compare checkout, interleaved, next to a bare interpreter and `import duckdb`
dbt          dbt-core + dbt-duckdb in their own venv (/tmp/dbtvenv) on the same SQL models: full
             build and no-op; skipped with a note when that venv is missing
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
FSTORE = str(Path(PY).parent / "fstore")
DBT_VENV = Path("/tmp/dbtvenv")


def _median(fn: Callable[[], float], repeat: int) -> tuple[float, list[float]]:
    times = [fn() for _ in range(repeat)]
    return statistics.median(times), times


def default_project(root: Path, years: float = 10.0, n_symbols: int = 0) -> Path:
    """A copy of this repo's project: shipped symbols (or ``n_symbols`` in all: the shipped ones and
    SYN0000… stocks spread over the sector sub-categories), sql/ and features/library, synthetic market."""
    (root / "config").mkdir(parents=True)
    symbols = json.loads((REPO / "config" / "symbols.json").read_text())
    if n_symbols:
        shipped = {s for group in ("sectors", "etfs", "crypto") for v in symbols[group].values() for s in v}
        subs = list(symbols["sectors"])
        for i in range(n_symbols - len(shipped)):
            symbols["sectors"][subs[i % len(subs)]].append(f"SYN{i:04d}")
    (root / "config" / "symbols.json").write_text(json.dumps(symbols, indent=1))
    shutil.copytree(REPO / "sql", root / "sql")
    shutil.copytree(
        REPO / "features" / "library", root / "library", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "config" / "project.toml").write_text(
        f'[paths]\npython_models = ["library"]\n[synthetic]\nyears = {years}\n'
    )
    return root


def generated_project(root: Path, n_models: int = 200) -> Path:
    """``n_models`` SQL models in a layered DAG (every 10th a view), shipped symbols, 2-year market."""
    (root / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "symbols.json", root / "config" / "symbols.json")
    (root / "config" / "project.toml").write_text("[paths]\npython_models = []\n[synthetic]\nyears = 2\n")
    sql = root / "sql"
    sql.mkdir()
    (sql / "g000.sql").write_text(
        "-- materialized: table\nselect d.asset_id, p.ts, p.close from raw_prices p join dim_symbol d using (symbol)\n"
    )
    for i in range(1, n_models):
        a, b = (i - 1) // 2, max(0, i - 7)
        mat = "view" if i % 10 == 0 else "table"
        test = "-- test: not_null(asset_id, ts)\n" if i % 10 == 5 else ""
        (sql / f"g{i:03d}.sql").write_text(
            f"-- materialized: {mat}\n-- tags: layer{i % 5}\n{test}"
            f"select x.asset_id, x.ts, x.close,\n"
            f"    avg(x.close) over (partition by x.asset_id order by x.ts rows between {i % 20} preceding"
            f" and current row) as f\n"
            f"from g{a:03d} x join g{b:03d} y on y.asset_id = x.asset_id and y.ts = x.ts\n"
        )
    return root


CPU: list[float] = []  # user+sys seconds of the last _fstore child (contention-proof companion to wall)


def _fstore(root: Path, *args: str) -> float:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([FSTORE, *args, "--project", str(root)], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[:] = [after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime]
    return wall


# --------------------------------------------------------------------------- overhead


def bench_overhead(tmp: Path, repeat: int) -> dict[str, object]:
    """fstore full build (no tests) vs executing the same statements directly, same process."""
    import duckdb

    from features.config import load_project
    from features.models.discovery import discover, load_python_function
    from features.models.runner import build_models
    from features.models.state import relations
    from features.models.validate import validate

    root = default_project(tmp / "overhead")
    _fstore(root, "build", "--quiet", "--no-tests")  # ingest + first build (untimed)
    project = load_project(root)
    db = project.warehouse_path
    con = duckdb.connect(str(db))
    dag = validate(discover(project), relations(con))
    funcs = {n: load_python_function(m) for n, m in dag.models.items() if m.kind == "python"}

    cpu: dict[str, list[float]] = {"fstore": [], "direct": []}

    def fstore_full() -> float:
        t0, c0 = time.perf_counter(), time.process_time()
        build_models(con, project, dag, full_refresh=True, run_tests=False)
        cpu["fstore"].append(time.process_time() - c0)
        return time.perf_counter() - t0

    def direct() -> float:
        t0, c0 = time.perf_counter(), time.process_time()
        for name in dag.order:
            m = dag.models[name]
            if m.kind == "python":
                frames = {r.name: con.sql(f"select * from {r.name}").pl() for r in m.refs}
                con.register("_out", funcs[name](**frames).to_arrow())
                con.execute(f"create or replace table {name} as select * from _out")
                con.unregister("_out")
            elif m.materialized == "view":
                con.execute(f"create or replace view {name} as {m.sql}")
            else:
                con.execute(f"create or replace table {name} as {m.sql}")
        cpu["direct"].append(time.process_time() - c0)
        return time.perf_counter() - t0

    fstore_full(), direct()  # warm both (page cache, imports)
    cpu["fstore"].clear(), cpu["direct"].clear()
    a_times, d_times = [], []
    for _ in range(repeat):  # interleaved, so background load hits both alike
        a_times.append(fstore_full())
        d_times.append(direct())
    rows = con.execute("select count(*) from stg_prices").fetchall()[0][0]
    con.close()
    fs, dr = statistics.median(a_times), statistics.median(d_times)
    return {
        "models": len(dag.order),
        "stg_prices rows": rows,
        "fstore full build s (median)": round(fs, 3),
        "direct duckdb s (median)": round(dr, 3),
        "ratio": round(fs / dr, 3),
        "cpu s (median) fstore / direct": [round(statistics.median(cpu[k]), 3) for k in ("fstore", "direct")],
        "cpu ratio": round(statistics.median(cpu["fstore"]) / statistics.median(cpu["direct"]), 3),
        "fstore runs": [round(t, 3) for t in a_times],
        "direct runs": [round(t, 3) for t in d_times],
    }


# --------------------------------------------------------------------------- no-op


def bench_noop(tmp: Path, repeat: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for label, root in (
        ("default project (7 models)", default_project(tmp / "noop_default")),
        ("generated 200-model project", generated_project(tmp / "noop_200")),
    ):
        full = _fstore(root, "build", "--quiet")
        _fstore(root, "build", "--quiet")  # warm .pyc and the parse cache
        cpus: list[float] = []

        def noop(r: Path = root, cpus: list[float] = cpus) -> float:
            wall = _fstore(r, "build", "--quiet")
            cpus.append(CPU[0])
            return wall

        med, times = _median(noop, repeat)
        out[label] = {
            "first full build s (incl. ingest)": round(full, 3),
            "no-op s (median, process start included)": round(med, 3),
            "no-op cpu s (median, user+sys of the process)": round(statistics.median(cpus), 3),
            "runs": [round(t, 3) for t in times],
        }
    t0 = time.perf_counter()
    subprocess.run([PY, "-c", "import duckdb"], check=True)
    out["bare `python -c 'import duckdb'` s"] = round(time.perf_counter() - t0, 3)
    out["load average at the end"] = os.getloadavg()
    code = "import sys, features.cli, features.build, features.cli.build; print('torch' in sys.modules)"
    out["build imports torch"] = subprocess.run(
        [PY, "-c", code], capture_output=True, text=True
    ).stdout.strip()
    return out


def bench_startup(tmp: Path, repeat: int) -> dict[str, object]:
    """`fstore --help` and a no-op `fstore build --quiet` (default project, nothing changed), each a
    fresh process, for this checkout and each --compare checkout (its own venv and project),
    interleaved; medians of wall and CPU seconds (user + sys of the child), next to the floors: a
    bare interpreter and `python -c "import duckdb"` (what any build pays before fstore's own work)."""
    checkouts = [REPO, *(Path(c).resolve() for c in OPTIONS["compare"])]  # type: ignore[attr-defined]
    runs: dict[str, list[tuple[float, float]]] = {}
    cmds: dict[str, list[str]] = {}
    for k, checkout in enumerate(checkouts):
        bin_dir = checkout / ".venv" / "bin"
        root = tmp / f"startup{k}"
        subprocess.run(
            [
                str(bin_dir / "python"),
                "-c",
                f"import sys; sys.path.insert(0, {str(checkout / 'bench')!r});"
                f" import bench_engine as b; from pathlib import Path; b.REPO = Path({str(checkout)!r});"
                f" b.default_project(Path({str(root)!r}))",
            ],
            check=True,
        )
        subprocess.run(
            [str(bin_dir / "fstore"), "build", "--quiet", "--project", str(root)],
            check=True,
            capture_output=True,
        )
        cmds[f"[{k}] fstore --help"] = [str(bin_dir / "fstore"), "--help"]
        cmds[f"[{k}] no-op fstore build"] = [
            str(bin_dir / "fstore"),
            "build",
            "--quiet",
            "--project",
            str(root),
        ]
    cmds["python -c pass"] = [PY, "-c", "pass"]
    cmds["python -c 'import duckdb'"] = [PY, "-c", "import duckdb"]
    for cmd in cmds.values():  # warm .pyc files and the parse cache
        subprocess.run(cmd, check=True, capture_output=True)
    for _ in range(repeat):
        for label, cmd in cmds.items():
            import resource

            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            runs.setdefault(label, []).append((wall, cpu))
    med = statistics.median
    return {
        "checkouts": {f"[{k}]": str(c) for k, c in enumerate(checkouts)},
        "median wall s / cpu s": {
            label: [round(med(w for w, _ in v), 3), round(med(c for _, c in v), 3)]
            for label, v in runs.items()
        },
        "load average at the end": os.getloadavg(),
    }


# --------------------------------------------------------------------------- incremental

INCR_MODELS = {
    "feat.sql": """-- materialized: incremental
-- unique_key: asset_id, ts
-- time_column: ts
-- partition_by: asset_id
select asset_id, ts, close,
    ln(close / lag(close) over w) as ret_1d,
    ln(close / lag(close, 20) over w) as ret_20d,
    avg(close) over (partition by asset_id order by ts rows between 59 preceding and current row) as sma_60,
    stddev(close) over (partition by asset_id order by ts rows between 19 preceding and current row) as sd_20
from prices
window w as (partition by asset_id order by ts)
""",
    "feat2.sql": """-- materialized: incremental
-- unique_key: asset_id, ts
-- time_column: ts
-- partition_by: asset_id
with z as (select asset_id, ts, ret_1d, sd_20, ret_1d - lag(ret_1d) over (partition by asset_id order by ts) as dret
           from feat)
select asset_id, ts, dret,
    avg(dret) over (partition by asset_id order by ts rows between 9 preceding and current row) as dret_10,
    max(sd_20) over (partition by asset_id order by ts rows between 29 preceding and current row) as sd_max_30
from z
""",
    "label.sql": """-- materialized: incremental
-- unique_key: asset_id, ts
-- time_column: ts
-- partition_by: asset_id
-- label: true
select asset_id, ts, ln(lead(close, 5) over (partition by asset_id order by ts) / close) as fwd_5d
from prices
""",
    "dataset.sql": """-- materialized: incremental
-- unique_key: asset_id, ts
-- time_column: ts
-- partition_by: asset_id
select f.asset_id, f.ts, f.ret_1d, f.ret_20d, f.close / f.sma_60 - 1 as sma_gap, f2.dret_10, f2.sd_max_30, l.fwd_5d
from feat f
join feat2 f2 using (asset_id, ts)
join label l using (asset_id, ts)
""",
}


def bench_incremental(tmp: Path, repeat: int) -> dict[str, object]:
    import duckdb

    from features.config import load_project
    from features.models.discovery import discover
    from features.models.runner import build_models
    from features.models.state import relations
    from features.models.validate import validate

    root = tmp / "incr"
    (root / "config").mkdir(parents=True)
    (root / "config" / "project.toml").write_text("[paths]\npython_models = []\n")
    (root / "sql").mkdir()
    for name, text in INCR_MODELS.items():
        (root / "sql" / name).write_text(text)
    project = load_project(root)
    n_assets, n_days = 154, 2520
    out: dict[str, object] = {}
    inc_t, full_t, inc_c, full_c = [], [], [], []
    for r in range(repeat):
        con = duckdb.connect(str(root / f"w{r}.duckdb"))
        con.execute(
            f"create table prices as select a.range::integer as asset_id, date '2016-01-01' + d.range::integer as ts,"
            f" 100 * exp(sum(0.01 * sin(a.range * 7 + d.range * 0.37)) over (partition by a.range order by d.range))"
            f" as close from range({n_assets}) a, range({n_days}) d"
        )
        dag = validate(discover(project), relations(con))
        t0, c0 = time.perf_counter(), time.process_time()
        build_models(con, project, dag, run_tests=False)
        full_t.append(time.perf_counter() - t0)
        full_c.append(time.process_time() - c0)
        con.execute(
            "insert into prices select asset_id, ts + 1, close * 1.001 from prices"
            " where ts = (select max(ts) from prices)"
        )
        t0, c0 = time.perf_counter(), time.process_time()
        res = build_models(con, project, dag, run_tests=False)
        inc_t.append(time.perf_counter() - t0)
        inc_c.append(time.process_time() - c0)
        assert all(run.action == "incremental" for run in res.runs), res.runs
        con.close()
    out["generated all-incremental project"] = {
        "rows": n_assets * n_days,
        "full build s (median)": round(statistics.median(full_t), 3),
        "incremental after +1 day s (median)": round(statistics.median(inc_t), 3),
        "ratio": round(statistics.median(inc_t) / statistics.median(full_t), 3),
        "full build cpu s (median)": round(statistics.median(full_c), 3),
        "incremental cpu s (median)": round(statistics.median(inc_c), 3),
        "cpu ratio": round(statistics.median(inc_c) / statistics.median(full_c), 3),
    }

    out["default project"] = plus_one_day(tmp, repeat)
    return out


SIZES = {"default": (0, 10.0), "large": (1000, 20.0)}  # name -> (symbols in all, 0 = shipped; years)
OPTIONS: dict[str, object] = {"size": "default", "compare": [], "settle": 0}  # set by main()


def plus_one_day(tmp: Path, repeat: int) -> dict[str, object]:
    """The default project as shipped (every model incremental) at ``--size``: a full build
    (``--full-refresh``) vs the build after appending one day for every symbol to raw_prices (as
    ingestion would), in one process per checkout (this one and each ``--compare`` checkout, each
    with its own sql/, library and venv), all of them interleaved round by round, after an untimed
    warm-up round; wall and CPU seconds (user + sys of the whole process, DuckDB's threads
    included), median of ``repeat`` rounds, and seconds per model."""
    size = str(OPTIONS["size"])
    checkouts = [REPO, *(Path(c).resolve() for c in OPTIONS["compare"])]  # type: ignore[attr-defined]
    workers = []
    for k, checkout in enumerate(checkouts):
        py = checkout / ".venv" / "bin" / "python"
        workers.append(
            subprocess.Popen(
                [
                    str(py),
                    __file__,
                    "--worker",
                    str(checkout),
                    "--size",
                    size,
                    "--dir",
                    str(tmp / f"plus{k}"),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    load_before = os.getloadavg()
    rounds: list[list[dict[str, object]]] = [[] for _ in workers]
    steady: list[list[dict[str, object]]] = [[] for _ in workers]
    try:
        for _ in range(repeat + 1):  # the first round of each worker is its warm-up
            for k, w in enumerate(workers):
                assert w.stdin is not None and w.stdout is not None
                w.stdin.write("round\n")
                w.stdin.flush()
                rounds[k].append(json.loads(w.stdout.readline()))
        settle = int(OPTIONS["settle"])  # type: ignore[call-overload]
        if settle:
            for w in workers:
                assert w.stdin is not None and w.stdout is not None
                w.stdin.write(f"settle {settle}\n")
                w.stdin.flush()
            for w in workers:
                assert w.stdout is not None
                w.stdout.readline()
            for _ in range(repeat):
                for k, w in enumerate(workers):
                    assert w.stdin is not None and w.stdout is not None
                    w.stdin.write("steady\n")
                    w.stdin.flush()
                    steady[k].append(json.loads(w.stdout.readline()))
    finally:
        for w in workers:
            if w.stdin is not None:
                w.stdin.close()
            w.wait()
    med = statistics.median
    out: dict[str, object] = {"size": size, "load average before / after": [load_before, os.getloadavg()]}
    for checkout, done, later in zip(checkouts, rounds, steady, strict=True):
        r = done[1:]
        fw, fc = [x["full_w"] for x in r], [x["full_c"] for x in r]
        iw, ic = [x["inc_w"] for x in r], [x["inc_c"] for x in r]
        models = list(r[-1]["inc_models"])  # type: ignore[arg-type]
        out[str(checkout)] = {
            "rows (stg_prices)": r[-1]["rows"],
            "rounds": repeat,
            "full build wall s / cpu s (median)": [round(med(fw), 3), round(med(fc), 3)],
            "after +1 day wall s / cpu s (median)": [round(med(iw), 3), round(med(ic), 3)],
            "ratio wall / cpu (of the medians)": [round(med(iw) / med(fw), 4), round(med(ic) / med(fc), 4)],
            "cpu ratio per round": [round(i / f, 4) for i, f in zip(ic, fc, strict=True)],
            "per model after +1 day, median wall s / cpu s / share of the refresh's cpu": {
                m: [
                    round(med([x["inc_models"][m][0] for x in r]), 4),  # type: ignore[index]
                    round(med([x["inc_models"][m][1] for x in r]), 4),  # type: ignore[index]
                    round(med([x["inc_models"][m][1] for x in r]) / med(ic), 3),  # type: ignore[index]
                ]
                for m in models
            },
            **(
                {
                    f"after {OPTIONS['settle']} more days of refreshes: +1 day wall s / cpu s, ratio cpu": [
                        round(med([x["inc_w"] for x in later]), 3),  # type: ignore[misc]
                        round(med([x["inc_c"] for x in later]), 3),  # type: ignore[misc]
                        round(med([x["inc_c"] for x in later]) / med(fc), 4),  # type: ignore[misc]
                    ],
                    "per model, median cpu s (after those days)": {
                        m: round(med([x["inc_models"][m][1] for x in later]), 4)  # type: ignore[index]
                        for m in models
                    },
                }
                if later
                else {}
            ),
            "per model full build, median wall s": {
                m: round(med([x["full_models"][m][0] for x in r]), 3)  # type: ignore[index]
                for m in models
            },
        }
    return out


def worker(checkout: Path, size: str, folder: Path) -> None:
    """One checkout's side of :func:`plus_one_day`: build once, then one round per stdin line."""
    global REPO
    REPO = checkout  # the project's models come from the checkout being measured
    # and its package: a checkout may share another's venv (its editable install points elsewhere)
    sys.path.insert(0, str(checkout))
    os.environ["PYTHONPATH"] = str(checkout)
    import duckdb

    from features.config import load_project
    from features.models.discovery import discover
    from features.models.runner import build_models
    from features.models.state import relations
    from features.models.validate import validate
    from features.warehouse import record_source_version

    n_symbols, years = SIZES[size]
    root = default_project(folder, years, n_symbols)
    fstore = str(Path(sys.executable).parent / "fstore")
    subprocess.run(
        [fstore, "build", "--quiet", "--no-tests", "--project", str(root)], check=True, capture_output=True
    )
    project = load_project(root)
    con = duckdb.connect(str(project.warehouse_path))
    dag = validate(discover(project), relations(con))
    cpu: dict[str, float] = {}

    def report(event: str, run: object) -> None:
        name = getattr(run, "model", "")
        if event == "start":
            cpu[name] = time.process_time()
        elif event == "done" and name in cpu:
            cpu[name] = time.process_time() - cpu[name]

    def plus_one(k: object) -> None:
        # one new day for every symbol: the day after the latest, each symbol's last bar repeated
        con.execute(
            "insert into raw_prices select symbol, (select max(ts) from raw_prices) + 1, open, high, low,"
            " close, volume from raw_prices qualify row_number() over (partition by symbol order by ts desc) = 1"
        )
        record_source_version(con, "raw_prices", f"bench-plus-one-day-{k}")

    for k, line in enumerate(sys.stdin):
        if line.startswith("settle"):  # refreshes only, untimed: the days after a full build
            for j in range(int(line.split()[1])):
                plus_one(f"{k}-{j}")
                build_models(con, project, dag, run_tests=False)
            print("{}", flush=True)
            continue
        if line.startswith("steady"):  # one timed refresh, no full build before it
            plus_one(k)
            cpu.clear()
            c0, t0 = time.process_time(), time.perf_counter()
            res = build_models(con, project, dag, run_tests=False, report=report)
            ic, iw = time.process_time() - c0, time.perf_counter() - t0
            models = {r.model: [r.seconds, cpu.get(r.model, 0.0)] for r in res.runs}
            print(json.dumps({"inc_w": iw, "inc_c": ic, "inc_models": models}), flush=True)
            continue
        cpu.clear()
        c0, t0 = time.process_time(), time.perf_counter()
        full = build_models(con, project, dag, full_refresh=True, run_tests=False, report=report)
        fc, fw = time.process_time() - c0, time.perf_counter() - t0
        full_models = {r.model: [r.seconds, cpu.get(r.model, 0.0)] for r in full.runs}
        plus_one(k)
        cpu.clear()
        c0, t0 = time.process_time(), time.perf_counter()
        res = build_models(con, project, dag, run_tests=False, report=report)
        ic, iw = time.process_time() - c0, time.perf_counter() - t0
        actions = {r.model: r.action for r in res.runs}
        assert all(a == "incremental" for m, a in actions.items() if m != "training_features"), actions
        rows = con.execute("select count(*) from stg_prices").fetchall()[0][0]
        print(
            json.dumps(
                {
                    "full_w": fw,
                    "full_c": fc,
                    "inc_w": iw,
                    "inc_c": ic,
                    "rows": rows,
                    "full_models": full_models,
                    "inc_models": {r.model: [r.seconds, cpu.get(r.model, 0.0)] for r in res.runs},
                }
            ),
            flush=True,
        )
    con.close()


# --------------------------------------------------------------------------- dbt


def bench_dbt(tmp: Path, repeat: int) -> dict[str, object]:
    dbt = DBT_VENV / "bin" / "dbt"
    if not dbt.exists():
        return {
            "skipped": f"{dbt} not installed (python -m venv {DBT_VENV} && {DBT_VENV}/bin/pip install dbt-core dbt-duckdb)"
        }
    import duckdb

    # same SQL models (the generated 200-model project), sources copied from an fstore-built warehouse
    root = generated_project(tmp / "dbt_src")
    _fstore(root, "build", "--quiet", "--no-tests")
    proj = tmp / "dbt_proj"
    (proj / "models").mkdir(parents=True)
    db = proj / "dbt.duckdb"
    src = duckdb.connect(str(db))
    src.execute(f"attach '{root / 'data' / 'warehouse.duckdb'}' as f (read_only)")
    for t in ("raw_prices", "dim_symbol"):
        src.execute(f"create table {t} as select * from f.{t}")
    src.close()
    for path in sorted((root / "sql").glob("*.sql")):
        lines = path.read_text().splitlines()
        mat = next(ln.split(":")[1].strip() for ln in lines if ln.startswith("-- materialized"))
        body = "\n".join(ln for ln in lines if not ln.startswith("--"))
        for other in ("raw_prices", "dim_symbol"):
            body = body.replace(f" {other} ", f" {{{{ source('main', '{other}') }}}} ")
        import re

        body = re.sub(r"\b(g\d{3})\b(?! as)", r"{{ ref('\1') }}", body)
        body = re.sub(r"from \{\{ ref\('(g\d{3})'\) \}\} x", r"from {{ ref('\1') }} x", body)
        (proj / "models" / path.name).write_text(f"{{{{ config(materialized='{mat}') }}}}\n{body}\n")
    (proj / "models" / "sources.yml").write_text(
        "version: 2\nsources:\n  - name: main\n    schema: main\n    tables:\n      - name: raw_prices\n      - name: dim_symbol\n"
    )
    (proj / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0'\nprofile: bench\nmodel-paths: ['models']\n"
    )
    (proj / "profiles.yml").write_text(
        f"bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {db}\n      threads: 1\n"
    )
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(proj),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }

    def run_dbt(*args: str) -> float:
        t0 = time.perf_counter()
        done = subprocess.run(
            [str(dbt), *args, "--project-dir", str(proj)], env=env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(done.stdout[-2000:])
        return time.perf_counter() - t0

    dbt_full, _ = _median(lambda: run_dbt("run"), repeat)
    # dbt has no change detection of its own: the closest no-op is `dbt run` on state:modified (nothing)
    run_dbt("compile")
    shutil.copytree(proj / "target", proj / "state", dirs_exist_ok=True)
    dbt_noop, _ = _median(
        lambda: run_dbt("run", "--select", "state:modified", "--state", str(proj / "state")), repeat
    )
    fs_full, _ = _median(lambda: _fstore(root, "build", "--quiet", "--no-tests", "--full-refresh"), repeat)
    fs_noop, _ = _median(lambda: _fstore(root, "build", "--quiet", "--no-tests"), repeat)
    lines = subprocess.run([str(dbt), "--version"], capture_output=True, text=True).stdout.splitlines()
    version = [ln.strip(" -") for ln in lines if "installed" in ln or ln.strip(" -").startswith("duckdb")]
    return {
        "dbt version": "; ".join(version),
        "models": 200,
        "dbt run (full) s": round(dbt_full, 3),
        "fstore build --full-refresh s": round(fs_full, 3),
        "full ratio fstore/dbt": round(fs_full / dbt_full, 3),
        "dbt run -s state:modified (no-op) s": round(dbt_noop, 3),
        "fstore no-op s": round(fs_noop, 3),
        "no-op ratio fstore/dbt": round(fs_noop / dbt_noop, 3),
    }


BENCHES = {
    "overhead": bench_overhead,
    "noop": bench_noop,
    "incremental": bench_incremental,
    "plus_one_day": plus_one_day,
    "startup": bench_startup,
    "dbt": bench_dbt,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", choices=sorted(SIZES), default="default", help="incremental: project size")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        help="incremental: another checkout (with its own .venv) measured in the same run, interleaved",
    )
    parser.add_argument(
        "--settle",
        type=int,
        default=0,
        help="plus_one_day: then N untimed daily refreshes and --repeat timed ones (no full build between)",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.size, args.dir)
        return
    OPTIONS.update(size=args.size, compare=args.compare, settle=args.settle)
    print(
        f"# {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    with tempfile.TemporaryDirectory(prefix="fstore_bench_") as tmp:
        for name in args.only.split(","):
            t0 = time.perf_counter()
            result = BENCHES[name](Path(tmp), args.repeat)
            print(f"## {name} ({time.perf_counter() - t0:.0f}s)")
            print(json.dumps(result, indent=2, default=str))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
