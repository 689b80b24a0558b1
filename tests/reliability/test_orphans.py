"""Deleted or renamed models leave orphans; nothing reads one silently and `fstore clean` drops them.

The issue's reproduction: delete `rolling_vol.sql` that `vol_rank.sql` reads, and `fstore dag` showed
`vol_rank <- rolling_vol (source)` while the build exited 0, reading the stale table forever.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from _reliability_kit import fstore, make_project, relation_fingerprints

SYMBOLS = {"sectors": {"Technology": ["AAPL", "MSFT"]}, "crypto": {"Major": ["BTCUSD"]}}
ROLLING_VOL = (
    "select asset_id, ts, stddev(ret_1d) over (partition by asset_id order by ts\n"
    "  rows between 19 preceding and current row) as vol\nfrom price_features\n"
)
VOL_RANK = "select asset_id, ts,\n  rank() over (partition by ts order by vol) as r\nfrom {source}\n"


def _tables(root: Path) -> set[str]:
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    finally:
        con.close()


def _bookkept(root: Path) -> set[str]:
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return {r[0] for r in con.execute("select model from _fstore_models").fetchall()}
    finally:
        con.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The default models plus rolling_vol and vol_rank (reading it), built once."""
    root = make_project(tmp_path / "p", SYMBOLS, years=0.3)
    (root / "sql" / "marts" / "rolling_vol.sql").write_text(ROLLING_VOL)
    (root / "sql" / "marts" / "vol_rank.sql").write_text(VOL_RANK.format(source="rolling_vol"))
    out = fstore(root, "build", "--quiet")
    assert out.returncode == 0, out.stderr
    return root


def test_a_model_reading_a_deleted_model_is_an_error_naming_both(project: Path) -> None:
    db = project / "data" / "warehouse.duckdb"
    (project / "sql" / "marts" / "rolling_vol.sql").unlink()
    before = relation_fingerprints(db)
    for command in (("build",), ("dag",), ("ls",)):
        out = fstore(project, *command)
        assert out.returncode != 0 and "Traceback" not in out.stderr, command
        assert "sql/marts/vol_rank.sql:3" in out.stderr and "`rolling_vol`, an orphan" in out.stderr
        assert "(source)" not in out.stdout
    assert relation_fingerprints(db) == before


def test_a_renamed_model_builds_and_the_old_relation_is_reported_then_cleaned(project: Path) -> None:
    marts = project / "sql" / "marts"
    (marts / "rolling_vol.sql").rename(marts / "vol_20d.sql")
    (marts / "vol_rank.sql").write_text(VOL_RANK.format(source="vol_20d"))
    out = fstore(project, "build", "--quiet")
    assert out.returncode == 0, out.stderr
    assert "orphan relation(s)" in out.stderr and "rolling_vol" in out.stderr
    assert {"rolling_vol", "vol_20d"} <= _tables(project)

    dry = fstore(project, "clean", "--orphans")
    assert dry.returncode == 0 and "would drop table `rolling_vol`" in dry.stdout and "dry run" in dry.stdout
    assert "rolling_vol" in _tables(project) and "rolling_vol" in _bookkept(project)

    done = fstore(project, "clean", "--orphans", "--yes")
    assert done.returncode == 0 and "dropped table `rolling_vol`" in done.stdout
    assert "rolling_vol" not in _tables(project) and "rolling_vol" not in _bookkept(project)
    assert "vol_20d" in _tables(project)
    quiet = fstore(project, "build", "--quiet")
    assert quiet.returncode == 0 and "orphan" not in quiet.stderr
    assert "no orphans" in fstore(project, "clean", "--orphans").stdout


def test_a_model_whose_file_has_a_syntax_error_is_not_an_orphan(project: Path) -> None:
    """A typo must never get a table dropped: while the file cannot be read, its relation is kept."""
    (project / "sql" / "marts" / "rolling_vol.sql").write_text("select (asset_id from price_features\n")
    out = fstore(project, "build")
    assert out.returncode != 0 and "syntax error" in out.stderr and "orphan" not in out.stderr
    clean = fstore(project, "clean", "--orphans", "--yes")
    assert clean.returncode != 0 and "syntax error" in clean.stderr
    assert "rolling_vol" in _tables(project)


def test_tables_a_user_made_by_hand_and_system_tables_are_never_orphans(project: Path) -> None:
    made = fstore(project, "query", "--write", "create table scratch as select 1 as a")
    assert made.returncode == 0, made.stderr
    out = fstore(project, "clean", "--orphans", "--yes")
    assert out.returncode == 0 and "no orphans" in out.stdout
    assert {"scratch", "dim_symbol", "raw_prices", "build_runs"} <= _tables(project)


def test_a_deleted_view_model_is_dropped_as_a_view(project: Path) -> None:
    (project / "sql" / "marts" / "vol_view.sql").write_text("-- materialized: view\nselect * from vol_rank\n")
    assert fstore(project, "build", "--quiet").returncode == 0
    (project / "sql" / "marts" / "vol_view.sql").unlink()
    dry = fstore(project, "clean", "--orphans")
    assert "would drop view `vol_view`" in dry.stdout
    assert fstore(project, "clean", "--orphans", "--yes").returncode == 0
    con = duckdb.connect(str(project / "data" / "warehouse.duckdb"), read_only=True)
    try:
        assert not con.execute("select * from duckdb_views() where view_name = 'vol_view'").fetchall()
    finally:
        con.close()


def test_a_system_table_an_older_fstore_let_a_model_replace_is_refused_then_recreated(project: Path) -> None:
    """`sql/build_runs.sql` made every later build crash, even after the file was deleted. A warehouse
    an older fstore left that way: the build names the table and the command; clean drops it; the next
    build recreates it with fstore's own columns."""
    db = project / "data" / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    columns = [
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where table_name = 'build_runs'"
        ).fetchall()
    ]
    con.execute("create or replace table build_runs as select 1 as asset_id, 'FAKE' as symbol")
    con.execute(
        "insert into _fstore_models (model, kind, materialized, fingerprint) values ('build_runs', 'sql', 'table', 'x')"
    )
    con.close()
    out = fstore(project, "build")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "`build_runs`" in out.stderr and "fstore clean --orphans --yes" in out.stderr
    clean = fstore(project, "clean", "--orphans", "--yes")
    assert clean.returncode == 0 and "dropped table `build_runs`" in clean.stdout
    again = fstore(project, "build", "--quiet")
    assert again.returncode == 0, again.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        now = [
            r[0]
            for r in con.execute(
                "select column_name from duckdb_columns() where table_name = 'build_runs'"
            ).fetchall()
        ]
        assert now == columns
        assert not con.execute("select * from _fstore_models where model = 'build_runs'").fetchall()
    finally:
        con.close()
