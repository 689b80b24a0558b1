"""Ingestion: files under data/raw → raw_prices / raw_prices_rejected, on a tiny real project."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.config import load_project
from features.dimension import ensure_dimension
from features.errors import IngestError, MappingError, UnknownSymbolError
from features.ingest import REJECT_REASONS, refresh_raw_prices
from features.warehouse import source_version

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


@pytest.fixture
def project_con(tiny_project: Path):
    """(project root, connection with the asset-ID dimension built, raw dir)."""
    project = load_project(tiny_project)
    con = duckdb.connect(str(tiny_project / "warehouse.duckdb"))
    ensure_dimension(con, project)
    raw = tiny_project / "data" / "raw"
    raw.mkdir(parents=True)
    yield tiny_project, con, raw
    con.close()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _rows(con: duckdb.DuckDBPyConnection, symbol: str) -> list[tuple]:
    return con.execute(
        "select ts::varchar, open, high, low, close, volume from raw_prices where symbol = ? order by ts",
        [symbol],
    ).fetchall()


def _refresh(root: Path, con: duckdb.DuckDBPyConnection, **toml: str):
    if toml:
        (root / "config" / "project.toml").write_text("\n".join(toml.values()) + "\n")
    return refresh_raw_prices(con, load_project(root), console=lambda _msg: None)


def test_per_symbol_csv_uses_adjusted_close_and_scales_the_bar(project_con) -> None:
    root, con, raw = project_con
    _write(
        raw / "AAPL.csv",
        HEADER + "2024-01-02,100,110,90,105,52.5,1000\n2024-01-03,105,108,101,106,53,1200\n",
    )
    summary = _refresh(root, con)
    assert (summary.rows, summary.symbols, summary.rejected) == (2, 1, {})
    assert _rows(con, "AAPL") == [
        ("2024-01-02", 50.0, 55.0, 45.0, 52.5, 1000.0),
        ("2024-01-03", 52.5, 54.0, 50.5, 53.0, 1200.0),
    ]


def test_adjusted_close_can_be_turned_off(project_con) -> None:
    root, con, raw = project_con
    _write(raw / "AAPL.csv", HEADER + "2024-01-02,100,110,90,105,52.5,1000\n")
    _refresh(root, con, ingest="[ingest]\nuse_adjusted_close = false")
    assert _rows(con, "AAPL") == [("2024-01-02", 100.0, 110.0, 90.0, 105.0, 1000.0)]


def test_long_parquet_with_typed_columns_and_aliases(project_con) -> None:
    root, con, raw = project_con
    table = pa.table(
        {
            "Ticker": ["MSFT", "MSFT", "BTCUSD"],
            "Timestamp": pa.array(
                np.array(["2024-01-05T00:00", "2024-01-06T00:00", "2024-01-06T00:00"], dtype="datetime64[us]")
            ),
            "O": [10.0, 11.0, 40000.0],
            "H": [12.0, 12.0, 41000.0],
            "L": [9.0, 10.5, 39000.0],
            "Close": [11.0, 11.5, 40500.0],
            "Vol": pa.array([5, 6, 7], pa.int64()),
        }
    )
    pq.write_table(table, raw / "prices.parquet")
    summary = _refresh(root, con)
    assert (summary.rows, summary.symbols) == (3, 2)
    assert _rows(con, "MSFT") == [
        ("2024-01-05", 10.0, 12.0, 9.0, 11.0, 5.0),
        ("2024-01-06", 11.0, 12.0, 10.5, 11.5, 6.0),
    ]


def test_column_map_from_config(project_con) -> None:
    root, con, raw = project_con
    _write(raw / "feed.csv", "sec_id;as_of;px_last\nKO;2024-02-01;60.5\nKO;2024-02-02;61\n".replace(";", ","))
    with pytest.raises(
        IngestError, match=r"feed\.csv.*it has no date column.*columns are sec_id, as_of, px_last"
    ):
        _refresh(root, con)
    _refresh(
        root,
        con,
        ingest='[ingest]\ncolumn_map = { sec_id = "symbol", as_of = "ts", PX_LAST = "close" }',
    )
    assert _rows(con, "KO") == [
        ("2024-02-01", None, None, None, 60.5, None),
        ("2024-02-02", None, None, None, 61.0, None),
    ]


def test_close_only_series_is_valid(project_con) -> None:
    root, con, raw = project_con
    _write(raw / "spy.csv", "date,close\n2024-01-02,470.1\n2024-01-03,468.0\n")
    summary = _refresh(root, con)
    assert summary.rejected == {}
    assert _rows(con, "SPY") == [
        ("2024-01-02", None, None, None, 470.1, None),
        ("2024-01-03", None, None, None, 468.0, None),
    ]


def test_bad_rows_are_quarantined_with_reasons(project_con) -> None:
    root, con, raw = project_con
    rows = [
        "2024-01-02,10,11,9,10,10,100",  # good
        "2024-01-03,10,11,9,NaN,NaN,100",  # non-finite price
        "2024-01-04,10,11,9,inf,inf,100",  # non-finite price
        "2024-01-05,10,11,9,-1,-1,100",  # non-positive price
        "2024-01-08,10,9,11,10,10,100",  # high < low
        "2024-01-09,10,11,9,12,12,100",  # close outside [low, high]
        "2024-01-10,10,11,9,10,10,-5",  # negative volume
        "2024-01-11,10,11,9,10,10,100",  # identical duplicate: one kept
        "2024-01-11,10,11,9,10,10,100",
        "2024-01-12,10,11,9,10,10,100",  # conflicting duplicate: both rejected
        "2024-01-12,10,11,9,10.5,10.5,100",
        "not a date,10,11,9,10,10,100",  # unparseable date
        "2024-01-15,10,11,9,ten,ten,100",  # unparseable value
        "2024-01-16,10,11,9,,,100",  # missing close
    ]
    _write(raw / "AAPL.csv", HEADER + "\n".join(rows) + "\n")
    summary = _refresh(root, con)
    assert summary.rejected == {
        "close outside [low, high]": 1,
        "conflicting duplicate": 2,
        "high < low": 1,
        "missing close": 1,
        "negative volume": 1,
        "non-finite price": 2,
        "non-positive price": 1,
        "unparseable date": 1,
        "unparseable value": 1,
    }
    assert set(summary.rejected) <= set(REJECT_REASONS)
    assert summary.duplicates_dropped == 1
    assert [r[0] for r in _rows(con, "AAPL")] == ["2024-01-02", "2024-01-11"]
    sources = {r[0] for r in con.execute("select source from raw_prices_rejected").fetchall()}
    assert sources == {str(raw / "AAPL.csv")}
    # each rejected row keeps the file's column that failed and its text as written
    located = con.execute(
        "select reason, raw_column, raw_value from raw_prices_rejected order by ts nulls first, reason"
    ).fetchall()
    assert located == [
        ("unparseable date", "Date", "not a date"),
        ("non-finite price", "Close", "NaN"),
        ("non-finite price", "Close", "inf"),
        ("non-positive price", "Close", "-1"),
        ("high < low", "High, Low", "9, 11"),
        ("close outside [low, high]", "Close, Low, High", "12, 9, 11"),
        ("negative volume", "Volume", "-5"),
        ("conflicting duplicate", None, None),
        ("conflicting duplicate", None, None),
        ("unparseable value", "Close", "ten"),
        ("missing close", "Close", ""),
    ]
    assert "11 rows rejected" in summary.line() and "1 identical duplicates dropped" in summary.line()


def test_unparseable_file_is_named_and_previous_prices_stay(project_con) -> None:
    root, con, raw = project_con
    _write(raw / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n")
    _refresh(root, con)
    before = con.execute("select * from raw_prices").fetchall()
    version = source_version(con, "raw_prices")
    (raw / "MSFT.parquet").write_bytes(b"PAR1 this is not parquet at all")
    with pytest.raises(IngestError, match=r"MSFT\.parquet: cannot parse price file"):
        _refresh(root, con)
    assert con.execute("select * from raw_prices").fetchall() == before
    assert source_version(con, "raw_prices") == version
    assert (
        con.execute(
            "select count(*) from duckdb_tables() where table_name like '_fstore_ingest%'"
        ).fetchone()[0]
        == 0
    )


def test_unknown_symbol_stops_the_build_when_the_policy_is_error(project_con) -> None:
    root, con, raw = project_con
    _write(raw / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n")
    _refresh(root, con)
    _write(raw / "NEWCO.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n")
    with pytest.raises(UnknownSymbolError) as err:
        _refresh(root, con, ingest='[ingest]\nunknown_symbols = "error"')
    assert err.value.symbols == ("NEWCO",)
    assert "NEWCO.csv" in str(err.value) and "fstore symbols sync" in str(err.value)
    assert con.execute("select distinct symbol from raw_prices").fetchall() == [("AAPL",)]


def test_unknown_symbol_is_quarantined_by_default_and_the_build_warns(project_con) -> None:
    # Changed on purpose (issue 14): one ticker outside the universe no longer stops the whole build.
    root, con, raw = project_con
    _write(raw / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n")
    _write(raw / "NEWCO.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n2024-01-03,10,11,9,10,10,100\n")
    _write(raw / "long.csv", "symbol,date,close\nMSFT,2024-01-02,370\nZZZ9,2024-01-02,5\n")
    lines: list[str] = []
    summary = refresh_raw_prices(con, load_project(root), console=lines.append)
    assert con.execute("select symbol, count(*) from raw_prices group by 1 order by 1").fetchall() == [
        ("AAPL", 1),
        ("MSFT", 1),
    ]
    rejected = con.execute(
        "select symbol, reason, raw_column, raw_value, source from raw_prices_rejected order by symbol, ts"
    ).fetchall()
    assert rejected == [
        ("NEWCO", "symbol not in universe", "(file name)", "NEWCO", str(raw / "NEWCO.csv")),
        ("NEWCO", "symbol not in universe", "(file name)", "NEWCO", str(raw / "NEWCO.csv")),
        ("ZZZ9", "symbol not in universe", "symbol", "ZZZ9", str(raw / "long.csv")),
    ]
    assert summary.unknown == {"NEWCO": (2, ("data/raw/NEWCO.csv",)), "ZZZ9": (1, ("data/raw/long.csv",))}
    warning = next(line for line in lines if line.startswith("warning:"))
    for needle in ("NEWCO", "data/raw/NEWCO.csv", "ZZZ9", "data/raw/long.csv", "fstore symbols sync"):
        assert needle in warning


@pytest.mark.parametrize("missing_adjusted", ["quarantine", "fill"])
def test_a_file_symbol_outside_the_universe_takes_its_place_in_the_reason_order(
    project_con, missing_adjusted: str
) -> None:
    """A one-symbol file's symbol is checked per file after the scan; each row still gets the first
    reason it fails in REJECT_REASONS order (value checks first, then the universe, then a blank
    adjusted close), and a blank adjusted close of such a file is never filled."""
    root, con, raw = project_con
    _write(raw / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n2024-01-04,10,11,9,10,10,100\n")
    rows = {  # date -> (row, the reasons it fails)
        "2024-01-02": ("10,11,9,10,10,100", {"symbol not in universe"}),
        "2024-01-03": ("10,11,9,10,,100", {"symbol not in universe", "missing adjusted close"}),
        "2024-01-04": ("10,11,9,10,10,100", {"symbol not in universe"}),
        "2024-01-05": ("10,8,9,10,,100", {"high < low", "symbol not in universe", "missing adjusted close"}),
    }
    _write(raw / "newco.csv", HEADER + "".join(f"{d},{r}\n" for d, (r, _) in rows.items()))
    _refresh(root, con, ingest=f'[ingest]\nmissing_adjusted_close = "{missing_adjusted}"')
    got = con.execute(
        "select ts::varchar, reason, raw_column from raw_prices_rejected where symbol = 'NEWCO' order by ts"
    ).fetchall()
    first = {d: min(reasons, key=REJECT_REASONS.index) for d, (_, reasons) in rows.items()}
    assert [(d, r) for d, r, _ in got] == sorted(first.items())
    assert {c for _, r, c in got if r == "symbol not in universe"} == {"(file name)"}
    assert con.execute("select count(*) from raw_prices where symbol = 'AAPL'").fetchone()[0] == 2


def test_a_universe_symbol_without_an_asset_id_still_stops_the_build(project_con) -> None:
    """The asset-ID contract is not a policy: a configured symbol with no ID stops whatever the setting."""
    root, con, raw = project_con
    symbols = root / "config" / "symbols.json"
    data = json.loads(symbols.read_text())
    data["sectors"]["Technology"].append("NEWCO")
    symbols.write_text(json.dumps(data))
    _write(raw / "NEWCO.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n")
    _write(raw / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n")
    with pytest.raises(UnknownSymbolError, match="have no asset ID") as err:
        _refresh(root, con)
    assert err.value.symbols == ("NEWCO",)
    assert not con.execute("select count(*) from duckdb_tables() where table_name = 'raw_prices'").fetchone()[
        0
    ]


def test_unchanged_files_are_a_fast_no_op_and_a_touched_file_reingests(project_con) -> None:
    root, con, raw = project_con
    path = _write(raw / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n")
    first = _refresh(root, con)
    assert not first.unchanged
    started = time.perf_counter()
    again = _refresh(root, con)
    assert again.unchanged and again.rows == 1
    assert time.perf_counter() - started < 0.5
    _write(path, HEADER + "2024-01-02,10,11,9,10,10,100\n2024-01-03,10,11,9,10,10,100\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert _refresh(root, con).rows == 2


def test_no_files_generates_the_synthetic_market_and_says_so(project_con) -> None:
    root, con, _raw = project_con
    (root / "config" / "project.toml").write_text("[synthetic]\nyears = 0.5\n")
    lines: list[str] = []
    summary = refresh_raw_prices(con, load_project(root), console=lines.append)
    assert lines[0].startswith("no price files in data/raw: generating the built-in synthetic market")
    assert summary.symbols == 154 and summary.rows > 154 * 100
    assert con.execute("select count(*) from raw_prices_rejected").fetchone()[0] == 0
    assert refresh_raw_prices(con, load_project(root), console=lines.append).unchanged


def test_fstore_ingest_checks_and_copies_into_data_raw(tiny_project: Path, tmp_path: Path, capsys) -> None:
    from features.cli import main

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    _write(downloads / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n2024-01-03,10,9,11,10,10,100\n")
    assert main(["ingest", str(downloads), "--project", str(tiny_project)]) == 0
    out = capsys.readouterr().out
    assert "copied 1 file(s)" in out and "1 valid rows" in out and "1 high < low" in out
    assert (tiny_project / "data" / "raw" / "AAPL.csv").read_text() == (downloads / "AAPL.csv").read_text()
    _write(downloads / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n")
    assert main(["ingest", str(downloads / "AAPL.csv"), "--project", str(tiny_project)]) == 1
    assert "already exists with different contents" in capsys.readouterr().err
    assert main(["ingest", str(downloads / "AAPL.csv"), "--project", str(tiny_project), "--force"]) == 0
    _write(downloads / "MSFT.csv", "nothing,useful\n1,2\n")
    assert main(["ingest", str(downloads / "MSFT.csv"), "--project", str(tiny_project)]) == 1
    assert "MSFT.csv: cannot read prices: it has no date column" in capsys.readouterr().err
    assert not (tiny_project / "data" / "raw" / "MSFT.csv").exists()


def test_extra_synthetic_symbols_without_ids_say_how_to_add_them(project_con) -> None:
    root, con, _raw = project_con
    (root / "config" / "project.toml").write_text("[synthetic]\nyears = 0.2\nextra_symbols = 3\n")
    with pytest.raises(UnknownSymbolError, match=r"extra_symbols adds 3 symbol\(s\) with no asset ID") as err:
        refresh_raw_prices(con, load_project(root), console=lambda _msg: None)
    assert err.value.symbols == ("SYN0000", "SYN0001", "SYN0002")
    assert (
        con.execute("select count(*) from duckdb_tables() where table_name = 'raw_prices'").fetchone()[0] == 0
    )


def test_a_file_whose_rows_are_all_rejected_stops_the_build(project_con) -> None:
    root, con, raw = project_con
    _write(raw / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n")
    _refresh(root, con)
    _write(raw / "MSFT.csv", HEADER + "02/01/2024 x,10,11,9,10,10,100\n03/01/2024 x,10,11,9,10,10,100\n")
    with pytest.raises(
        IngestError, match=r"MSFT\.csv: no usable price rows: every row was rejected \(unparseable date\)"
    ):
        _refresh(root, con)
    assert con.execute("select distinct symbol from raw_prices").fetchall() == [("AAPL",)]


def test_without_the_asset_id_dimension_ingest_says_to_build(tiny_project: Path) -> None:
    con = duckdb.connect()
    raw = tiny_project / "data" / "raw"
    raw.mkdir(parents=True)
    _write(raw / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n")
    with pytest.raises(MappingError, match="no dim_symbol yet"):
        refresh_raw_prices(con, load_project(tiny_project), console=lambda _msg: None)


def test_many_per_symbol_files_are_read_together_and_a_deviant_file_alone(project_con) -> None:
    root, con, raw = project_con
    body = "2024-01-02,10,11,9,10,10,100\n2024-01-03,10,12,9,11,11,200\n"
    for symbol in ("AAPL", "MSFT", "KO", "SPY"):
        _write(raw / f"{symbol}.csv", HEADER + body)
    # same header, but a text value where the others have numbers: the shared scan fails, read alone
    _write(raw / "NVDA.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n2024-01-03,10,12,9,eleven,eleven,200\n")
    # another layout (semicolons, day-first dates) in the same folder
    _write(raw / "JPM.csv", "Date;Close\n31/01/2024;150.5\n01/02/2024;151\n")
    summary = _refresh(root, con)
    assert summary.symbols == 6 and summary.rejected == {"unparseable value": 1}
    counts = dict(con.execute("select symbol, count(*) from raw_prices group by symbol").fetchall())
    assert counts == {"AAPL": 2, "MSFT": 2, "KO": 2, "SPY": 2, "NVDA": 1, "JPM": 2}
    assert _rows(con, "SPY")[1] == ("2024-01-03", 10.0, 12.0, 9.0, 11.0, 200.0)
    assert [r[0] for r in _rows(con, "JPM")] == ["2024-01-31", "2024-02-01"]
    sources = dict(
        con.execute("select symbol, any_value(source) from raw_prices_rejected group by 1").fetchall()
    )
    assert sources == {"NVDA": str(raw / "NVDA.csv")}


def test_files_read_in_one_scan_keep_their_own_symbols_and_rows(project_con) -> None:
    root, con, raw = project_con
    symbols = ["AAPL", "MSFT", "KO", "SPY", "JPM", "GS", "XOM"]
    written = {}
    for k, symbol in enumerate(reversed(symbols)):  # written in another order than read
        rows = [(f"2024-01-{d:02d}", 10.0 * (k + 1) + d) for d in range(2, 2 + 3 + k)]
        _write(raw / f"{symbol}.csv", HEADER + "".join(f"{d},{c},{c},{c},{c},{c},{k}\n" for d, c in rows))
        written[symbol] = [(d, c, c, c, c, float(k)) for d, c in rows]
    summary = _refresh(root, con)
    assert summary.rows == sum(len(v) for v in written.values())
    for symbol, rows in written.items():
        assert _rows(con, symbol) == rows


def test_raw_prices_and_rejected_have_the_documented_columns(project_con) -> None:
    root, con, raw = project_con
    _write(raw / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n2024-01-03,10,9,11,10,10,100\n")
    _refresh(root, con)
    columns = {
        table: con.execute(f"select column_name, column_type from (describe {table})").fetchall()
        for table in ("raw_prices", "raw_prices_rejected")
    }
    prices = [("symbol", "VARCHAR"), ("ts", "DATE")] + [
        (c, "DOUBLE") for c in ("open", "high", "low", "close", "volume")
    ]
    assert columns["raw_prices"] == prices
    assert columns["raw_prices_rejected"] == [
        *prices,
        ("source", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("raw_column", "VARCHAR"),
        ("raw_value", "VARCHAR"),
    ]
    leftovers = con.execute("select count(*) from duckdb_tables() where table_name like '_fstore_ingest%'")
    assert leftovers.fetchone()[0] == 0


def test_a_symbol_whose_only_rows_conflict_is_not_counted(project_con) -> None:
    root, con, raw = project_con
    _write(raw / "AAPL.csv", HEADER + "2024-01-02,10,11,9,10,10,100\n")
    _write(raw / "long.csv", "symbol,date,close\nAAPL,2024-01-02,10.5\nMSFT,2024-01-02,370\n")
    summary = _refresh(root, con)
    assert (summary.rows, summary.symbols, summary.rejected) == (1, 1, {"conflicting duplicate": 2})
    assert con.execute("select symbol from raw_prices").fetchall() == [("MSFT",)]
