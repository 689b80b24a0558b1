"""Hostile symbols, file names and config values never become SQL text.

Each hostile string carries a statement that would leave a trace (a table named ``pwned``) if
it were ever executed; the tests check the trace is absent and the warehouse intact.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from _reliability_kit import fstore, make_project

HOSTILE = "X'); CREATE TABLE pwned AS SELECT 1; --"
SYMBOLS = {"sectors": {"Technology": ["AAPL", "MSFT"]}, "crypto": {"Major": ["BTCUSD"]}}
CSV = "Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,11.5,10,11,120\n"


def _project(root: Path, toml_extra: str = "") -> Path:
    return make_project(root, SYMBOLS, years=0.2, paths_extra=toml_extra)


def _tables(root: Path) -> set[str]:
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        # lower-cased: a symbol read from a file is upper-cased, so a trace could be PWNED
        return {
            r[0].lower() for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
    finally:
        con.close()


@pytest.fixture
def built(tmp_path: Path) -> Path:
    root = _project(tmp_path / "p")
    assert fstore(root, "build", "--quiet").returncode == 0
    return root


def test_hostile_symbol_in_symbols_json_is_rejected(built: Path) -> None:
    path = built / "config" / "symbols.json"
    data = json.loads(path.read_text())
    data["sectors"]["Technology"].append(HOSTILE)
    path.write_text(json.dumps(data))
    for args in (("build",), ("symbols", "sync"), ("symbols", "diff")):
        out = fstore(built, *args)
        assert out.returncode != 0 and "may only hold" in out.stderr
    assert "pwned" not in _tables(built) and "dim_symbol" in _tables(built)


def test_hostile_symbol_in_a_price_file_is_just_an_unknown_symbol(built: Path) -> None:
    raw = built / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "prices.csv").write_text(
        "symbol,date,close\nAAPL,2024-01-02,10\n" + f'"{HOSTILE}",2024-01-02,10\n'
    )
    out = fstore(built, "build")  # quarantined by default since issue 14: the build succeeds
    assert out.returncode == 0, out.stderr
    con = duckdb.connect(str(built / "data" / "warehouse.duckdb"), read_only=True)
    rejected = con.execute("select symbol, reason from raw_prices_rejected").fetchall()
    con.close()
    # kept literally (upper-cased, as every symbol read from a file), never executed
    assert rejected == [(HOSTILE.upper(), "symbol not in universe")]
    assert "pwned" not in _tables(built)
    with (built / "config" / "project.toml").open("a") as handle:
        handle.write('\n[ingest]\nunknown_symbols = "error"\n')
    out = fstore(built, "build")
    assert out.returncode != 0
    assert "no asset ID" in out.stderr and HOSTILE.upper() in out.stderr  # shown literally, never executed
    assert "pwned" not in _tables(built)


def test_hostile_file_name_is_bound_not_pasted(built: Path) -> None:
    raw = built / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "AAPL.csv").write_text(CSV)
    (raw / f"{HOSTILE}.csv").write_text(CSV)
    out = fstore(built, "build")  # quarantined by default since issue 14: the build succeeds
    assert out.returncode == 0, out.stderr
    assert "pwned" not in _tables(built)
    with (built / "config" / "project.toml").open("a") as handle:
        handle.write('\n[ingest]\nunknown_symbols = "error"\n')
    out = fstore(built, "build")
    assert out.returncode != 0 and "no asset ID" in out.stderr
    assert "pwned" not in _tables(built)


def test_quote_in_a_configured_path_just_works(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", toml_extra='raw = "data/it\'s raw"\n')
    raw = root / "data" / "it's raw"
    raw.mkdir(parents=True)
    (raw / "AAPL.csv").write_text(CSV)
    out = fstore(root, "build", "--quiet", "--no-tests")
    assert out.returncode == 0, out.stderr
    rows = fstore(root, "query", "select count(*) as n from raw_prices", "--format", "csv")
    assert rows.stdout.splitlines() == ["n", "2"]


def test_query_is_read_only_unless_write_is_given(built: Path) -> None:
    for sql in (
        "drop table dim_symbol",
        "insert into dim_symbol select * from dim_symbol",
        "create table pwned(a int)",
    ):
        out = fstore(built, "query", sql)
        assert out.returncode != 0 and "read-only" in out.stderr
    assert "pwned" not in _tables(built)
    ok = fstore(built, "query", "create table scratch as select 1 as a", "--write")
    assert ok.returncode == 0 and "scratch" in _tables(built)
