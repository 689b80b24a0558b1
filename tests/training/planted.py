"""A tiny market with planted, asset-specific dynamics, written as a warehouse the trainer can read.

Three groups of assets (sub-categories of ``sectors``): ``Momo`` returns follow AR(1) with φ = +PHI,
``Revert`` with φ = −PHI, ``Flat`` with φ = 0; a common market shock, with no autocorrelation, is
added to every asset. The one feature is today's return, so the sign of the next return is
predictable only for a model that knows *which* asset it is looking at: the asset embedding must
earn its place. Labels: ``fwd_ret_1d`` and ``label_up`` (next return > 0).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

GROUPS = {"Momo": 0.35, "Revert": -0.35, "Flat": 0.0}  # sub-category -> planted φ
PER_GROUP = 6
DAYS = 700


def assets() -> list[tuple[int, str, str, str]]:
    """(asset_id, symbol, category, subcategory), IDs in symbol order like a first mapping."""
    names = sorted((f"{g[:3].upper()}{i}", g) for g in GROUPS for i in range(PER_GROUP))
    return [(i, sym, "sectors", g) for i, (sym, g) in enumerate(names)]


def rows(seed: int = 0, days: int = DAYS) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = dt.date(2015, 1, 1)
    dates = [start + dt.timedelta(days=k) for k in range(days)]
    market = rng.normal(0, 0.004, days)
    cols: dict[str, list] = {k: [] for k in ("asset_id", "symbol", "ts", "ret_1d", "fwd_ret_1d", "label_up")}
    for asset_id, symbol, _, group in assets():
        phi = GROUPS[group]
        u = rng.normal(0, 0.01, days)
        e = np.zeros(days)
        for t in range(days):
            e[t] = (phi * e[t - 1] if t else 0.0) + u[t]
        r = market + e
        fwd = np.r_[r[1:], np.nan]
        cols["asset_id"] += [asset_id] * days
        cols["symbol"] += [symbol] * days
        cols["ts"] += dates
        cols["ret_1d"] += r.tolist()
        cols["fwd_ret_1d"] += [None if np.isnan(v) else float(v) for v in fwd]
        cols["label_up"] += [None if np.isnan(v) else int(v > 0) for v in fwd]
    return pa.table(
        {
            "asset_id": pa.array(cols["asset_id"], pa.int32()),
            "symbol": pa.array(cols["symbol"]),
            "ts": pa.array(cols["ts"], pa.date32()),
            "ret_1d": pa.array(cols["ret_1d"], pa.float64()),
            "fwd_ret_1d": pa.array(cols["fwd_ret_1d"], pa.float64()),
            "label_up": pa.array(cols["label_up"], pa.int32()),
        }
    )


def write_dimension(
    con: duckdb.DuckDBPyConnection, entries: list[tuple[int, str, str, str]], versions: list[str]
) -> None:
    con.execute(
        "create or replace table dim_symbol (asset_id integer, symbol varchar, category varchar,"
        " subcategory varchar, is_active boolean)"
    )
    for a, s, c, sc in entries:
        con.execute("insert into dim_symbol values (?, ?, ?, ?, true)", [a, s, c, sc])
    con.execute(
        "create or replace table mapping_versions (version varchar, seq integer, created_at timestamp)"
    )
    for seq, v in enumerate(versions, start=1):
        con.execute("insert into mapping_versions values (?, ?, '2025-01-01')", [v, seq])


def make_project(root: Path, toml: str = "", *, seed: int = 0, days: int = DAYS) -> Path:
    """A project folder whose warehouse holds the planted market (no mapping JSON: the dim tables rule)."""
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"))
    try:
        con.register("_rows", rows(seed, days))
        con.execute("create table training_set as select * from _rows")
        con.unregister("_rows")
        write_dimension(con, assets(), ["1.0"])
    finally:
        con.close()
    (root / "config" / "project.toml").write_text(
        '[paths]\nwarehouse = "data/warehouse.duckdb"\n'
        "[loader]\nlookback = 5\n"
        "[model]\nhidden = 16\nasset_embedding_dim = 8\ndropout = 0.0\n"
        '[train]\nepochs = 6\nbatch_size = 128\nlr = 0.005\npatience = 3\ndevice = "cpu"\n' + toml
    )
    return root


def query(root: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of ``sql`` on the project's warehouse, opened read-only."""
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def planted_groups() -> dict[str, str]:
    return {sym: g for _, sym, _, g in assets()}


def dump(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=1, default=str))
