"""The Spark engine: the default project's models give DuckDB's results, row for row.

A reduced universe (tests/fixtures/spark/symbols.json: 8 symbols — stocks of a momentum and a
mean-reversion sector, a market and a volatility ETF, a major coin and a late-listing DeFi coin —
over 1.5 synthetic years) is built once on DuckDB and once on Spark (``local[2]``); every model's
output must match (floats within 1e-9 relative, NULLs in the same places, sorted by key).
The transpile checks need only sqlglot; everything else is skipped without pyspark or Java.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from features.build import run_build
from features.config import load_project
from features.engines.transpile import to_spark
from features.errors import ValidationErrors

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "spark"
REL_TOL = 1e-9
ABS_TOL = 1e-12  # values that are 0 on one engine and ~1e-17 on the other (rolling sums)


def _project(root: Path, years: float = 1.5, extra_sql: dict[str, str] | None = None) -> Path:
    (root / "config").mkdir(parents=True)
    shutil.copy(FIXTURES / "symbols.json", root / "config" / "symbols.json")
    shutil.copytree(REPO / "sql", root / "sql")
    shutil.copytree(
        REPO / "features" / "library", root / "library", ignore=shutil.ignore_patterns("__pycache__")
    )
    for rel, text in (extra_sql or {}).items():
        (root / "sql" / rel).write_text(text)
    (root / "config" / "project.toml").write_text(
        f'[paths]\npython_models = ["library"]\n[synthetic]\nyears = {years}\n'
    )
    return root


# --------------------------------------------------------------------------- transpiling (no Spark)

BAD_WINDOW = """-- materialized: table
select asset_id, ts,
       avg(close) over (partition by asset_id order by ts
                        rows between 5 preceding and current row exclude current row) as mean_others
