"""The coverage report (`fstore sources`), checked against the dates and rows written in the test."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from features.build import run_build
from features.cli import main
from features.config import load_project
from features.sources import KEYS, coverage
from features.warehouse import connect

UNIVERSE = {
    "sectors": {"Technology": ["AAPL", "MSFT"], "Energy": ["XOM"]},
    "crypto": {"Major": ["BTCUSD", "ETHUSD"]},
}


def _days(start: dt.date, n: int, *, weekdays: bool) -> list[dt.date]:
    out, day = [], start
    while len(out) < n:
        if not weekdays or day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def _write(path: Path, days: list[dt.date], bad: int = 0) -> None:
    lines = ["Date,Close"] + [f"{d},{100 + i}" for i, d in enumerate(days)]
    lines += [f"{days[-1] + dt.timedelta(days=30 + i)},-1" for i in range(bad)]  # non-positive prices
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, dict[str, list[dt.date]]]:
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    (root / "config" / "symbols.json").write_text(json.dumps(UNIVERSE))
    (root / "config" / "project.toml").write_text("")
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    written = {
        "AAPL": _days(dt.date(2024, 1, 2), 40, weekdays=True),
        "MSFT": _days(dt.date(2024, 1, 2), 31, weekdays=True),  # ends earlier: stale within its group
        "BTCUSD": _days(dt.date(2024, 1, 1), 60, weekdays=False),
        "ETHUSD": _days(dt.date(2024, 1, 1), 55, weekdays=False),
        "NEWCO": _days(dt.date(2023, 6, 1), 10, weekdays=True),  # outside the universe
    }
    for symbol, days in written.items():
        _write(raw / f"{symbol}.csv", days, bad=2 if symbol == "AAPL" else 0)
    run_build(load_project(root), quiet=True, run_tests=False)
    return root, written


def test_coverage_per_symbol_matches_what_was_written(built) -> None:
    root, written = built
    project = load_project(root)
    con = connect(project.warehouse_path, read_only=True)  # read-only is enough
    try:
        got = {e["symbol"]: e for e in coverage(con, project)}
        ids = dict(con.execute("select symbol, asset_id from dim_symbol").fetchall())
    finally:
        con.close()
    assert all(tuple(e) == KEYS for e in got.values())
    newest = {
        "exchange": max(written[s][-1] for s in ("AAPL", "MSFT")),
        "crypto": max(written[s][-1] for s in ("BTCUSD", "ETHUSD")),
    }
    for symbol in ("AAPL", "MSFT", "BTCUSD", "ETHUSD"):
        days, e = written[symbol], got[symbol]
        group = "crypto" if symbol.endswith("USD") else "exchange"
        assert (e["first_date"], e["last_date"], e["rows"]) == (days[0], days[-1], len(days))
        assert (e["asset_id"], e["calendar"], e["in_universe"], e["has_data"]) == (
            ids[symbol],
            group,
            True,
            True,
        )
        assert e["stale_days"] == (newest[group] - days[-1]).days
    assert got["AAPL"]["rejected_rows"] == 2 and got["AAPL"]["rejected_reasons"] == {"non-positive price": 2}
    assert got["MSFT"]["stale_days"] > 0 and got["AAPL"]["stale_days"] == 0
    xom = got["XOM"]
    assert (xom["has_data"], xom["rows"], xom["stale_days"], xom["asset_id"]) == (False, 0, None, ids["XOM"])
    newco = got["NEWCO"]
    assert (newco["in_universe"], newco["asset_id"], newco["has_data"], newco["rows"]) == (
        False,
        None,
        False,
        0,
    )
    assert (newco["first_date"], newco["last_date"]) == (written["NEWCO"][0], written["NEWCO"][-1])
    assert newco["rejected_reasons"] == {"symbol not in universe": 10}


def test_staleness_against_a_reference_date(built) -> None:
    root, written = built
    project = load_project(root)
    con = connect(project.warehouse_path, read_only=True)
    try:
        as_of = dt.date(2024, 6, 30)
        got = {e["symbol"]: e["stale_days"] for e in coverage(con, project, as_of=as_of)}
    finally:
        con.close()
    for symbol in ("AAPL", "MSFT", "BTCUSD", "ETHUSD"):
        assert got[symbol] == (as_of - written[symbol][-1]).days


def _cli(*argv: str) -> int:
    return main(list(argv))


def test_fstore_sources_prints_the_report_and_warns_like_source_freshness(built, capsys) -> None:
    root, written = built
    assert _cli("sources", "--project", str(root), "--format", "json", "--stale-days", "6") == 0
    out = capsys.readouterr()
    rows = {r["symbol"]: r for r in json.loads(out.out)}
    assert rows["AAPL"]["last_date"] == str(written["AAPL"][-1]) and rows["AAPL"]["status"] == "ok"
    assert rows["MSFT"]["status"] == "stale" and rows["XOM"]["status"] == "no data"
    assert rows["NEWCO"]["status"] == "not in universe"
    assert "WARN 1 symbol(s) more than 6 days behind: MSFT (13 days" in out.err
    assert "WARN 1 universe symbol(s) have no prices: XOM" in out.err
    assert "NEWCO (10 rows quarantined)" in out.err and "fstore symbols sync" in out.err
    assert _cli("sources", "--project", str(root), "--strict") == 1
    table = capsys.readouterr().out
    assert all(s in table for s in ("AAPL", "MSFT", "XOM", "BTCUSD", "NEWCO"))
    assert _cli("sources", "--project", str(root), "--format", "csv", "--stale-days", "1000") == 0
    csv_out = capsys.readouterr()
    assert csv_out.out.splitlines()[0].startswith("symbol,asset_id,category,first_date,last_date,rows")
    assert "more than 1000 days" not in csv_out.err
    aapl = written["AAPL"]
    assert f"AAPL,0,sectors,{aapl[0]},{aapl[-1]},{len(aapl)},2,0,ok,non-positive price=2" in csv_out.out


def test_sources_before_any_build_says_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    (root / "config" / "symbols.json").write_text(json.dumps(UNIVERSE))
    (root / "config" / "project.toml").write_text("")
    assert _cli("sources", "--project", str(root)) == 1
    err = capsys.readouterr().err
    assert "does not exist yet" in err and "fstore build" in err and "Traceback" not in err
