"""Golden Spark transpilation (tests/fixtures/golden/transpile.sql): DuckDB SQL → the Spark SQL fstore runs.

Expected and produced Spark SQL are compared after sqlglot's Spark parse + generate, so formatting
does not count. Where the Spark text is also DuckDB SQL with the same meaning, both it and the input
run on an in-memory DuckDB and must return the same rows, which checks the translation itself rather
than the expected text; Spark is never started. The untranspilable cases also go through
``check_models`` and ``compile_for_spark`` on discovered model files, the way ``fstore build --engine
spark`` and ``fstore compile --dialect spark`` meet them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlglot
from _golden import Case, discover_cases, load_cases, market, params, same_bag
from sqlglot import exp

from features.engines.transpile import UntranspilableError, check_models, compile_for_spark, to_spark
from features.errors import ValidationErrors

CASES = load_cases("transpile.sql", ("columns", "error", "run"), statements=(1, 2))
TRUSTED = [c for c in CASES if "xfail" not in c.meta]  # the cases whose verdict holds today


def _columns(case: Case) -> dict[str, list[str]] | None:
    """``# columns: rel(a, b) other(c)`` → {rel: [a, b], other: [c]}."""
    text = case.meta.get("columns")
    if text is None:
        return None
    found = re.findall(r"(\w+)\(([^)]*)\)", text)
    if not found:
        raise AssertionError(f"transpile.sql:{case.line}: `columns` reads like `rel(a, b) other(c)`")
    return {rel: [c.strip() for c in cols.split(",")] for rel, cols in found}


def _spark(case: Case) -> str:
    columns = _columns(case)
    return to_spark(case.sql, columns.get if columns is not None else None)


def _normal(sql: str) -> str:
    """Spark SQL as sqlglot regenerates it; frame keywords upper-cased (sqlglot keeps them as written)."""
    tree = sqlglot.parse_one(sql, read="spark")
    for spec in tree.find_all(exp.WindowSpec):
        for key in ("kind", "start", "start_side", "end", "end_side"):
            if isinstance(spec.args.get(key), str):
                spec.set(key, spec.args[key].upper())
    return tree.sql(dialect="spark", comments=False)


def _shape(case: Case) -> None:
    expects_error = "error" in case.meta
    if len(case.statements) != (1 if expects_error else 2):
        raise AssertionError(
            f"transpile.sql:{case.line}: a case is the DuckDB SQL and the Spark SQL, or the DuckDB SQL and "
            "an `error`"
        )


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = market()
    # the relation the Spark engine provides in place of duckdb_columns(), shaped like it
    con.execute("create view __fstore_duckdb_columns as select * from duckdb_columns()")
    yield con
    con.close()


@pytest.mark.parametrize("case", params(CASES))
def test_spark_sql(case: Case) -> None:
    _shape(case)
    if "error" not in case.meta:
        assert _normal(_spark(case)) == _normal(case.statements[1].sql)
        return
    with pytest.raises(UntranspilableError) as info:
        _spark(case)
    if case.meta["error"] != "any":
        assert case.meta["error"] in info.value.message


RUNS = [c for c in TRUSTED if "error" not in c.meta and c.flag("run", True)]


@pytest.mark.parametrize("case", params(RUNS, xfail=False))
def test_spark_sql_returns_the_same_rows_on_duckdb(case: Case, con: duckdb.DuckDBPyConnection) -> None:
    duck = con.execute(case.sql)
    width, rows = len(duck.description), duck.fetchall()
    spark = con.execute(_spark(case))
    assert len(spark.description) == width
    spark_rows = spark.fetchall()
    assert rows, "the case must return rows"
    assert same_bag(rows, spark_rows)


def test_check_models_and_compile_name_every_untranspilable_model(tmp_path: Path) -> None:
    models, _ = discover_cases(tmp_path / "p", TRUSTED)
    bad = {c.name: c.meta["error"] for c in TRUSTED if "error" in c.meta}
    with pytest.raises(ValidationErrors) as info:
        check_models(models.values())
    named = {e.model: str(e) for e in info.value.errors}
    assert set(named) == set(bad)
    for name, fragment in bad.items():
        assert named[name].startswith(f"sql/{name}.sql: `{name}` cannot run on Spark: ")
        assert fragment in named[name]
    for case in TRUSTED:
        model = models[case.name]
        columns = _columns(case)
        if case.name in bad:
            with pytest.raises(UntranspilableError, match=re.escape(f"`{case.name}` cannot run on Spark")):
                compile_for_spark(model, columns.get if columns is not None else None)
        else:
            compiled = compile_for_spark(model, columns.get if columns is not None else None)
            assert _normal(compiled) == _normal(case.statements[1].sql), case.title
