"""The warehouse toolkit: transactions, quoting, existence, fingerprints and atomic file writes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from features.warehouse import (
    atomic_path,
    atomic_write,
    quote_ident,
    relation_fingerprint,
    remove_stale_temps,
    scalar,
    table_exists,
    transaction,
)


@pytest.fixture
def con():
    c = duckdb.connect(":memory:")
    yield c
    c.close()


def test_transaction_commits_on_success(con) -> None:
    con.execute("create table t (x int)")
    with transaction(con):
        con.execute("insert into t values (1)")
    assert scalar(con, "select count(*) from t") == 1


def test_transaction_rolls_back_and_reraises_the_original_error(con) -> None:
    con.execute("create table t (x int)")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction(con):
        con.execute("insert into t values (1)")
        raise Boom
    assert scalar(con, "select count(*) from t") == 0


def test_transaction_keeps_the_cause_when_duckdb_already_ended_it(con) -> None:
    con.execute("create table t (x int primary key)")
    with pytest.raises(duckdb.ConstraintException), transaction(con):
        con.execute("insert into t values (1)")
        con.execute("commit")  # the transaction ends early: a rollback now fails inside DuckDB
        con.execute("insert into t values (1)")  # the real error
    assert scalar(con, "select count(*) from t") == 1


@pytest.mark.parametrize("name", ["plain", "with space", 'quo"te', "select", "ünïcode"])
def test_quote_ident_round_trips_any_name(con, name: str) -> None:
    con.execute(f"create table {quote_ident(name)} (x int)")
    assert table_exists(con, name)
    assert scalar(con, "select table_name from duckdb_tables()") == name


def test_table_exists_sees_views_unless_told_not_to(con) -> None:
    con.execute("create view v as select 1 as x")
    assert table_exists(con, "v")
    assert not table_exists(con, "v", views=False)
    assert not table_exists(con, "missing")


def test_table_exists_ignores_attached_databases(con, tmp_path: Path) -> None:
    other = duckdb.connect(str(tmp_path / "other.duckdb"))
    other.execute("create table only_there (x int)")
    other.close()
    con.execute(f"attach '{tmp_path / 'other.duckdb'}' as other")
    assert not table_exists(con, "only_there")


def test_relation_fingerprint_ignores_order_but_not_duplicates_or_values(con) -> None:
    con.execute("create table a as select * from range(100) r(x)")
    con.execute("create table b as select * from range(100) r(x) order by x desc")
    con.execute("create table dup as select * from range(100) r(x) union all select 5")
    con.execute("create table twice as select * from range(100) r(x) union all select 5 union all select 5")
    con.execute("create table changed as select case when x = 7 then 70 else x end as x from range(100) r(x)")
    fp = {n: relation_fingerprint(con, n) for n in ("a", "b", "dup", "twice", "changed")}
    assert fp["a"] == fp["b"]
    assert len({fp["a"], fp["dup"], fp["twice"], fp["changed"]}) == 4


def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.json"
    atomic_write(target, "old")
    atomic_write(target, b"new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.json"]


def test_atomic_write_gives_the_mode_open_would_and_keeps_a_replaced_files_mode(tmp_path: Path) -> None:
    umask = os.umask(0o027)
    try:
        fresh = atomic_write(tmp_path / "fresh.txt", "x")
        with open(tmp_path / "reference.txt", "w") as handle:  # what a plain open() gives
            handle.write("x")
    finally:
        os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == (tmp_path / "reference.txt").stat().st_mode & 0o777
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o640)
    atomic_write(kept, "new")
    assert kept.stat().st_mode & 0o777 == 0o640 and kept.read_text() == "new"


def test_atomic_path_failure_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_atomic_path_keeps_the_suffix_writers_look_at(tmp_path: Path) -> None:
    import numpy as np

    target = tmp_path / "w.npz"
    with atomic_path(target, suffix=".npz") as tmp:
        np.savez(tmp, a=np.arange(3))
    assert np.load(target)["a"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npz"]


def test_a_killed_writer_leaves_old_file_and_a_temp_that_is_cleaned(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    code = textwrap.dedent(
        f"""
        import os, signal
        from features.warehouse import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_text("partial")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, check=False)
    assert proc.returncode != 0
    assert target.read_text() == "old"
    stale = remove_stale_temps(target)
    assert len(stale) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
