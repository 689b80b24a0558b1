"""`fstore query` without --write cannot write the warehouse or any file, whatever the statement.

The issue's reproduction: `EXPLAIN ANALYZE COPY (…) TO 'file'` ran the copy, overwrote the mapping JSON
and planted a price file in data/raw. Each hostile statement below is refused with a message, and
every file of the project (the mapping JSON, data/raw, the warehouse) is byte-identical afterwards.
A second test bypasses the parsers and shows the connection alone refuses to write.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest
from _reliability_kit import fstore, make_project, relation_fingerprints

SYMBOLS = {"sectors": {"Technology": ["AAPL", "MSFT"]}, "crypto": {"Major": ["BTCUSD"]}}
CSV = "Date,Open,High,Low,Close,Volume\n2025-12-01,10,11,9,10.5,100\n2025-12-02,10.5,11.5,10,11,120\n"


def _hostile(root: Path) -> list[str]:
    mapping = root / "config" / "asset_id_mapping.json"
    planted = root / "data" / "raw" / "EVIL.csv"
    outside = root.parent / "outside.csv"
    return [
        f"explain analyze copy (select 1 as x) to '{mapping}'",
        f"explain analyze copy (select 'AAPL' as symbol) to '{planted}'",
        f"copy dim_symbol to '{mapping}'",
        f"copy (select 1) to '{outside}'",
        f"export database '{root / 'data' / 'exported'}'",
        f"attach '{root / 'data' / 'other.duckdb'}' as other",
        "install httpfs",
        "load httpfs",
        "set enable_external_access = true",
        "set threads = 1",
        "reset threads",
        "call pragma_version()",
        "pragma enable_profiling",
        "create secret (type s3, key_id 'a', secret 'b')",
        "checkpoint",
        "vacuum",
        "begin transaction",
        "with t as (delete from dim_symbol returning *) select * from t",
        "with t as (update dim_symbol set symbol = 'X' returning *) select count(*) from t",
        "select * from dim_symbol; drop table dim_symbol",
        "select * from dim_symbol; insert into dim_symbol select * from dim_symbol",
        "create table pwned as select 1",
        "create temp table pwned as select 1",
        "create view pwned as select 1",
        "prepare p as select 1",
        "use memory",
        "select nextval('seq')",
        f"select * from read_csv('{root / 'data' / 'raw' / 'AAPL.csv'}')",  # file access is off
        f"select * from read_parquet('{outside}')",
    ]


def _files(root: Path) -> dict[str, str]:
    """Every file under the project (and its parent's loose files) with its SHA-256."""
    out = {}
    for path in sorted(root.parent.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(root.parent))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("query") / "p", SYMBOLS, years=0.2)
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    for symbol in ("AAPL", "MSFT", "BTCUSD"):
        (raw / f"{symbol}.csv").write_text(CSV)
    assert fstore(root, "build", "--quiet").returncode == 0
    assert (root / "config" / "asset_id_mapping.json").is_file()
    return root


def test_hostile_statements_are_refused_and_every_file_is_byte_identical(built: Path) -> None:
    db = built / "data" / "warehouse.duckdb"
    files, relations = _files(built), relation_fingerprints(db)
    for sql in _hostile(built):
        out = fstore(built, "query", sql)
        assert out.returncode != 0, sql
        assert "read-only" in out.stderr and "Traceback" not in out.stderr, (sql, out.stderr)
        assert _files(built) == files, sql
    assert relation_fingerprints(db) == relations