from stg_prices
"""
BAD_TABLE_FUNCTION = """-- materialized: view
select table_name from duckdb_tables()
"""


def test_untranspilable_models_are_named_with_the_reason_before_anything_runs(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "p",
        years=0.1,
        extra_sql={"bad_window.sql": BAD_WINDOW, "bad_catalog.sql": BAD_TABLE_FUNCTION},
    )
    project = load_project(root)
    with pytest.raises(ValidationErrors) as info:
        run_build(project, quiet=True, engine="spark")
    message = str(info.value)
    assert "2 problem(s) found; nothing was run" in message
    assert "sql/bad_window.sql: `bad_window` cannot run on Spark: EXCLUDE clause is not supported" in message
    assert "`bad_catalog` cannot run on Spark: table function `duckdb_tables()` is DuckDB-only" in message
    assert {e.model for e in info.value.errors} == {"bad_window", "bad_catalog"}
    assert not project.path(project.paths.spark_output).exists()  # no model ran, Spark never started


def test_cli_reports_untranspilable_model_and_exits_non_zero(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", years=0.1, extra_sql={"bad_window.sql": BAD_WINDOW})
    proc = subprocess.run(
        [sys.executable, "-m", "features", "build", "--engine", "spark", "--project", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "`bad_window` cannot run on Spark: EXCLUDE clause is not supported" in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_star_exclude_is_expanded_with_the_relations_columns() -> None:
    sql = "select f.asset_id, l.* exclude (asset_id, ts) from f join labels l on l.asset_id = f.asset_id"
    columns = {"labels": ["asset_id", "ts", "fwd_ret_1d", "label_up"]}
    assert to_spark(sql, columns.get) == (
        "SELECT f.asset_id, l.fwd_ret_1d, l.label_up FROM f JOIN labels AS l ON l.asset_id = f.asset_id"
    )


def test_duckdb_catalog_function_reads_the_engines_catalog_relation() -> None:
    sql = to_spark("select column_name from duckdb_columns() where table_name = 'x'")
    assert sql == "SELECT column_name FROM __fstore_duckdb_columns WHERE table_name = 'x'"


# --------------------------------------------------------------------------- on Spark


def _spark_available() -> None:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed")


@pytest.fixture(scope="module")
def spark():
    _spark_available()
    from features.engines.spark import session

    spark, created = session("local[2]", shuffle_partitions=2)
    yield spark
    if created:
        spark.stop()


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory: pytest.TempPathFactory):
    """The reduced default project built on DuckDB, then on Spark (the same session)."""
    root = _project(tmp_path_factory.mktemp("spark") / "proj")
    project = load_project(root)
    duck = run_build(project, quiet=True)
    result = run_build(project, quiet=True, engine="spark")
    return project, duck, result


def _rows(table, keys: list[str]) -> list[tuple]:
    import polars as pl

    frame = pl.from_arrow(table)
    return frame.sort(keys, nulls_last=True).rows()


def _same(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)
    return a == b


def test_every_model_equals_duckdb_row_for_row(built, spark) -> None:
    project, _, result = built
    assert result.ok and not result.failed
    models = [r.model for r in result.runs]
    assert set(models) >= {"stg_prices", "price_features", "cs_features", "macd_features", "labels",
                           "training_set", "training_features"}  # fmt: skip
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        for name in models:
            expected = con.sql(f"select * from {name}").to_arrow_table()
            actual = spark.table(name).toArrow()
            assert actual.column_names == expected.column_names, name
            keys = ["asset_id", "ts"] if "ts" in expected.column_names else expected.column_names
            want, got = _rows(expected, keys), _rows(actual, keys)
            assert len(got) == len(want) > 0, name
            for i, (w, g) in enumerate(zip(want, got, strict=True)):
                bad = [c for c, x, y in zip(expected.column_names, w, g, strict=True) if not _same(x, y)]
                assert not bad, f"{name} row {i}: {bad}: duckdb {w} != spark {g}"
    finally:
        con.close()


def test_types_match_duckdb(built, spark) -> None:
    project, _, _ = built
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        expected = con.sql("select * from training_set limit 0").to_arrow_table().schema
    finally:
        con.close()
    actual = spark.table("training_set").toArrow().schema
    assert [(f.name, str(f.type)) for f in actual] == [
        (f.name, str(f.type).replace("large_string", "string")) for f in expected
    ]


def test_tables_are_parquet_files_holding_whole_assets_in_time_order(built) -> None:
    project, _, _ = built
    folder = project.path(project.paths.spark_output) / "training_set"
    files = sorted(folder.glob("*.parquet"))
    assert files and not list(folder.glob("asset_id=*"))  # no per-asset folders
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        owners = con.sql(
            f"select asset_id, count(distinct filename) from read_parquet('{folder}/*.parquet', filename = true) "
            "group by asset_id"
        ).fetchall()
        assert len(owners) == 8 and all(n == 1 for _, n in owners)  # each asset lives in one file
        for file in files:
            rows = con.sql(f"select asset_id, ts from read_parquet('{file}')").fetchall()
            assert rows == sorted(rows), file.name  # by asset, then time
        total = con.sql(f"select count(*) from read_parquet('{folder}/*.parquet')").fetchall()[0][0]
        assert total == con.sql("select count(*) from training_set").fetchall()[0][0]
    finally:
        con.close()


def test_data_tests_run_on_spark_like_on_duckdb(built, spark) -> None:
    from features.engines.spark import SparkBuild, run_check
    from features.models.checks import DataTest
    from features.models.checks import run_check as run_duckdb_check

    project, duck, result = built
    assert sorted((t.test.model, t.test.name, t.status) for t in result.tests) == sorted(
        (t.test.model, t.test.name, t.status) for t in duck.tests
    )
    assert len(result.tests) >= 20
    # a test that fails: same failure count on both engines
    failing = DataTest("price_features", "accepted_range", ("rsi_14", "0", "50"))
    b = SparkBuild(spark, project, None, project.path(project.paths.spark_output), {})  # type: ignore[arg-type]
    on_spark = run_check(b, failing)
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        on_duckdb = run_duckdb_check(con, failing)
    finally:
        con.close()
    assert on_spark.status == on_duckdb.status == "fail"
    assert on_spark.failures == on_duckdb.failures > 0
    assert on_spark.sample[0] == on_duckdb.sample[0]


def test_compile_for_spark_shows_what_runs(built) -> None:
    project = built[0]
    proc = subprocess.run(
        [sys.executable, "-m", "features", "compile", "training_set", "--dialect", "spark"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "l.fwd_ret_1d,\n  l.label_up\nFROM price_features AS f" in proc.stdout  # `l.* exclude` expanded
    assert "EXCEPT" not in proc.stdout


def test_failing_model_is_reported_and_its_descendants_skipped(built) -> None:
    from features.errors import BuildError

    project = built[0]
    broken = project.root / "sql" / "broken.sql"
    after = project.root / "sql" / "after_broken.sql"
    before = sorted(p.name for p in (project.path(project.paths.spark_output) / "stg_prices").iterdir())
    broken.write_text("select asset_id, ts, cast(symbol as integer) as n from stg_prices\n")  # ANSI: fails
    after.write_text("select * from broken\n")
    try:
        with pytest.raises(BuildError) as info:
            run_build(project, quiet=True, engine="spark", select=["broken+"])
    finally:
        broken.unlink()
        after.unlink()
    result = info.value.result  # type: ignore[attr-defined]
    assert result.failed == ["broken"] and result.skipped == ["after_broken"]
    assert "model broken failed:" in str(info.value) and "sql/broken.sql" in str(info.value)
    assert not (project.path(project.paths.spark_output) / "broken").exists()
    # the unselected upstream was read from its earlier output, and left as it was
    assert (
        sorted(p.name for p in (project.path(project.paths.spark_output) / "stg_prices").iterdir()) == before
    )


DRIVER_MODEL = """
import polars as pl

from features import model


@model
def last_close(stg_prices: pl.DataFrame) -> pl.DataFrame:
    return stg_prices.group_by("asset_id").agg(pl.col("close").sort_by("ts").last())
"""


def test_python_models_run_per_asset_through_apply_in_arrow_or_on_the_driver(built, spark, capsys) -> None:
    from features.engines.spark import SparkBuild, python_frame
    from features.models.dag import build_dag
    from features.models.discovery import discover

    project = built[0]
    extra = project.root / "library" / "last_close.py"
    extra.write_text(DRIVER_MODEL)
    try:
        dag = build_dag(discover(project).models)
        b = SparkBuild(spark, project, dag, project.path(project.paths.spark_output), {})
        b.columns = {name: spark.table(name).columns for name in ("stg_prices", "feature_params")}
        python_frame(b, dag.models["macd_features"]).explain()  # group_by="asset_id"
        grouped_plan = capsys.readouterr().out
        frame = python_frame(b, dag.models["last_close"])  # no group_by: runs on the driver
        frame.explain()
        driver_plan = capsys.readouterr().out
        assert frame.count() == 8
    finally:
        extra.unlink()
    assert "FlatMapGroupsInArrow [asset_id" in grouped_plan
    assert "FlatMapGroupsInArrow" not in driver_plan
