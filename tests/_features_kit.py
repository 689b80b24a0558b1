"""Test helpers for the feature models: tiny price sets and a direct model runner.

``run_models`` executes the shipped SQL files and Python models on a DuckDB connection in
dependency order (refs found with sqlglot, like the engine does) without the build engine, so the
feature definitions are tested on their own. Reference computations live in the tests.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Iterable
from pathlib import Path

import duckdb
import numpy as np
import sqlglot
from sqlglot import exp

REPO = Path(__file__).resolve().parent.parent
# the required feature columns, in training_set order
REQUIRED = [
    "ret_1d",
    "ret_5d",
    "ret_20d",
    "vol_20",
    "sma_ratio_20",
    "rsi_14",
    "volume_z_20",
    "hl_range",
    "ppo",
    "ppo_signal",
    "ret_1d_cs_rank",
]
SQL_DIR = REPO / "sql"
LIBRARY_DIR = REPO / "features" / "library"
SOURCES = ("raw_prices", "dim_symbol", "feature_params")


def _sql_models(sql_dir: Path) -> dict[str, tuple[str, str, set[str]]]:
    models = {}
    for path in sorted(sql_dir.rglob("*.sql")):
        text = path.read_text()
        materialized = "table"
        for line in text.splitlines():
            if line.startswith("-- materialized:"):
                materialized = line.split(":", 1)[1].strip()
        query = sqlglot.parse_one(text, read="duckdb")
        ctes = {c.alias_or_name for c in query.find_all(exp.CTE)}
        refs = {
            t.name
            for t in query.find_all(exp.Table)
            if isinstance(t.this, exp.Identifier) and t.name not in ctes
        }
        models[path.stem] = ("sql", text.strip().rstrip(";"), refs, materialized)
    return models


def _python_models(library: Path) -> dict[str, tuple]:
    models = {}
    for path in sorted(library.glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"_kit_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, value in vars(module).items():
            meta = getattr(value, "__fstore_model__", None)
            if meta is None or name.startswith("_"):
                continue
            params = tuple(inspect.signature(value).parameters)
            models[meta.name] = ("python", value, set(params), "table")
    return models


def run_models(con: duckdb.DuckDBPyConnection, only: Iterable[str] | None = None) -> list[str]:
    """Build every shipped model on ``con`` in dependency order; returns the order."""
    models = {**_sql_models(SQL_DIR), **_python_models(LIBRARY_DIR)}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if name not in models or state.get(name) == 2:
            return
        assert state.get(name) != 1, f"cycle at {name}"
        state[name] = 1
        for ref in sorted(models[name][2]):
            visit(ref)
        state[name] = 2
        order.append(name)

    for name in sorted(models) if only is None else only:
        visit(name)
    for name in order:
        kind, body, _refs, materialized = models[name]
        if kind == "sql":
            what = "view" if materialized == "view" else "table"
            con.execute(f"drop view if exists {name}; drop table if exists {name}")
            con.execute(f"create {what} {name} as {body}")
        else:
            params = [p for p in inspect.signature(body).parameters if p != "this"]  # this: own rows
            frames = {p: con.sql(f"select * from {p}").pl() for p in params}
            out = body(**frames)
            con.register("_kit_out", out.to_arrow())
            con.execute(f"create or replace table {name} as select * from _kit_out")
            con.unregister("_kit_out")
    return order


def categories() -> dict[str, str]:
    """Each symbol of the shipped config/symbols.json → its category (sectors, etfs, crypto)."""
    import json

    groups = json.loads((REPO / "config" / "symbols.json").read_text())
    return {
        symbol: category
        for category in ("sectors", "etfs", "crypto")
        for members in groups[category].values()
        for symbol in members
    }


def make_dim_symbol(con: duckdb.DuckDBPyConnection, symbols: Iterable[str]) -> None:
    """A minimal dim_symbol: sorted symbols numbered from 0 (as the first mapping does), each with its
    category from config/symbols.json (``sectors`` for a symbol not there)."""
    names = sorted(set(symbols))
    known = categories()
    con.execute(
        "create or replace table dim_symbol as select (row_number() over (order by s) - 1)::integer "
        "as asset_id, s as symbol, c as category, 'Test' as subcategory, true as is_active "
        "from (select unnest(?::varchar[]) as s, unnest(?::varchar[]) as c)",
        [names, [known.get(n, "sectors") for n in names]],
    )


def make_feature_params(con: duckdb.DuckDBPyConnection, horizon: int = 1, **settings: object) -> None:
    """The one-row ``feature_params`` a build writes: ``[features]`` defaults, ``horizon`` and ``settings``."""
    from dataclasses import asdict

    from features.config import FeaturesConfig

    params = {**asdict(FeaturesConfig()), "horizon": horizon, **settings}
    types = {bool: "boolean", int: "integer", float: "double", str: "varchar"}
    columns = ", ".join(f"?::{types[type(v)]} as {k}" for k, v in params.items())
    con.execute(f"create or replace table feature_params as select {columns}", list(params.values()))


def real_shaped_prices(seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Price series shaped like real data, one dict of columns per symbol.

    Two years (2022-2023). AAPL: weekdays with random gaps; BTCUSD and ETHUSD: every day
    (weekends); MSFT: lists late; SPY: close only; KO: flat stretches (zero changes, constant volume)
    and a missing volume.
    """
    rng = np.random.default_rng(seed)
    all_days = np.arange(np.datetime64("2022-01-03"), np.datetime64("2023-12-31"))
    weekdays = all_days[((all_days.astype(np.int64) + 3) % 7) < 5]

    def bars(days: np.ndarray, vol: float = 0.02, start: float = 100.0) -> dict[str, np.ndarray]:
        n = len(days)
        close = start * np.exp(np.cumsum(rng.normal(0, vol, n)))
        open_ = close * np.exp(rng.normal(0, vol / 3, n))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol / 2, n)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol / 2, n)))
        volume = np.round(rng.lognormal(13, 0.4, n))
        return {"ts": days, "open": open_, "high": high, "low": low, "close": close, "volume": volume}

    gappy = np.sort(rng.choice(weekdays, size=len(weekdays) - 50, replace=False))
    data = {
        "AAPL": bars(gappy),
        "BTCUSD": bars(all_days, vol=0.04, start=30000.0),
        "MSFT": bars(weekdays[140:], start=250.0),
    }
    spy = bars(weekdays, vol=0.01, start=400.0)
    data["SPY"] = {"ts": spy["ts"], "close": spy["close"]}
    ko = bars(weekdays, vol=0.01, start=60.0)
    ko["close"][50:80] = ko["close"][50]  # 30 unchanged closes: RSI 50, zero returns
    ko["open"][50:80] = ko["high"][50:80] = ko["low"][50:80] = ko["close"][50]
    ko["volume"][100:125] = 1_000_000.0  # constant volume: std 0 -> volume_z_20 NULL
    ko["volume"][200] = np.nan  # a missing volume
    data["KO"] = ko
    data["ETHUSD"] = bars(all_days, vol=0.05, start=2000.0)
    return data


