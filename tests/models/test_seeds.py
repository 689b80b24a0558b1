"""Files a model reads (a ``seeds/`` folder): paths resolve against the project root, and the files'
content is part of the model's fingerprint, so editing a seed rebuilds the model and its descendants."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.config import load_project
from features.models.discovery import discover
from features.models.runner import build_models
from features.models.seeds import files_read, path_literals, resolve_paths
from features.models.state import relations
from features.models.validate import validate

MODELS = {
    # a table reading a seed, a descendant of it, a view reading a seed, and one reading no file
    "sql/weights.sql": "-- tags: seeds\nselect symbol, weight from read_csv('seeds/weights.csv')",
    "sql/marts/scaled.sql": "select symbol, weight * 2 as double_weight from weights",
    "sql/marts/fx_view.sql": "-- materialized: view\nselect * from read_csv(['seeds/fx.csv'], header = true)",
    "sql/marts/plain.sql": "select 1 as one",
}


def _write_csv(path: Path, rows: list[tuple[str, float]], header: str = "symbol,weight") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(f"{s},{w}\n" for s, w in rows))


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    (root / "config" / "project.toml").write_text('[paths]\nwarehouse = "data/warehouse.duckdb"\n')
    for rel, sql in MODELS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(sql + "\n")
    _write_csv(root / "seeds" / "weights.csv", [("AAPL", 0.5), ("MSFT", 0.25)])
    _write_csv(root / "seeds" / "fx.csv", [("EUR", 1.1)], header="ccy,rate")
    return root


def _build(root: Path, con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Build every model; model -> action (full / view / none ...)."""
    project = load_project(root)
    result = build_models(con, project, validate(discover(project), relations(con)), run_tests=False)
    return {r.model: r.action for r in result.runs}


def test_seed_paths_resolve_against_the_project_root_not_the_cwd(
    seeded: Path, tmp_path: Path, monkeypatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "seeds").mkdir(parents=True)
    _write_csv(elsewhere / "seeds" / "weights.csv", [("WRONG", 9.0)])  # a decoy the cwd would find
    monkeypatch.chdir(elsewhere)
    db = seeded / "data" / "warehouse.duckdb"
    db.parent.mkdir()
    with duckdb.connect(str(db)) as con:
        _build(seeded, con)
        assert con.execute("select * from scaled order by symbol").fetchall() == [
            ("AAPL", 1.0),
            ("MSFT", 0.5),
        ]
    monkeypatch.chdir(
        tmp_path
    )  # the view still reads the project's seed from any folder, on a new connection
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select ccy, rate from fx_view").fetchall() == [("EUR", 1.1)]


def test_editing_a_seed_rebuilds_the_model_and_its_descendants_only(seeded: Path, monkeypatch) -> None:
    monkeypatch.chdir(seeded)  # where relative paths resolve either way: this test is about the fingerprint
    with duckdb.connect(str(seeded / "warehouse.duckdb")) as con:
        first = _build(seeded, con)
        assert first == {"weights": "full", "scaled": "full", "fx_view": "view", "plain": "full"}
        assert set(_build(seeded, con).values()) == {"none"}  # unchanged seeds: nothing to do

        _write_csv(seeded / "seeds" / "weights.csv", [("AAPL", 0.75), ("MSFT", 0.25)])
        again = _build(seeded, con)
        assert again == {"weights": "full", "scaled": "full", "fx_view": "none", "plain": "none"}
        assert con.execute("select * from scaled order by symbol").fetchall() == [
            ("AAPL", 1.5),
            ("MSFT", 0.5),
        ]

        _write_csv(seeded / "seeds" / "fx.csv", [("EUR", 1.2)], header="ccy,rate")
        assert _build(seeded, con)["fx_view"] == "view"


def test_a_model_reading_a_glob_rebuilds_when_a_matching_file_appears(seeded: Path, monkeypatch) -> None:
    monkeypatch.chdir(seeded)
    (seeded / "sql" / "weights.sql").write_text("select symbol, weight from read_csv('seeds/w*.csv')\n")
    with duckdb.connect(str(seeded / "warehouse.duckdb")) as con:
        _build(seeded, con)
        _write_csv(seeded / "seeds" / "weights_extra.csv", [("SPY", 0.125)])
        assert _build(seeded, con)["weights"] == "full"
        assert con.execute("select count(*) from weights").fetchone() == (3,)


# --------------------------------------------------------------------------- the scan itself


def test_only_file_function_arguments_are_paths() -> None:
    sql = """-- read_csv('in_a_comment.csv')
    select 'read_csv(''in_a_string.csv'')' as s, "read_csv('ident.csv')" as q
    from READ_CSV( 'a.csv', header = true) /* read_parquet('block.parquet') */
    join read_parquet(['b.parquet', 'c''s.parquet']) using (k)
    join read_json('s3://bucket/x.json') using (k)
    join read_csv_auto('/abs/d.csv') using (k)
    """
    assert [p for _s, _e, p in path_literals(sql)] == [
        "a.csv",
        "b.parquet",
        "c's.parquet",
        "s3://bucket/x.json",
        "/abs/d.csv",
    ]
    assert files_read(sql) == ["a.csv", "b.parquet", "c's.parquet", "/abs/d.csv"]


def test_resolve_paths_makes_relative_local_paths_absolute(tmp_path: Path) -> None:
    root = tmp_path / "it's here"
    sql = "select * from read_csv('seeds/a.csv') join read_parquet(['/abs/b.parquet', 'c.parquet']) using (k)"
    out = resolve_paths(sql, root)
    assert files_read(out) == [str(root / "seeds/a.csv"), "/abs/b.parquet", str(root / "c.parquet")]
    assert out.replace(str(root).replace("'", "''") + "/", "") == sql


@given(st.text(alphabet="abc_./' -", min_size=1, max_size=20))
def test_any_quoted_path_survives_resolution(name: str) -> None:
    quoted = name.replace("'", "''")
    sql = f"select * from read_csv('{quoted}')"
    (path,) = files_read(sql)
    assert path == name
    if not name.startswith("/") and not name.startswith("~"):
        assert files_read(resolve_paths(sql, Path("/root dir"))) == [str(Path("/root dir") / name)]
