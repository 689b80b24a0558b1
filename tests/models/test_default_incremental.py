"""The DEFAULT project's models, refreshed incrementally one day at a time, equal a full rebuild.

12 symbols × 2 years of real-shaped prices as CSV files in data/raw (gaps, crypto weekends, late
listings, a close-only series, flat stretches, and three listings whose warm-ups end during the
appended days), horizon 2. Each step appends the next calendar day
(only the symbols that trade that day) and builds one warehouse incrementally; a second warehouse is
built from the same files with --full-refresh, and every relation must match row for row (floats
bit-equal or within 1e-12). Then a restated price: detected, rebuilt in full, equal again.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from features.build import run_build
from features.config import load_project
from features.warehouse import connect
from tests._features_kit import LIBRARY_DIR, SQL_DIR, real_shaped_prices, write_csv_files

MODELS = ("stg_prices", "price_features", "cs_features", "macd_features", "labels", "training_set")
FIRST_DAY = np.datetime64("2023-12-20")  # the first build holds prices up to the day before
DAYS = 7  # appended one at a time: 2023-12-20 (Wed) … 2023-12-26, a crypto-only weekend included


def _listed(cols: dict[str, np.ndarray], rows_before: int) -> dict[str, np.ndarray]:
    """The series listed so that it has ``rows_before`` rows before FIRST_DAY."""
    start = int((cols["ts"] < FIRST_DAY).sum()) - rows_before
    return {k: v[start:] for k, v in cols.items()}


def _universe() -> dict[str, dict[str, np.ndarray]]:
    data = real_shaped_prices(
        0
    )  # AAPL (gaps), BTCUSD, ETHUSD (weekends), MSFT (lists late), SPY (close only), KO
    more = real_shaped_prices(1)
    data.update({"NVDA": more["AAPL"], "SOLUSD": more["BTCUSD"], "JPM": more["KO"]})
    # new listings whose warm-ups end while the days are appended: the labels' usual spacing (20 rows),
    # ppo (90) and ppo_signal (121), so a refresh continues across each NULL → value boundary
    data.update(
        {
            "QQQ": _listed(more["SPY"], 18),
            "AMD": _listed(more["MSFT"], 87),
            "XRPUSD": _listed(more["ETHUSD"], 117),
        }
    )
    return data


def _upto(data: dict[str, dict[str, np.ndarray]], last: np.datetime64) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for symbol, cols in data.items():
        keep = cols["ts"] <= last
        out[symbol] = {k: v[keep] for k, v in cols.items()}
    return out


def _rows(db: Path, name: str) -> list[tuple]:
    con = connect(db, read_only=True)
    try:
        return sorted(con.execute(f"select * from {name}").fetchall(), key=lambda r: (r[0], str(r[1:3])))
    finally:
        con.close()


def _assert_equal(inc: Path, full: Path, when: str) -> None:
    for name in MODELS:
        a, b = _rows(inc, name), _rows(full, name)
        assert len(a) == len(b), f"{name}: {len(a)} rows incrementally, {len(b)} in full ({when})"
        for ra, rb in zip(a, b, strict=True):
            same = len(ra) == len(rb) and all(
                x == y
                or (x is None and y is None)
                or (
                    isinstance(x, float)
                    and isinstance(y, float)
                    and math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)
                )
                for x, y in zip(ra, rb, strict=True)
            )
            assert same, f"{name} differs ({when}):\n  incremental {ra}\n  full        {rb}"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    import shutil

    from tests.conftest import REPO

    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "symbols.json", root / "config" / "symbols.json")
    (root / "config" / "project.toml").write_text(
        f'[paths]\nsql = "{SQL_DIR}"\npython_models = ["{LIBRARY_DIR}"]\n[features]\nhorizon = 2\n'
    )
    return root


def _build(root: Path, db: Path, *, full: bool = False) -> dict[str, tuple[str, str | None]]:
    result = run_build(load_project(root), db=db, full_refresh=full, quiet=True, run_tests=not full)
    return {r.model: (r.action, r.note) for r in result.runs}


def test_default_project_day_by_day_equals_full_rebuild(root: Path, tmp_path: Path) -> None:
    data = _universe()
    raw = root / "data" / "raw"
    inc, full = tmp_path / "inc.duckdb", tmp_path / "full.duckdb"
    write_csv_files(raw, _upto(data, FIRST_DAY - 1))
    _build(root, inc)
    for day in range(DAYS):
        last = FIRST_DAY + day
        write_csv_files(raw, _upto(data, last))
        actions = _build(root, inc)
        assert {m: actions[m][0] for m in MODELS} == dict.fromkeys(MODELS, "incremental"), last
        _build(root, full, full=True)
        _assert_equal(inc, full, f"after appending {last}")
    con = connect(inc, read_only=True)
    try:  # the appends were small: each model wrote its new rows, plus the last h rows of labels
        written = dict(
            con.execute(
                "select model, rows from build_models where build_id ="
                " (select build_id from build_runs order by started_at desc limit 1)"
            ).fetchall()
        )
    finally:
        con.close()
    con = connect(inc, read_only=True)
    try:  # the warm-up boundaries were crossed by the appended days, not in the first build
        first = dict(
            con.execute(
                "select symbol || '.' || c, min(ts) from (select symbol, ts, 'label' as c from training_set"
                " where fwd_ret_2d is not null union all select symbol, ts, 'ppo' from training_set"
                " where ppo is not null union all select symbol, ts, 'signal' from training_set"
                " where ppo_signal is not null) group by all"
            ).fetchall()
        )
    finally:
        con.close()
    for key in ("QQQ.label", "AMD.ppo", "XRPUSD.signal"):
        assert FIRST_DAY <= np.datetime64(first[key]) < FIRST_DAY + DAYS, key
    trading = sum(int((cols["ts"] == last).any()) for cols in data.values())
    assert written["stg_prices"] == written["price_features"] == written["macd_features"] == trading
    assert written["labels"] == written["training_set"] == trading * (1 + 2)  # new row + h = 2 before

    # a restated price: the hash of raw_prices changes, everything is rebuilt in full, equal again
    restated = _upto(data, FIRST_DAY + DAYS)
    restated["KO"]["close"][100] *= 1.01
    restated["KO"]["high"][100] = max(restated["KO"]["high"][100], restated["KO"]["close"][100])
    write_csv_files(raw, restated)
    actions = _build(root, inc)
    assert actions["stg_prices"] == ("full", "history of `raw_prices` changed since the last build")
    assert {m: actions[m][0] for m in MODELS} == dict.fromkeys(MODELS, "full")
    _build(root, full, full=True)
    _assert_equal(inc, full, "after a restated price")
