"""A model, or a custom data test, can only read: whatever it holds, it cannot change the warehouse.

Each hostile model is a validation error naming its file and the line of the offending statement;
through the CLI the build stops before anything runs and every relation is unchanged. Two model files
whose names differ only by case are an error naming both (DuckDB's names are case-insensitive).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from _reliability_kit import fstore, make_project, relation_fingerprints
from hypothesis import given, settings
from hypothesis import strategies as st

from features.config import load_project
from features.errors import ModelError, ValidationErrors
from features.models.discovery import discover
from features.models.state import relations
from features.models.validate import validate

SYMBOLS = {"sectors": {"Technology": ["AAPL", "MSFT"]}, "crypto": {"Major": ["BTCUSD"]}}

# (model text, line the error must point at): each writes somewhere inside, or is not one query
HOSTILE_MODELS = [
    ("with t as (\n  delete from dim_symbol returning *\n)\nselect * from t\n", 2),
    ("with t as (select 1 as a)\nselect * from t;\ndrop table dim_symbol\n", 3),
    ("select 1 as a;\nselect 2 as a\n", 2),
    ("with t as (\n  update dim_symbol set symbol = 'X' returning *\n) select * from t\n", 2),
    ("with t as (\n  insert into dim_symbol select * from dim_symbol returning *\n) select * from t\n", 2),
    ("copy dim_symbol to 'out.csv'\n", 1),
    ("attach 'other.duckdb' as o\n", 1),
    ("pragma enable_profiling\n", 1),
    ("install httpfs\n", 1),
    ("set threads = 1\n", 1),
    ("create table pwned as select 1 as a\n", 1),
    ("-- a comment\n\nselect nextval('seq') as a\n", 3),
    ("select *\nfrom checkpoint()\n", 2),
]


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "p"
    (root / "config").mkdir(parents=True)
    (root / "config" / "project.toml").write_text('[paths]\npython_models = ["models"]\n')
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _problems(root: Path) -> list[ModelError]:
    con = duckdb.connect()
    con.execute("create table dim_symbol (asset_id integer, symbol varchar)")
    with pytest.raises(ModelError) as info:
        validate(discover(load_project(root)), relations(con))
    err = info.value
    return list(err.errors) if isinstance(err, ValidationErrors) else [err]  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("text", "line"), HOSTILE_MODELS, ids=[t.split()[0] + str(i) for i, (t, _) in enumerate(HOSTILE_MODELS)]
)
def test_a_model_that_writes_anywhere_is_a_validation_error_at_its_line(
    tmp_path: Path, text: str, line: int
) -> None:
    root = _project(tmp_path, {"sql/evil.sql": text, "sql/ok.sql": "select 1 as a"})
    (err,) = _problems(root)
    assert (err.file, err.line) == ("sql/evil.sql", line), str(err)
    assert "only read" in str(err) or "one statement" in str(err) or "is a query" in str(err)


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(
        [
            "delete from dim_symbol",
            "update dim_symbol set symbol = 'X'",
            "insert into dim_symbol values (9, 'Z')",
        ]
    ),
    depth=st.integers(1, 3),
    padding=st.integers(0, 4),
)
def test_dml_nested_at_any_depth_of_ctes_is_found(
    tmp_path_factory, kind: str, depth: int, padding: int
) -> None:
    """DML in a CTE inside a CTE inside …, after any number of blank lines: the line is the DML's."""
    body = f"{kind} returning *"
    for level in range(depth):
        body = f"with t{level} as (\n{body}\n) select * from t{level}"
    text = "\n" * padding + body + "\n"
    root = _project(tmp_path_factory.mktemp("p"), {"sql/evil.sql": text})
    (err,) = _problems(root)
    expected = text.splitlines().index(kind + " returning *") + 1
    assert (err.file, err.line) == ("sql/evil.sql", expected)
    assert kind.split()[0].upper() in str(err)


