"""Property-based fuzz of raw price files: any junk builds with rejected rows counted, or stops
with a clear FstoreError naming the file — never another exception, never a half-written table."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.config import load_project
from features.errors import FstoreError
from features.ingest import refresh_raw_prices

SYMBOLS = ["AAPL", "MSFT", "BTCUSD"]
HEADERS = [
    "Date",
    "date",
    "timestamp",
    "ts",
    "Open",
    "High",
    "Low",
    "Close",
    "Adj Close",
    "Volume",
    "vol",
    "symbol",
    "junk",
]

cell = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(
        ["", "NaN", "inf", "-inf", "null", "2024-01-02", "2024-13-45", "1e309", "abc", '"', "a,b", "0"]
    ),
    st.dates().map(str),
    st.text(max_size=6),
    st.sampled_from([*SYMBOLS, "aapl", " MSFT "]),
)
row = st.lists(cell, min_size=0, max_size=9)


@st.composite
def price_file(draw) -> tuple[str, str]:
    """(file name, text): a plausible header with junk rows, or junk throughout."""
    name = draw(st.sampled_from(["AAPL.csv", "MSFT.csv", "prices.csv", "BTCUSD.tsv", "X.csv"]))
    if draw(st.booleans()):
        header = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=8, unique=True))
    else:
        header = draw(st.lists(st.text(min_size=0, max_size=5), max_size=6))
    rows = draw(st.lists(row, max_size=12))
    sep = "\t" if name.endswith(".tsv") else ","
    text = sep.join(header) + "\n" + "\n".join(sep.join(r) for r in rows)
    if draw(st.booleans()):
        text += "\n"
    return name, text


def _setup(root: Path) -> None:
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config" / "project.toml").write_text("")
    (root / "config" / "symbols.json").write_text(
        '{"sectors": {"Tech": ["AAPL", "MSFT"]}, "crypto": {"Major": ["BTCUSD"]}}'
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(price_file(), min_size=1, max_size=3, unique_by=lambda f: f[0]))
def test_junk_price_files_never_crash(tmp_path_factory, files) -> None:
    root = tmp_path_factory.mktemp("fuzz")
    _setup(root)
    project = load_project(root)
    con = duckdb.connect()
    try:
        from features.dimension import ensure_dimension

        ensure_dimension(con, project)
        con.execute(
            "create table raw_prices as select 'AAPL' as symbol, date '2020-01-01' as ts, 1.0 as close"
        )
        before = con.execute("select * from raw_prices").fetchall()
        raw = root / "data" / "raw"
        raw.mkdir(parents=True)
        for name, text in files:
            (raw / name).write_text(text)
        try:
            summary = refresh_raw_prices(con, project)
        except FstoreError as err:
            assert err.file or err.symbols, str(err)  # it names the file or the symbols
            assert con.execute("select * from raw_prices").fetchall() == before  # untouched
            return
        # it built: what reached raw_prices is clean, and everything else is counted as rejected
        bad = con.execute(
            "select count(*) from raw_prices where not (close > 0 and isfinite(close)) "
            "or (high is not null and low is not null and high < low) "
            "or (volume is not null and volume < 0) or symbol not in ('AAPL', 'MSFT', 'BTCUSD')"
        ).fetchall()[0][0]
        assert bad == 0
        dupes = con.execute("select count(*) - count(distinct (symbol, ts)) from raw_prices").fetchall()[0][0]
        assert dupes == 0
        assert summary.rows == con.execute("select count(*) from raw_prices").fetchall()[0][0]
        assert (
            sum(summary.rejected.values())
            == con.execute("select count(*) from raw_prices_rejected").fetchall()[0][0]
        )
        assert not math.isnan(summary.rows)
    finally:
        con.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(price_file(), min_size=1, max_size=3, unique_by=lambda f: f[0]),
    policy=st.sampled_from(["quarantine", "error"]),
)
def test_fstore_ingest_check_and_the_build_agree_on_any_file(tmp_path_factory, files, policy) -> None:
    """`fstore ingest` refuses exactly what the build refuses, and predicts the build's counts."""
    from features.ingest import preview_files, price_files

    root = tmp_path_factory.mktemp("agree")
    _setup(root)
    (root / "config" / "project.toml").write_text(f'[ingest]\nunknown_symbols = "{policy}"\n')
    project = load_project(root)
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    for name, text in files:
        (raw / name).write_text(text)
    con = duckdb.connect()
    try:
        from features.dimension import ensure_dimension

        ensure_dimension(con, project)
        outcomes = []
        for run in (
            lambda: preview_files(price_files(raw), project),
            lambda: refresh_raw_prices(con, project),
        ):
            try:
                summary = run()
            except FstoreError as err:
                outcomes.append((type(err).__name__, err.file, err.symbols))
            else:
                outcomes.append((summary.rows, summary.symbols, summary.rejected, summary.duplicates_dropped))
        assert outcomes[0] == outcomes[1]
    finally:
        con.close()
