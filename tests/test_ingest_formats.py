"""Real download layouts build without edits: each committed fixture under tests/fixtures/prices ingests
to the values an independent parse (Python's csv and datetime, written here per vendor) gives, and
random files in the common number and date styles parse to what was written."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.config import load_project
from features.dimension import ensure_dimension
from features.errors import IngestError
from features.ingest import refresh_raw_prices

FIXTURES = Path(__file__).parent / "fixtures" / "prices"
MISSING = {"", ".", "-", "null", "n/a"}


# ------------------------------------------------------------------ an independent parse, vendor by vendor


def us_number(text: str) -> float | None:
    """$1,234.56 / "29,044,171" / (1.23) / 1.2M, as a person reads a US download."""
    text = text.strip()
    if text.lower() in MISSING:
        return None
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}.get(text[-1:].upper(), 1.0)
    if scale != 1.0:
        text = text[:-1]
    negative = text.startswith("(") and text.endswith(")")
    value = float(text.strip("()").replace("$", "").replace(",", ""))
    return (-value if negative else value) * scale


def eu_number(text: str) -> float | None:
    """1.234,56 as a German download writes it."""
    text = text.strip()
    return None if text.lower() in MISSING else float(text.replace(".", "").replace(",", "."))


def strptime(fmt: str) -> Callable[[str], dt.date]:
    return lambda text: dt.datetime.strptime(text.strip(), fmt).date()


def epoch(text: str) -> dt.date:
    return dt.datetime.fromtimestamp(int(text), tz=dt.UTC).date()


def first_ten(text: str) -> dt.date:
    return dt.date.fromisoformat(text.strip()[:10])


# file -> (symbol, delimiter, "date|open|high|low|close[+adj close]|volume" columns ("-": none),
#          date parser, number parser)
SPECS: dict[str, tuple] = {
    "yahoo/AAPL.csv": ("AAPL", ",", "Date|Open|High|Low|Close+Adj Close|Volume", first_ten, us_number),
    "yahoo/^GSPC.csv": ("^GSPC", ",", "Date|Open|High|Low|Close+Adj Close|Volume", first_ten, us_number),
    "yahoo/BTC-USD.csv": ("BTC-USD", ",", "Date|Open|High|Low|Close+Adj Close|Volume", first_ten, us_number),
    "bom_crlf/JPM.csv": ("JPM", ",", "Date|Open|High|Low|Close+Adj Close|Volume", first_ten, us_number),
    "stooq/spy.us.csv": ("SPY", ",", "Date|Open|High|Low|Close|Volume", first_ten, us_number),
    "stooq/qqq.us.csv": (
        "QQQ",
        ",",
        "<DATE>|<OPEN>|<HIGH>|<LOW>|<CLOSE>|<VOL>",
        strptime("%Y%m%d"),
        us_number,
    ),
    "nasdaq/MSFT.csv": ("MSFT", ",", "Date|Open|High|Low|Close/Last|Volume", strptime("%m/%d/%Y"), us_number),
    "investing/SPX.csv": ("SPX", ",", "Date|Open|High|Low|Price|Vol.", strptime("%m/%d/%Y"), us_number),
    "investing/KO.csv": ("KO", ",", "Date|Open|High|Low|Price|Vol.", strptime("%m/%d/%Y"), us_number),
    "fred/SP500.csv": ("SP500", ",", "DATE|-|-|-|SP500|-", first_ten, us_number),
    "fred/DJIA.csv": ("DJIA", ",", "observation_date|-|-|-|DJIA|-", first_ten, us_number),
    "crypto/ETH-USD.csv": ("ETH-USD", ",", "timestamp|open|high|low|close|volume", first_ten, us_number),
    "crypto/SOLUSD.csv": ("SOLUSD", ",", "time|open|high|low|close|volume", epoch, us_number),
    "crypto/ADAUSD.csv": ("ADAUSD", ",", "snapped_at|-|-|-|price|total_volume", first_ten, us_number),
    "crypto/DOTUSD.csv": ("DOTUSD", ",", "Date|Open|High|Low|Close|Volume", first_ten, us_number),
    "european/SAP.csv": ("SAP", ";", "Date|Open|High|Low|Close|Volume", strptime("%d.%m.%Y"), eu_number),
}
SYMBOL_MAP = {"SPY.US": "SPY", "QQQ.US": "QQQ"}


def expected_rows(rel: str) -> list[tuple]:
    """(ts, open, high, low, close, volume) a careful person would load from the file: the adjusted
    close when there is one (open/high/low scaled by adj/close); rows with no close left out."""
    _, delim, spec, date, number = SPECS[rel]
    names = spec.split("|")
    with open(FIXTURES / rel, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delim)
        rows = []
        for rec in reader:
            ts_col, o_col, h_col, l_col, c_col, v_col = names
            close_col, _, adj_col = c_col.partition("+")

            def cell(column: str, rec: dict = rec) -> float | None:
                return None if column == "-" else number(rec[column])

            o, h, low, c, v = cell(o_col), cell(h_col), cell(l_col), cell(close_col), cell(v_col)
            if adj_col:
                adj = cell(adj_col)
                if adj is None:
                    continue
                factor = adj / c
                o, h, low, c = o * factor, h * factor, low * factor, adj
            if c is None:
                continue
            rows.append((date(rec[ts_col]), o, h, low, c, v))
    return sorted(rows)


def _project(root: Path, symbols: list[str], toml: str = "") -> Path:
    (root / "config").mkdir(parents=True)
    (root / "config" / "symbols.json").write_text(json.dumps({"sectors": {"All": sorted(set(symbols))}}))
    (root / "config" / "project.toml").write_text(toml)
    (root / "data" / "raw").mkdir(parents=True)
    return root


def _ingest(root: Path, console: Callable[[str], None] | None = None):
    project = load_project(root)
    con = duckdb.connect()
    ensure_dimension(con, project)
    summary = refresh_raw_prices(con, project, console=console or (lambda _m: None))
    return con, summary


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def _same_rows(got: list[tuple], want: list[tuple]) -> bool:
    return len(got) == len(want) and all(
        g[0] == w[0] and all(_close(x, y) for x, y in zip(g[1:], w[1:], strict=True))
        for g, w in zip(got, want, strict=True)
    )


def test_every_download_layout_ingests_to_an_independent_parse(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "p",
        [spec[0] for spec in SPECS.values()],
        "[ingest]\nsymbol_map = { " + ", ".join(f'"{k}" = "{v}"' for k, v in SYMBOL_MAP.items()) + " }\n",
    )
    for rel in SPECS:
        shutil.copy(FIXTURES / rel, root / "data" / "raw" / Path(rel).name)
    con, summary = _ingest(root)
    assert summary.symbols == len(SPECS)
    for rel, (symbol, *_rest) in SPECS.items():
        got = con.execute(
            "select ts, open, high, low, close, volume from raw_prices where symbol = ? order by ts", [symbol]
        ).fetchall()
        want = expected_rows(rel)
        assert _same_rows(got, want), f"{rel}: {got[:3]} != {want[:3]}"
    # holidays in FRED files ('.' and blank) are missing closes, kept with their raw text
    assert con.execute(
        "select symbol, ts::varchar, raw_column, raw_value from raw_prices_rejected order by 1, 2"
    ).fetchall() == [
        ("DJIA", "2024-01-01", "DJIA", ""),
        ("DJIA", "2024-01-15", "DJIA", ""),
        ("SP500", "2024-01-01", "SP500", "."),
        ("SP500", "2024-01-15", "SP500", "."),
    ]


def test_ambiguous_day_month_dates_are_an_error_until_a_format_is_set(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", ["GS"])
    shutil.copy(FIXTURES / "ambiguous" / "GS.csv", root / "data" / "raw" / "GS.csv")
    with pytest.raises(IngestError, match=r"GS\.csv: its dates are ambiguous") as err:
        _ingest(root)
    assert 'date_format = "%d/%m/%Y" or "%m/%d/%Y"' in str(err.value)
    (root / "config" / "project.toml").write_text('[ingest]\ndate_format = "%d/%m/%Y"\n')
    con, _summary = _ingest(root)
    with open(FIXTURES / "ambiguous" / "GS.csv", newline="") as handle:
        want = [
            (dt.datetime.strptime(r["Date"], "%d/%m/%Y").date(), float(r["Close"]))
            for r in csv.DictReader(handle)
        ]
    assert con.execute("select ts, close from raw_prices order by ts").fetchall() == sorted(want)


def test_the_date_format_that_settles_one_file_never_misreads_another(tmp_path: Path) -> None:
    """The hint's ``date_format`` for an ambiguous day-first file, in a project that also holds a
    month-first Nasdaq download and an ISO file with the same header (read in one scan with it): each
    keeps its own layout. Before, the Nasdaq rows with a day above 12 were rejected and the others read
    with day and month swapped (exit 0), and every row of the ISO file was rejected."""
    root = _project(tmp_path / "p", ["GS", "MSFT", "KO"], '[ingest]\ndate_format = "%d/%m/%Y"\n')
    for rel in ("ambiguous/GS.csv", "nasdaq/MSFT.csv"):
        shutil.copy(FIXTURES / rel, root / "data" / "raw" / Path(rel).name)
    iso = [(dt.date(2024, 1, 2) + dt.timedelta(days=i), 60.0 + i / 4) for i in range(20)]
    (root / "data" / "raw" / "KO.csv").write_text("Date,Close\n" + "".join(f"{d},{c}\n" for d, c in iso))
    con, _summary = _ingest(root)
    assert con.execute("select count(*) from raw_prices_rejected").fetchone() == (0,)
    assert con.execute("select ts, close from raw_prices where symbol = 'KO' order by ts").fetchall() == iso
    got = con.execute("select ts, close from raw_prices where symbol = 'MSFT' order by ts").fetchall()
    assert got == [(r[0], r[4]) for r in expected_rows("nasdaq/MSFT.csv")]
    with open(FIXTURES / "ambiguous" / "GS.csv", newline="") as handle:
        want = sorted(
            (dt.datetime.strptime(r["Date"], "%d/%m/%Y").date(), float(r["Close"]))
            for r in csv.DictReader(handle)
        )
    assert con.execute("select ts, close from raw_prices where symbol = 'GS' order by ts").fetchall() == want


def test_a_bad_date_format_setting_is_a_config_error(tmp_path: Path) -> None:
    from features.errors import ConfigError

    root = _project(tmp_path / "p", ["GS"], '[ingest]\ndate_format = "day/month"\n')
    shutil.copy(FIXTURES / "ambiguous" / "GS.csv", root / "data" / "raw" / "GS.csv")
    with pytest.raises(ConfigError, match=r"date_format 'day/month' is not a strptime format"):
        _ingest(root)


# ------------------------------------------------------------------ a split with blank adjusted closes


def _nvda(root: Path) -> list[dict[str, str]]:
    shutil.copy(FIXTURES / "split" / "NVDA.csv", root / "data" / "raw" / "NVDA.csv")
    with open(FIXTURES / "split" / "NVDA.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _max_abs_log_return(con: duckdb.DuckDBPyConnection) -> float:
    closes = [r[0] for r in con.execute("select close from raw_prices order by ts").fetchall()]
    return max(abs(math.log(b / a)) for a, b in itertools.pairwise(closes))


def test_blank_adjusted_closes_are_quarantined_never_mixed_with_raw_closes(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", ["NVDA"])
    rows = _nvda(root)
    lines: list[str] = []
    con, summary = _ingest(root, lines.append)
    blank = [r["Date"] for r in rows if r["Adj Close"] == ""]
    assert summary.rejected == {"missing adjusted close": len(blank)}
    assert f"{len(blank)} missing adjusted close" in lines[0]
    got = con.execute(
        "select ts::varchar, raw_column, raw_value from raw_prices_rejected order by ts"
    ).fetchall()
    assert got == [(d, "Adj Close", "") for d in blank]
    kept = {r["Date"]: float(r["Adj Close"]) for r in rows if r["Adj Close"]}
    assert dict(con.execute("select ts::varchar, close from raw_prices").fetchall()) == kept
    # the file's genuine daily moves are about 2%; a raw close beside an adjusted one would be ~70%
    assert _max_abs_log_return(con) < 0.15


def test_fill_policy_fills_only_where_the_neighbours_ratio_is_exact(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", ["NVDA"], '[ingest]\nmissing_adjusted_close = "fill"\n')
    rows = _nvda(root)
    con, summary = _ingest(root)
    ratio = [float(r["Adj Close"]) / float(r["Close"]) if r["Adj Close"] else None for r in rows]
    want_filled, want_rejected = {}, []
    for i, r in enumerate(rows):
        if ratio[i] is not None:
            continue
        before = next((x for x in reversed(ratio[:i]) if x is not None), None)
        after = next((x for x in ratio[i + 1 :] if x is not None), None)
        if before is not None and after is not None and math.isclose(before, after, rel_tol=1e-3):
            want_filled[r["Date"]] = float(r["Close"]) * after
        else:
            want_rejected.append(r["Date"])
    assert want_filled and want_rejected  # the fixture has both kinds
    assert summary.adjusted_filled == len(want_filled)
    assert "blank adjusted closes filled" in summary.line()
    closes = dict(con.execute("select ts::varchar, close from raw_prices").fetchall())
    for day, value in want_filled.items():
        assert math.isclose(closes[day], value, rel_tol=1e-12)
    assert [
        r[0] for r in con.execute("select ts::varchar from raw_prices_rejected order by ts").fetchall()
    ] == want_rejected
    assert _max_abs_log_return(con) < 0.15


def test_an_adjusted_file_with_no_adjusted_close_at_all_says_how_to_use_its_close(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", ["AAPL"])
    (root / "data" / "raw" / "AAPL.csv").write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,10,11,9,10,,100\n2024-01-03,10,11,9,10,,100\n"
    )
    with pytest.raises(IngestError, match=r"every row was rejected \(missing adjusted close\)") as err:
        _ingest(root)
    assert "use_adjusted_close = false" in str(err.value)


# ------------------------------------------------------------------ random files in common styles


def _fmt_price(x: float, style: str) -> str:
    if style == "plain":
        return f"{x:.2f}"
    if style == "eu":
        return f"{x:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f'"${x:,.2f}"' if style == "quoted" else f'"{x:,.2f}"'


def _fmt_volume(v: int, style: str) -> str:
    if style == "eu":
        return f"{v:,}".replace(",", ".")
    if style == "investing":
        return f'"{v / 1e6:.2f}M"' if v >= 1e6 else f'"{v / 1e3:.2f}K"'
    return f'"{v:,}"' if style == "quoted" else str(v)


def _parse_volume(text: str) -> float:
    text = text.strip('"')
    if text[-1] in "KM":  # Investing.com
        return float(text[:-1]) * (1e6 if text[-1] == "M" else 1e3)
    return float(text.replace(",", "").replace(".", ""))


bar = st.tuples(
    st.decimals(min_value="0.01", max_value="999999.99", places=2),
    st.decimals(min_value="0", max_value="0.2", places=2),
    st.integers(min_value=1_000, max_value=900_000_000),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    bars=st.lists(bar, min_size=2, max_size=12), style=st.sampled_from(["plain", "quoted", "investing", "eu"])
)
def test_numbers_in_every_common_style_parse_to_what_was_written(tmp_path_factory, bars, style) -> None:
    root = _project(tmp_path_factory.mktemp("num"), ["ABC"])
    delim = ";" if style == "eu" else ","
    lines, want = [delim.join(["Date", "Open", "High", "Low", "Close", "Volume"])], []
    day = dt.date(2020, 1, 1)
    for i, (close, spread, volume) in enumerate(bars):
        low, high = float(close) * (1 - float(spread)), float(close) * (1 + float(spread))
        cells = [round(low, 2), round(high, 2), round(low, 2), float(close)]  # open = low
        text = [_fmt_price(x, style) for x in cells]
        vol = _fmt_volume(volume, style)
        lines.append(delim.join([str(day + dt.timedelta(days=i)), *text, vol]))
        want.append((day + dt.timedelta(days=i), *cells, _parse_volume(vol)))
    (root / "data" / "raw" / "ABC.csv").write_text("\n".join(lines) + "\n")
    con, summary = _ingest(root)
    assert summary.rejected == {}
    got = con.execute("select ts, open, high, low, close, volume from raw_prices order by ts").fetchall()
    assert _same_rows(got, want)


DATE_STYLES = [
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%m-%d-%Y",
    "%d-%b-%Y",
    "%b %d, %Y",
    "%Y%m%d",
    "iso-z",
    "epoch",
]


def _write_date(day: dt.date, style: str) -> str:
    if style == "iso-z":
        return f"{day}T00:00:00Z"
    if style == "epoch":
        return str(int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()))
    text = day.strftime(style)
    return f'"{text}"' if "," in text else text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    days=st.lists(st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)), min_size=1, max_size=10, unique=True),
    style=st.sampled_from(DATE_STYLES),
)
def test_dates_are_read_in_their_own_layout_or_refused_when_ambiguous(tmp_path_factory, days, style) -> None:
    root = _project(tmp_path_factory.mktemp("dates"), ["ABC"])
    text = "date,close\n" + "".join(f"{_write_date(d, style)},{i + 1}\n" for i, d in enumerate(days))
    (root / "data" / "raw" / "ABC.csv").write_text(text)
    day_month = style[:2] in ("%d", "%m") and style[2] in "/.-" and style[3:5] in ("%m", "%d")
    ambiguous = day_month and all(d.day <= 12 for d in days) and any(d.day != d.month for d in days)
    if ambiguous:
        with pytest.raises(IngestError, match="ambiguous"):
            _ingest(root)
        return
    con, summary = _ingest(root)
    assert summary.rejected == {}
    got = con.execute("select ts, close from raw_prices order by ts").fetchall()
    assert got == sorted((d, float(i + 1)) for i, d in enumerate(days))


def test_signs_parentheses_and_missing_markers_parse_and_keep_their_text(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", ["ABC"])
    rows = [
        ("2024-01-02", "$10.50", "$11.00", "$10.00", "$10.75", "N/A"),  # volume N/A: missing, row good
        ("2024-01-03", "(1.23)", "$11.00", "$10.00", "$10.75", "1.2M"),  # negative open: rejected
        ("2024-01-04", "$10.50", "$11.00", "$10.00", "null", "850K"),  # close null: missing close
        ("2024-01-05", "-", "-", "-", "$10.80", "-"),  # close-only row
        ("2024-01-08", "$10.50", "$11.00", "$10.00", "$1O.80", "5"),  # a letter O: unparseable
    ]
    text = "Date,Open,High,Low,Close,Volume\n" + "".join(",".join(r) + "\n" for r in rows)
    (root / "data" / "raw" / "ABC.csv").write_text(text)
    con, summary = _ingest(root)
    assert con.execute(
        "select ts::varchar, open, high, low, close, volume from raw_prices order by ts"
    ).fetchall() == [
        ("2024-01-02", 10.5, 11.0, 10.0, 10.75, None),
        ("2024-01-05", None, None, None, 10.8, None),
    ]
    rejected = con.execute(
        "select ts::varchar, reason, raw_column, raw_value, open, volume from raw_prices_rejected order by ts"
    ).fetchall()
    assert rejected == [
        ("2024-01-03", "non-positive price", "Open", "(1.23)", -1.23, 1_200_000.0),
        ("2024-01-04", "missing close", "Close", "null", 10.5, 850_000.0),
        ("2024-01-08", "unparseable value", "Close", "$1O.80", 10.5, 5.0),
    ]
    assert summary.rejected == {"missing close": 1, "non-positive price": 1, "unparseable value": 1}