def test_a_reading_model_with_ctes_subqueries_and_file_reads_is_still_fine(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "seeds/w.csv": "a\n1\n",
            "sql/fine.sql": (
                "-- label: true\n"  # the whole-table count is a look-ahead to the lint; not what is tested here
                "with t as (select asset_id from dim_symbol where asset_id in (select 1))\n"
                "select t.asset_id, (select count(*) from dim_symbol) as n from t\n"
                "union all select a, 0 from read_csv('seeds/w.csv')\n"
            ),
        },
    )
    con = duckdb.connect()
    con.execute("create table dim_symbol (asset_id integer, symbol varchar)")
    dag = validate(discover(load_project(root)), relations(con))
    assert list(dag.models) == ["fine"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("select * from x where a is null;\ndrop table dim_symbol\n", 2),
        ("with d as (\n delete from dim_symbol returning *\n) select * from d\n", 2),
        ("select * from x) as f; drop table dim_symbol; select * from (select 1\n", 1),
    ],
    ids=["second-statement", "dml-in-cte", "breaks-out-of-the-wrapper"],
)
def test_a_custom_data_test_that_writes_is_a_validation_error(tmp_path: Path, text: str, line: int) -> None:
    root = _project(
        tmp_path,
        {"sql/x.sql": "-- test: sql tests/check_x.sql\nselect 1 as a\n", "tests/check_x.sql": text},
    )
    (err,) = _problems(root)
    assert err.file == "tests/check_x.sql" and err.line == line, str(err)
    assert "sql/x.sql:1" in str(err)  # and the header line that declares it


def test_models_named_alike_but_for_case_name_both_files(tmp_path: Path) -> None:
    root = _project(tmp_path, {"sql/a/Foo.sql": "select 1 as v", "sql/b/foo.sql": "select 2 as v"})
    (err,) = _problems(root)
    assert "sql/a/Foo.sql" in str(err) and "sql/b/foo.sql" in str(err) and "case" in str(err)


def test_a_python_model_named_like_a_sql_model_but_for_case_is_refused(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        {
            "sql/Vol.sql": "select 1 as v",
            "models/vol.py": "from features.models import model\n\n@model()\ndef vol(dim_symbol):\n    return dim_symbol\n",
        },
    )
    (err,) = _problems(root)
    assert "sql/Vol.sql" in str(err) and "models/vol.py" in str(err)


# --------------------------------------------------------------------------- through the CLI


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("guards") / "p", SYMBOLS, years=0.2)
    assert fstore(root, "build", "--quiet").returncode == 0
    return root


def test_a_build_with_a_deleting_cte_stops_before_anything_runs(built: Path) -> None:
    """The issue's reproduction: `with t as (delete from dim_symbol returning *) select …` emptied
    dim_symbol during a build; now the build refuses it and the warehouse is untouched."""
    db = built / "data" / "warehouse.duckdb"
    before = relation_fingerprints(db)
    model = built / "sql" / "evil.sql"
    model.write_text("with t as (delete from dim_symbol returning *)\nselect * from t\n")
    try:
        out = fstore(built, "build")
    finally:
        model.unlink()
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "sql/evil.sql:1" in out.stderr and "DELETE" in out.stderr
    assert relation_fingerprints(db) == before


def test_a_custom_test_with_a_semicolon_is_an_error_not_a_crash(built: Path) -> None:
    db = built / "data" / "warehouse.duckdb"
    before = relation_fingerprints(db)
    (built / "tests").mkdir(exist_ok=True)
    (built / "tests" / "t.sql").write_text(
        "select * from stg_prices where close < 0;\ndelete from dim_symbol\n"
    )
    model = built / "sql" / "checked.sql"
    model.write_text("-- test: sql tests/t.sql\nselect 1 as a\n")
    try:
        out = fstore(built, "build")
    finally:
        model.unlink()
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "tests/t.sql:2" in out.stderr and "sql/checked.sql:1" in out.stderr
    assert relation_fingerprints(db) == before
