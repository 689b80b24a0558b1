"""A small, realistic warehouse for loader tests: the input contract of ``training/``, built by hand.

Six assets on different calendars: two business-day stocks, a late listing, a seven-day crypto, one
with holes in its dates and an interior NULL, and one too short to form a window. Every feature has
NULL warm-up rows at its series start; labels are NULL where the future is unknown (last h rows).
``dim_symbol`` issues IDs 0..7 (two never traded here), so ``num_embeddings == 8``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

FEATURES = ("ret_1d", "vol_5d", "mom_10d")
SYMBOLS = ("AAPL", "MSFT", "NEWCO", "BTCUSD", "GAPPY", "TINY", "RETIRED", "SPARE")


def _calendar(start: dt.date, n: int, *, weekends: bool) -> list[dt.date]:
    days, d = [], start
    while len(days) < n:
        if weekends or d.weekday() < 5:
            days.append(d)
        d += dt.timedelta(days=1)
    return days


def make_rows(seed: int = 0, horizon: int = 1) -> pa.Table:
    """training_set rows, in a deliberately shuffled order (the loader must sort)."""
    rng = np.random.default_rng(seed)
    start = dt.date(2020, 1, 1)
    plan = {
        0: _calendar(start, 260, weekends=False),
        1: _calendar(start, 260, weekends=False),
        2: _calendar(dt.date(2020, 7, 1), 120, weekends=False),  # late listing
        3: _calendar(start, 360, weekends=True),  # crypto: every day
        4: [d for i, d in enumerate(_calendar(start, 300, weekends=False)) if i % 7 != 3],  # holes
        5: _calendar(dt.date(2020, 9, 1), 12, weekends=False),  # too short
    }
    cols: dict[str, list] = {"asset_id": [], "symbol": [], "ts": [], "close": []}
    for f in FEATURES:
        cols[f] = []
    cols[f"fwd_ret_{horizon}d"] = []
    cols["label_up"] = []
    for asset, days in plan.items():
        n = len(days)
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        ret = np.r_[np.nan, close[1:] / close[:-1] - 1]
        vol = np.array([np.nan if i < 5 else ret[i - 4 : i + 1].std() for i in range(n)])
        mom = np.array([np.nan if i < 10 else close[i] / close[i - 10] - 1 for i in range(n)])
        if asset == 4:
            vol[150] = np.nan  # an interior gap in one feature
        fwd = np.r_[close[horizon:] / close[:-horizon] - 1, [np.nan] * horizon]
        cols["asset_id"] += [asset] * n
        cols["symbol"] += [SYMBOLS[asset]] * n
        cols["ts"] += days
        cols["close"] += close.tolist()
        for name, values in zip(FEATURES, (ret, vol, mom), strict=True):
            cols[name] += [None if np.isnan(v) else float(v) for v in values]
        cols[f"fwd_ret_{horizon}d"] += [None if np.isnan(v) else float(v) for v in fwd]
        cols["label_up"] += [None if np.isnan(v) else int(v > 0) for v in fwd]
    order = rng.permutation(len(cols["asset_id"]))
    table = pa.table(
        {
            "asset_id": pa.array(cols["asset_id"], pa.int32()),
            "symbol": pa.array(cols["symbol"], pa.string()),
            "ts": pa.array(cols["ts"], pa.date32()),
            "close": pa.array(cols["close"], pa.float64()),
            **{f: pa.array(cols[f], pa.float64()) for f in FEATURES},
            f"fwd_ret_{horizon}d": pa.array(cols[f"fwd_ret_{horizon}d"], pa.float64()),
            "label_up": pa.array(cols["label_up"], pa.int32()),
        }
    )
    return table.take(pa.array(order))


def write_training_set(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    con.register("_rows", table)
    con.execute("create or replace table training_set as select * from _rows")
    con.unregister("_rows")


def make_warehouse(path: Path, seed: int = 0, horizon: int = 1) -> Path:
    """Write the warehouse file: training_set, dim_symbol, mapping_versions."""
    con = duckdb.connect(str(path))
    try:
        write_training_set(con, make_rows(seed, horizon))
        con.execute(
            "create table dim_symbol (asset_id integer, symbol varchar, category varchar,"
            " subcategory varchar, is_active boolean)"
        )
        for i, s in enumerate(SYMBOLS):
            con.execute("insert into dim_symbol values (?, ?, 'sectors', 'Technology', ?)", [i, s, i != 6])
        con.execute("create table mapping_versions (version varchar, seq integer, created_at timestamp)")
        con.execute("insert into mapping_versions values ('1.1', 2, '2025-02-01'), ('1.0', 1, '2025-01-01')")
    finally:
        con.close()
    return path


def make_project(root: Path, extra_toml: str = "", seed: int = 0, horizon: int = 1) -> Path:
    """A project folder whose warehouse is the test warehouse above."""
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    make_warehouse(root / "data" / "warehouse.duckdb", seed, horizon)
    (root / "config" / "project.toml").write_text(
        f'[paths]\nwarehouse = "data/warehouse.duckdb"\n[features]\nhorizon = {horizon}\n{extra_toml}'
    )
    return root


def read_table(path: Path) -> dict[str, np.ndarray]:
    """The training_set as numpy columns sorted by (asset, ts): the tests' independent reference."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tab = con.sql("select * from training_set order by asset_id, ts").fetchnumpy()
    finally:
        con.close()
    out = {}
    for k, v in tab.items():
        arr = np.ma.filled(v.astype(float), np.nan) if k not in ("symbol", "ts") else np.asarray(v)
        out[k] = arr
    out["ts"] = np.asarray(tab["ts"]).astype("datetime64[D]")
    return out
