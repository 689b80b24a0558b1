"""Labels on small real-shaped series: gaps, weekends, holidays, a hole, flat prices.

An equity that trades on weekdays (with a holiday Monday, a two-day closure and a 17-day hole, the
kind a run of quarantined rows leaves) and a coin that trades every day (with its own hole and a
flat day). Every label is checked against a plain-Python reading of the documented rule, and the
cases a quant cares about are also spelled out one by one.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
from _features_kit import (
    build_project_with_engine,
    load_raw_prices,
    make_dim_symbol,
    make_feature_params,
    run_models,
)

from features.errors import FstoreError

START = date(2024, 1, 1)  # a Monday


def _equity_dates() -> list[date]:
    """Weekdays, minus: a holiday Monday (Fri → Tue: 4 days), a Monday and Tuesday (Fri → Wed: 5 days),
    and 17 calendar days with no rows."""
    days = [START + timedelta(days=i) for i in range(200)]
    weekdays = [d for d in days if d.weekday() < 5]
    holiday, closure = weekdays[30], weekdays[40:42]  # both start on a Monday
    assert holiday.weekday() == 0 and closure[0].weekday() == 0
    hole = {weekdays[60] + timedelta(days=i) for i in range(1, 17)}
    return [d for d in weekdays if d != holiday and d not in closure and d not in hole]


def _coin_dates() -> list[date]:
    days = [START + timedelta(days=i) for i in range(160)]
    return [d for d in days if not (70 < (d - START).days < 87)]  # a 17-day step after day 70


def _series(dates: list[date], seed: int, flat: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, len(dates))))
    close[flat + 1] = close[flat]  # an unchanged close: a tie
    return {"ts": np.array(dates, dtype="datetime64[D]"), "close": close}


DATA = {"AAPL": _series(_equity_dates(), 1, flat=50), "BTCUSD": _series(_coin_dates(), 2, flat=100)}


def expected(
    dates: list[date], closes: list[float], h: int, k: float
) -> list[tuple[float | None, int | None]]:
    """(fwd_ret, label_up) by the rule, row by row: no label in the first 20 rows (no usual spacing)
    or the last h; none when a step in (t, t + h] is longer than k × the median of the 20 steps up
    to t; label_up None on a zero return."""
    step = [None] + [(dates[i] - dates[i - 1]).days for i in range(1, len(dates))]
    out: list[tuple[float | None, int | None]] = []
    for t in range(len(dates)):
        if t < 20 or t + h >= len(dates):
            out.append((None, None))
            continue
        past = sorted(step[t - 19 : t + 1])
        usual = (past[9] + past[10]) / 2
        if any(step[i] > k * usual for i in range(t + 1, t + h + 1)):
            out.append((None, None))
            continue
        r = math.log(closes[t + h] / closes[t])
        out.append((r, None if r == 0 else int(r > 0)))
    return out


def _labels(horizon: int, **settings: object) -> dict[str, list[tuple[date, float | None, int | None]]]:
    con = duckdb.connect()
    load_raw_prices(con, DATA)
    make_dim_symbol(con, DATA)
    make_feature_params(con, horizon=horizon, **settings)
    run_models(con, only=["labels"])
    rows = con.execute(
        f"select d.symbol, l.ts, l.fwd_ret_{horizon}d, l.label_up from labels l join dim_symbol d"
        " using (asset_id) order by d.symbol, l.ts"
    ).fetchall()
    out: dict[str, list] = {}
    for symbol, ts, fwd, up in rows:
        out.setdefault(symbol, []).append((ts, fwd, up))
    return out


def _check(got: dict, horizon: int, k: float) -> None:
    for symbol, cols in DATA.items():
        dates = [d.item() for d in cols["ts"]]
        want = expected(dates, list(cols["close"]), horizon, k)
        assert [r[0] for r in got[symbol]] == dates
        for (ts, fwd, up), (e_fwd, e_up) in zip(got[symbol], want, strict=True):
            assert (fwd is None) == (e_fwd is None), (symbol, ts, fwd, e_fwd)
            assert fwd is None or fwd == pytest.approx(e_fwd, rel=1e-12, abs=1e-15), (symbol, ts)
            assert up == e_up, (symbol, ts, up, e_up)


@pytest.mark.parametrize(("horizon", "k"), [(1, 4.0), (3, 4.0), (1, 6.0), (2, 1.0)])
def test_labels_match_the_rule(horizon: int, k: float) -> None:
    _check(_labels(horizon, label_max_gap=k), horizon, k)


def _row(rows: list, day: date) -> tuple:
    return next(r for r in rows if r[0] == day)


def test_the_cases_one_by_one() -> None:
    got = _labels(1)  # the default: label_max_gap = 4
    aapl, btc = got["AAPL"], got["BTCUSD"]
    dates = [r[0] for r in aapl]
    gap = {dates[i]: (dates[i + 1] - dates[i]).days for i in range(len(dates) - 1)}
    weekend = [d for d in dates[20:] if gap.get(d) == 3]
    assert weekend and all(_row(aapl, d)[1] is not None for d in weekend), "Friday → Monday is bridged"
    [holiday] = [d for d in dates if gap.get(d) == 4]
    assert _row(aapl, holiday)[1] is not None, "Friday → Tuesday (a holiday Monday) is bridged"
    [closure] = [d for d in dates if gap.get(d) == 5]
    assert _row(aapl, closure)[1] is None, "Friday → Wednesday is more than 4 × 1 day"
    [hole] = [d for d in dates if gap.get(d, 0) >= 17]
    assert _row(aapl, hole)[1:] == (None, None), "no 1-day label across 17 days"
    [coin_hole] = [r[0] for i, r in enumerate(btc[:-1]) if (btc[i + 1][0] - r[0]).days == 17]
    assert _row(btc, coin_hole)[1] is None
    assert _row(btc, coin_hole - timedelta(days=1))[1] is not None
    for rows, flat in ((aapl, 50), (btc, 100)):  # a zero return: fwd_ret 0, label_up unknown
        assert rows[flat][1:] == (0.0, None)
    assert all(up is not None for _, fwd, up in aapl + btc if fwd not in (None, 0.0)), "a sign otherwise"
    assert all(r[1] is None for r in aapl[:20] + btc[:20]), "no usual spacing yet"
    assert _labels(1, label_max_gap=6.0)["AAPL"][dates.index(closure)][1] is not None, "k = 6 lets 5 days by"


def test_label_settings_come_from_the_config(tmp_path: Path) -> None:
    warehouse = build_project_with_engine(tmp_path / "ok", DATA, features="label_max_gap = 6.0")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select symbol, ts, fwd_ret_1d, label_up from training_set order by symbol, ts"
        ).fetchall()
        assert con.execute("select label_max_gap from feature_params").fetchall() == [(6.0,)]
    finally:
        con.close()
    got: dict[str, list] = {}
    for symbol, ts, fwd, up in rows:
        got.setdefault(symbol, []).append((ts, fwd, up))
    _check(got, 1, 6.0)
    with pytest.raises(FstoreError, match=r"\[features\] label_max_gap must be a number >= 1"):
        build_project_with_engine(tmp_path / "bad", DATA, features="label_max_gap = 0.5")