def load_raw_prices(con: duckdb.DuckDBPyConnection, data: dict[str, dict[str, np.ndarray]]) -> None:
    """Write ``data`` as raw_prices (missing columns NULL, NaN volume NULL)."""
    con.execute(
        "create or replace table raw_prices (symbol VARCHAR, ts DATE, open DOUBLE, high DOUBLE, "
        "low DOUBLE, close DOUBLE, volume DOUBLE)"
    )
    import pyarrow as pa

    for symbol, cols in data.items():
        n = len(cols["ts"])
        table = {"symbol": pa.array([symbol] * n), "ts": pa.array(cols["ts"].astype("datetime64[D]"))}
        for name in ("open", "high", "low", "close", "volume"):
            values = cols.get(name)
            table[name] = pa.nulls(n, pa.float64()) if values is None else pa.array(values, from_pandas=True)
        con.register("_kit_in", pa.table(table))
        con.execute("insert into raw_prices select * from _kit_in")
        con.unregister("_kit_in")


def feature_frame(con: duckdb.DuckDBPyConnection, symbol: str, columns: list[str]) -> dict[str, np.ndarray]:
    """training_set columns of one symbol as float arrays (NULL -> NaN), ordered by ts."""
    sel = ", ".join(f"{c}::double as {c}" for c in columns)
    frame = con.sql(f"select {sel} from training_set where symbol = ? order by ts", params=[symbol]).pl()
    return {c: frame[c].to_numpy().astype(float) for c in columns}


def write_csv_files(raw_dir: Path, data: dict[str, dict[str, np.ndarray]]) -> None:
    """One CSV per symbol (exact float repr; NaN → empty field; close-only series keep 2 columns)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for symbol, cols in data.items():
        names = [n for n in ("open", "high", "low", "close", "volume") if n in cols]
        lines = ["Date," + ",".join(n.capitalize() for n in names)]
        for i, ts in enumerate(cols["ts"]):
            values = ["" if np.isnan(cols[n][i]) else repr(float(cols[n][i])) for n in names]
            lines.append(f"{ts}," + ",".join(values))
        (raw_dir / f"{symbol}.csv").write_text("\n".join(lines) + "\n")


def build_project_with_engine(
    root: Path, data: dict[str, dict[str, np.ndarray]], horizon: int = 1, features: str = ""
) -> Path:
    """A project using the shipped models, ``data`` as CSV files in data/raw, built by run_build;
    ``features``: more lines for the ``[features]`` section."""
    import shutil

    from features.build import run_build
    from features.config import load_project

    (root / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "symbols.json", root / "config" / "symbols.json")
    (root / "config" / "project.toml").write_text(
        f'[paths]\nsql = "{SQL_DIR}"\npython_models = ["{LIBRARY_DIR}"]\n'
        f"[features]\nhorizon = {horizon}\n{features}\n"
    )
    write_csv_files(root / "data" / "raw", data)
    project = load_project(root)
    run_build(project, quiet=True)
    return project.warehouse_path
