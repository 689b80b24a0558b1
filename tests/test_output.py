"""Query results as text: valid JSON for every DuckDB type, full precision in CSV and JSON, and tables
a 100-column terminal can read (issue 12: BLOB/INTERVAL/UUID/TIME crashed `--format json`, NaN was
printed as invalid JSON; issue 14: 17-digit floats wrapping at 80-120 columns)."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from features.output import display_width, format_result, format_results, short_float


@dataclass
class Rows:
    columns: list[str]
    rows: list[tuple[Any, ...]]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**127), max_value=2**127),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**12), max_value=10**12),
    st.text(max_size=60),
    st.binary(max_size=20),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.just(UTC)),
    st.times(),
    st.timedeltas(min_value=timedelta(days=-5000), max_value=timedelta(days=5000)),
    st.uuids(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _expected_json(value: Any) -> Any:
    """What a JSON reader must get back for ``value`` (the documented contract)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, timedelta):
        return None  # checked separately (ISO 8601 duration)
    if isinstance(value, list):
        return [_expected_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _expected_json(v) for k, v in value.items()}
    return value


def _same(got: Any, want: Any, original: Any) -> bool:
    if isinstance(original, float) and math.isfinite(original):  # every digit kept
        return (
            isinstance(got, Decimal | int)
            and Decimal(got) == Decimal(repr(original))
            and float(got) == original
        )
    if isinstance(original, timedelta):
        return isinstance(got, str) and got.lstrip("-").startswith("P")
    if isinstance(original, list):
        return all(_same(g, w, o) for g, w, o in zip(got, want, original, strict=True))
    if isinstance(original, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k], original[k]) for k in original)
    return got == want


@settings(max_examples=200, deadline=None)
@given(row=st.lists(values, min_size=1, max_size=6))
def test_json_is_always_valid_and_exact(row: list[Any]) -> None:
    columns = [f"c{i}" for i in range(len(row))]
    text = format_result(Rows(columns, [tuple(row)]), "json")
    (decoded,) = json.loads(text, parse_float=Decimal)
    for column, value in zip(columns, row, strict=True):
        assert _same(decoded[column], _expected_json(value), value), (value, decoded[column])


@settings(max_examples=200, deadline=None)
@given(
    numbers=st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.decimals(allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_csv_keeps_full_precision(numbers: list[Any]) -> None:
    text = format_result(Rows([f"c{i}" for i in range(len(numbers))], [tuple(numbers)]), "csv")
    _, fields = list(csv.reader(io.StringIO(text)))
    for field, value in zip(fields, numbers, strict=True):
        assert (float(field) == value) if isinstance(value, float) else (Decimal(field) == value)


@settings(max_examples=300, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v != 0))
def test_table_floats_keep_six_significant_digits(x: float) -> None:
    shown = short_float(x)
    assert len(shown) <= 22
    assert math.isclose(float(shown.replace(",", "")), x, rel_tol=5e-6)


@settings(max_examples=100, deadline=None)
@given(
    columns=st.lists(st.from_regex(r"[a-z_]{1,30}", fullmatch=True), min_size=1, max_size=25),
    data=st.data(),
)
def test_tables_fit_a_100_column_terminal(columns: list[str], data: st.DataObject) -> None:
    row_values = st.one_of(st.floats(), st.integers(-(10**12), 10**12), st.text(max_size=200), st.none())
    rows = data.draw(
        st.lists(st.tuples(*[row_values for _ in columns]), min_size=1, max_size=5), label="rows"
    )
    text = format_result(Rows(columns, rows), "table", width=100)
    lines = text.splitlines()
    assert all(display_width(line) <= 100 for line in lines), max(lines, key=display_width)
    for name in columns:  # every column is shown, in some block
        assert any(name in line.split() for line in lines)
    blocks = sum(1 for line in lines if line and set(line) <= {"-", " "})  # one rule under each header
    assert len(lines) == blocks * (2 + len(rows)) + blocks - 1  # blocks apart by one blank line


def _db(tmp_path: Path) -> Path:
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "create table t as select '\\xAA\\x00abc'::blob b, interval '1 month 2 days 3 hours' i,"
        " '6f1c1e4e-8f9b-4a7e-9b0e-2a8f0f3c1d2e'::uuid u, time '12:34:56.789' tm, 1.2345678901::decimal(18,10) d,"
        " [1.5, 'nan'::double] l, {'a': 'inf'::double, 'b': [interval 1 day]} s, 'nan'::double n,"
        " 170141183460469231731687303715884105727::hugeint h, timestamptz '2024-01-01 00:00:00+00' tz"
    )
    con.close()
    return db


def test_every_duckdb_type_prints_as_valid_json_with_duckdbs_own_values(tmp_path: Path) -> None:
    """Through the CLI: BLOB, INTERVAL, UUID, TIME, DECIMAL, HUGEINT, nested values and NaN/inf."""
    db = _db(tmp_path)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "project.toml").write_text("")
    command = ["query", "select * from t", "--format", "json", "--db", str(db), "--project", str(tmp_path)]
    out = subprocess.run([sys.executable, "-m", "features", *command], capture_output=True, text=True)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    (row,) = json.loads(out.stdout, parse_float=Decimal)
    con = duckdb.connect(str(db), read_only=True)
    reference = con.execute(
        "select i::varchar, u::varchar, tm::varchar, d::varchar, h::varchar from t"
    ).fetchone()
    con.close()
    assert row["b"] == "\\xaa00616263"
    assert (row["i"], row["u"], str(row["d"]), str(row["h"])) == reference[:2] + reference[3:]
    assert time.fromisoformat(row["tm"]) == time.fromisoformat(reference[2])
    assert row["l"] == [Decimal("1.5"), "NaN"] and row["n"] == "NaN"
    assert row["s"]["a"] == "Infinity" and row["s"]["b"] == ["P1D"]
    assert datetime.fromisoformat(row["tz"]) == datetime(2024, 1, 1, tzinfo=UTC)
    from features.query import run_queries

    (result,) = run_queries(db, "select * from t")
    csv_text = format_result(result, "csv")
    assert "1 month 2 days 03:00:00" in csv_text and "\\xaa00616263" in csv_text
    table = format_result(result, "table", width=100)
    assert all(len(line) <= 100 for line in table.splitlines())


def test_several_results_as_json_are_one_array_of_arrays(tmp_path: Path) -> None:
    from features.query import run_queries

    results = run_queries(_db(tmp_path), "select 1 as a; select 'x' as b union all select 'y'")
    assert json.loads(format_results(results, "json")) == [[{"a": 1}], [{"b": "x"}, {"b": "y"}]]


@given(columns=st.lists(st.sampled_from(["a", "a_2", "b", "A"]), min_size=1, max_size=6))
def test_json_keeps_every_value_when_column_names_repeat(columns: list[str]) -> None:
    row = tuple(range(len(columns)))
    (decoded,) = json.loads(format_result(Rows(columns, [row]), "json"))
    assert sorted(decoded.values()) == list(row)
