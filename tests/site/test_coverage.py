"""Per-symbol coverage for the site, on a project whose price file has gaps, stale and rejected rows."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from features.build import run_build
from features.config import load_project
from features.site import generate_site
from features.site.coverage import symbol_coverage
from features.warehouse import connect

START = date(2024, 1, 1)


def weekdays(n: int) -> list[date]:
    days, d = [], START
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


@pytest.fixture
def priced(tmp_path: Path):
    """Five symbols: AAA complete, BBB stops early, CCC with bad rows, EEE never priced, XBTUSD daily."""
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    (root / "sql").mkdir()
    (root / "data" / "raw").mkdir(parents=True)
    universe = {
        "sectors": {"Tech": ["AAA", "BBB", "CCC"]},
        "etfs": {"Broad": ["EEE"]},
        "crypto": {"Major": ["XBTUSD"]},
    }
    (root / "config" / "symbols.json").write_text(json.dumps(universe))
    (root / "config" / "project.toml").write_text("[paths]\npython_models = []\n")
    rows: list[tuple[str, date, str]] = []
    rows += [("AAA", d, "10.0") for d in weekdays(30)]
    rows += [("BBB", d, "20.0") for d in weekdays(18)]
    rows += [("CCC", d, "30.0") for d in weekdays(30)[:27]]
    rows += [("CCC", d, "-1") for d in weekdays(30)[27:29]]  # non-positive
    rows += [("CCC", weekdays(30)[29], "")]  # missing close
    rows += [("XBTUSD", START + timedelta(days=k), "40000") for k in range(41)]
    text = "symbol,date,close\n" + "".join(f"{s},{d.isoformat()},{c}\n" for s, d, c in rows)
    (root / "data" / "raw" / "prices.csv").write_text(text)
    project = load_project(root)
    run_build(project, quiet=True)
    return project, rows


def test_coverage_counts_what_the_price_file_holds(priced) -> None:
    project, rows = priced
    valid = [(s, d) for s, d, c in rows if c and float(c) > 0]
    crypto = {"XBTUSD"}  # staleness is measured within a calendar group: crypto trades every day
    newest = {group: max(d for s, d in valid if (s in crypto) == group) for group in (True, False)}
    con = connect(project.warehouse_path, read_only=True)
    try:
        found = {c["symbol"]: c for c in symbol_coverage(con, project)}
        ids = dict(con.execute("select symbol, asset_id from dim_symbol").fetchall())
    finally:
        con.close()
    assert set(found) == {"AAA", "BBB", "CCC", "EEE", "XBTUSD"}
    for symbol, c in found.items():
        mine = [d for s, d in valid if s == symbol]
        assert c["asset_id"] == ids[symbol]
        assert c["rows"] == len(mine) and c["has_data"] == bool(mine)
        if mine:
            assert (c["first_date"], c["last_date"]) == (min(mine), max(mine))
            assert c["stale_days"] == (newest[symbol in crypto] - max(mine)).days
    assert found["CCC"]["rejected_rows"] == 3
    assert found["CCC"]["rejected_reasons"] == {"non-positive price": 2, "missing close": 1}
    assert found["AAA"]["rejected_rows"] == 0 and found["AAA"]["rejected_reasons"] == {}
    assert found["EEE"]["first_date"] is None and found["EEE"]["category"] == "etfs"


def test_the_site_flags_stale_and_missing_symbols(priced) -> None:
    project, _ = priced
    site = generate_site(project).path
    sources = (site / "sources.html").read_text()
    assert '<tr data-state="stale"><td><a href="assets.html#BBB">' in sources
    assert '<tr data-state="missing"><td><a href="assets.html#EEE">' in sources
    assert '<tr data-state="ok" data-rejected><td><a href="assets.html#CCC">' in sources
    assert "2 non-positive price" in sources and "1 missing close" in sources
    overview = (site / "index.html").read_text()
    stale = overview[overview.index("<h2>Stale symbols</h2>") :]
    assert "BBB" in stale and "EEE" in stale and "AAA" not in stale.split("coverage of every symbol")[0]
