"""Column lineage through the DAG, the lineage artifact, and compile to other dialects."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from features.config import load_project
from features.errors import ConfigError, ModelError
from features.models.compile import compile_sql
from features.models.lineage import column_lineage, format_lineage, source_columns, write_lineage_artifact
from tests.models.conftest import add_prices, load_dag


@pytest.fixture
def built(build, mini: Path):
    con = duckdb.connect()
    add_prices(con, range(5))
    build(con)
    project = load_project(mini)
    return con, project, load_dag(project, con)


def test_lineage_follows_models_back_to_source_columns(built) -> None:
    con, _, dag = built
    tree = column_lineage(dag, "dataset.diff_sum_3", con)
    assert tree["column"] == "dataset.diff_sum_3"
    assert [c["column"] for c in tree["from"]] == ["feat2.diff_sum_3"]
    assert source_columns(tree) == ["prices.asset_id", "prices.close", "prices.ts"]  # window keys count too
    text = format_lineage(tree)
    assert text.splitlines()[0] == "dataset.diff_sum_3"
    assert "  feat2.diff_sum_3" in text
    assert "prices.close  (source)" in text


def test_lineage_errors(built) -> None:
    con, _, dag = built
    with pytest.raises(ModelError, match=r"model `feat` has no column `ma4` \(did you mean `ma_4`\?\)"):
        column_lineage(dag, "feat.ma4", con)
    with pytest.raises(ModelError, match="did you mean `feat`"):
        column_lineage(dag, "fet.ma_4", con)
    with pytest.raises(ModelError, match=r"expected MODEL\.COLUMN"):
        column_lineage(dag, "feat", con)


def test_lineage_artifact(built) -> None:
    con, project, dag = built
    write_lineage_artifact(con, project, dag)
    data = json.loads((project.root / "target" / "lineage.json").read_text())
    assert data["feat"]["columns"]["ma_4"] == ["prices.asset_id", "prices.close", "prices.ts"]
    assert data["dataset"]["columns"]["fwd_2"] == ["prices.asset_id", "prices.close", "prices.ts"]
    assert "ema" not in data  # python models are opaque


def test_lineage_artifact_agrees_with_each_column_tree(built) -> None:
    """lineage.json (the shared Tracer's leaves) against an independent walk: every column's tree."""
    con, project, dag = built
    write_lineage_artifact(con, project, dag)
    data = json.loads((project.root / "target" / "lineage.json").read_text())
    checked = 0
    for name, entry in data.items():
        assert dag.models[name].kind == "sql"
        for column, sources in entry["columns"].items():
            tree = column_lineage(dag, f"{name}.{column}", con)
            assert sources == (source_columns(tree) if tree["from"] else []), (name, column)
            checked += 1
    assert checked > 10 and {"feat", "dataset"} <= set(data)


@pytest.mark.parametrize(
    ("dialect", "needle"),
    [
        ("duckdb", "window w as (partition by asset_id order by ts)"),
        ("spark", "LAG(close, 2) OVER w"),
        ("postgres", "LAG(close, 2) OVER w"),
    ],
)
def test_compile(built, dialect: str, needle: str) -> None:
    _, _, dag = built
    assert needle in compile_sql(dag.models["feat"], dialect)


def test_compile_errors(built) -> None:
    _, _, dag = built
    with pytest.raises(ConfigError, match="unknown dialect `sparky`"):
        compile_sql(dag.models["feat"], "sparky")
    with pytest.raises(ModelError, match="`ema` is a python model"):
        compile_sql(dag.models["ema"], "spark")