def test_the_connection_alone_cannot_write_even_if_the_parsers_were_fooled(built: Path) -> None:
    """Lock 2 without lock 1: the statements run directly on the locked connection."""
    from features.query import _lock_down

    db = built / "data" / "warehouse.duckdb"
    files = _files(built)
    target = built / "config" / "asset_id_mapping.json"
    con = duckdb.connect(str(db), read_only=True)
    _lock_down(con)
    try:
        for sql in (
            f"explain analyze copy (select 1 as x) to '{target}'",
            f"copy (select 1 as x) to '{target}'",
            f"export database '{built / 'data' / 'exported'}'",
            f"attach '{built / 'data' / 'new.duckdb'}' as n",
            "load httpfs",
            "set enable_external_access = true",
            "set lock_configuration = false",
            "delete from dim_symbol",
            "create table pwned as select 1",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
    finally:
        con.close()
    assert _files(built) == files


def test_reading_still_works_describe_show_explain_and_project_parquet(built: Path) -> None:
    from features.query import run_queries

    snap = fstore(built, "snapshot", "create", "s1")
    assert snap.returncode == 0, snap.stderr
    db = built / "data" / "warehouse.duckdb"
    expected = duckdb.connect(str(db), read_only=True).execute("select count(*) from training_set").fetchone()
    parquet = built / "data" / "snapshots" / "s1.parquet"
    results = run_queries(
        db,
        f"select count(*) as n from read_parquet('{parquet}');"
        f" select count(*) as n from read_parquet(['{parquet}', '{parquet}']) t where t.asset_id >= 0;"
        f" select count(*) as n from '{parquet}';"
        " describe dim_symbol; show tables; summarize dim_symbol; explain select 1;"
        " explain analyze select count(*) from dim_symbol",
        readable=built,
    )
    assert [r.rows[0][0] for r in results[:3]] == [expected[0], 2 * expected[0], expected[0]]
    assert len(results) == 8 and all(r.columns for r in results)


def test_several_statements_all_run_and_all_print(built: Path) -> None:
    """`fstore query "a; b"` printed only b."""
    out = fstore(built, "query", "select 11 as first_one; select 22 as second_one", "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "first_one\n11\n\nsecond_one\n22\n"
    table = fstore(built, "query", "select 11 as first_one; select 22 as second_one")
    assert "first_one" in table.stdout and "second_one" in table.stdout and "-- 2: select 22" in table.stdout


def test_write_statements_run_together_in_one_transaction(built: Path) -> None:
    db = built / "data" / "warehouse.duckdb"
    failed = fstore(
        built, "query", "--write", "create table half as select 1 as a; select * from no_such_table"
    )
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert not con.execute("select * from duckdb_tables() where table_name = 'half'").fetchall()
    finally:
        con.close()
    ok = fstore(
        built, "query", "--write", "create table whole as select 1 as a; select count(*) as n from whole"
    )
    assert ok.returncode == 0 and ok.stdout.rstrip().endswith("1")


def test_a_plain_select_does_not_import_sqlglot(built: Path) -> None:
    """The parse is skipped when no keyword that could write appears (lock 2 holds regardless), so a
    plain query starts as fast as before the check existed."""
    import subprocess
    import sys

    command = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "features",
        "query",
        "select count(*) from dim_symbol",
    ]
    out = subprocess.run([*command, "--project", str(built)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "sqlglot" not in out.stderr


def test_the_keyword_prefilter_covers_every_node_that_writes() -> None:
    """`may_write` may skip the parse only if every write node and side-effect function has its
    keyword in WRITE_KEYWORDS (a new node added to the walk must add its keyword too)."""
    import re

    from features.statements import _WRITE_NODES, SIDE_EFFECT_FUNCTIONS, WRITE_KEYWORDS, may_write

    for name in _WRITE_NODES:
        if name != "Command":  # opaque text: DuckDB's parser has typed it already
            assert re.findall("[A-Z][a-z]+", name)[0].lower() in WRITE_KEYWORDS, name
    assert SIDE_EFFECT_FUNCTIONS <= WRITE_KEYWORDS
    for sql in _hostile(Path("/p")):
        assert may_write(sql) or "read_" in sql, sql
    assert not may_write("select asset, offset_x, created_at, updated from dim_symbol where symbol = 'AAPL'")
