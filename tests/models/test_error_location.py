"""Errors raised while a model runs name its file, and for a Python model the line where it raised,
in the run's error, in ``build_models.error`` and in the BuildError the CLI prints."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from features.errors import BuildError
from tests.models.conftest import add_prices

BAD_PY = '''"""Python models that fail while they run."""

from __future__ import annotations

import polars as pl

from features import model


def _check(frame: pl.DataFrame) -> None:
    raise ValueError(f"helper refused {frame.height} rows")  # HELPER


@model()
def boom(stg: pl.DataFrame) -> pl.DataFrame:
    rows = stg.height
    if rows >= 0:
        raise RuntimeError("the model body raised")  # BODY
    return stg


@model()
def via_helper(stg: pl.DataFrame) -> pl.DataFrame:
    _check(stg)  # CALL
    return stg


@model()
def bad_column(stg: pl.DataFrame) -> pl.DataFrame:
    return stg.select(pl.col("no_such_column"))  # POLARS
'''


def _line(text: str, marker: str) -> int:
    """The 1-based line of ``text`` holding ``# marker`` (found independently of fstore)."""
    return next(i for i, line in enumerate(text.splitlines(), start=1) if line.endswith(f"# {marker}"))


def _errors(con: duckdb.DuckDBPyConnection, build_id: str) -> dict[str, str]:
    rows = con.execute(
        "select model, error from build_models where build_id = ? and status = 'failed'", [build_id]
    ).fetchall()
    return dict(rows)


def test_python_model_errors_name_file_and_line_where_they_raised(mini: Path, build) -> None:
    (mini / "models" / "bad.py").write_text(BAD_PY)
    con = duckdb.connect()
    add_prices(con, range(4))
    with pytest.raises(BuildError) as info:
        build(con)
    result = info.value.result
    assert sorted(result.failed) == ["bad_column", "boom", "via_helper"]
    errors = _errors(con, result.build_id)
    assert errors["boom"].startswith(
        f"models/bad.py:{_line(BAD_PY, 'BODY')}: model boom failed: RuntimeError: the model body raised"
    )
    # a helper in the same file: the line inside it, where the error was raised
    assert errors["via_helper"].startswith(
        f"models/bad.py:{_line(BAD_PY, 'HELPER')}: model via_helper failed:"
    )
    assert errors["bad_column"].startswith(
        f"models/bad.py:{_line(BAD_PY, 'POLARS')}: model bad_column failed:"
    )
    assert "no_such_column" in errors["bad_column"]
    # the run's error (shown by the progress display) and the final message say the same
    assert {r.model: r.error for r in result.runs if r.status == "failed"} == errors
    message = str(info.value)
    for model, error in errors.items():
        assert f"  {error.splitlines()[0]}" in message.splitlines(), model


def test_sql_model_errors_name_the_file(mini: Path, build) -> None:
    path = mini / "sql" / "marts" / "feat2.sql"
    path.write_text(path.read_text().replace("close - lag(close)", "no_such_column - lag(close)"))
    con = duckdb.connect()
    add_prices(con, range(4))
    with pytest.raises(BuildError) as info:
        build(con)
    errors = _errors(con, info.value.result.build_id)
    assert list(errors) == ["feat2"]
    assert errors["feat2"].startswith("sql/marts/feat2.sql: model feat2 failed: BinderException:")
    assert "no_such_column" in errors["feat2"]
    lines = str(info.value).splitlines()
    assert f"  {errors['feat2'].splitlines()[0]}" in lines
    assert "  dataset: skipped: upstream failed: feat2" in lines
