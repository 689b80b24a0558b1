"""Building the miniature project: order, no-op, change detection, atomicity, build log."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from features.errors import BuildError
from tests.models.conftest import add_prices, table

MODELS = {"stg", "feat", "feat2", "label", "dataset", "asset_counts", "ema"}


def _statuses(con: duckdb.DuckDBPyConnection, build_id: str) -> dict[str, str]:
    rows = con.execute("select model, status from build_models where build_id = ?", [build_id]).fetchall()
    return dict(rows)


def test_first_build_builds_every_model_in_order(build) -> None:
    con = duckdb.connect()
    add_prices(con, range(8))
    result = build(con)
    assert set(result.built) == MODELS
    order = [r.model for r in result.runs]
    assert order.index("stg") < order.index("feat") < order.index("feat2") < order.index("dataset")
    assert order.index("label") < order.index("dataset")
    assert con.execute("select count(*) from feat").fetchall()[0][0] == len(table(con, "prices"))
    kinds = dict(
        con.execute(
            "select table_name, table_type from information_schema.tables where table_name in ('feat', 'asset_counts')"
        ).fetchall()
    )
    assert kinds == {"feat": "BASE TABLE", "asset_counts": "VIEW"}
    assert not result.failed_tests


def test_feature_values_match_a_reference_computation(build) -> None:
    con = duckdb.connect()
    add_prices(con, range(10))
    build(con)
    closes: dict[int, list[tuple]] = {}
    for asset, ts, close in sorted(table(con, "prices")):
        closes.setdefault(asset, []).append((ts, close))
    expected = []
    for asset, rows in closes.items():
        for i, (ts, close) in enumerate(rows):
            window = [c for _, c in rows[max(0, i - 3) : i + 1]]
            ret_2 = close / rows[i - 2][1] - 1 if i >= 2 else None
            expected.append((asset, ts, close, ret_2, sum(window) / len(window)))
    assert table(con, "feat") == sorted(expected, key=repr)


def test_second_build_has_nothing_to_do(build) -> None:
    con = duckdb.connect()
    add_prices(con, range(6))
    build(con)
    before = {name: table(con, name) for name in ("feat", "dataset")}
    second = build(con)
    assert second.nothing_to_do
    assert set(second.up_to_date) == MODELS
    assert second.tests == []  # tests of unchanged models passed before: not re-run
    assert {name: table(con, name) for name in before} == before
    runs = con.execute("select status, message, models_built from build_runs order by started_at").fetchall()
    assert runs[-1] == ("success", "nothing to do", 0)


def test_formatting_and_comments_do_not_rebuild_but_sql_changes_rebuild_descendants(
    build, mini: Path
) -> None:
    con = duckdb.connect()
    add_prices(con, range(6))
    build(con)
    path = mini / "sql" / "marts" / "feat2.sql"
    path.write_text(path.read_text().replace("    diff,\n", "    -- a new comment\n    diff  ,\n"))
    assert build(con).nothing_to_do
    path.write_text(path.read_text().replace("rows between 2 preceding", "rows between 1 preceding"))
    result = build(con)
    assert set(result.built) == {"feat2", "dataset"}
    assert set(result.up_to_date) == MODELS - {"feat2", "dataset"}


def test_new_source_data_rebuilds_tables_but_not_views(build) -> None:
    con = duckdb.connect()
    add_prices(con, range(6))
    build(con)
    add_prices(con, range(6, 7))
    result = build(con)
    assert set(result.built) == MODELS - {"asset_counts"}  # a view reads the new rows by itself
    assert result.up_to_date == ["asset_counts"]


def test_failing_model_leaves_previous_relation_intact_and_skips_downstream(build, mini: Path) -> None:
    con = duckdb.connect()
    add_prices(con, range(6))
    build(con)
    before = {name: table(con, name) for name in ("feat2", "dataset")}
    path = mini / "sql" / "marts" / "feat2.sql"
    path.write_text(path.read_text().replace("close - lag(close)", "no_such_column - lag(close)"))
    add_prices(con, range(6, 8))  # new data: everything wants to rebuild
    with pytest.raises(BuildError) as info:
        build(con)
    result = info.value.result
    assert result.failed == ["feat2"]
    assert result.skipped == ["dataset"]
    assert {"stg", "feat", "label", "ema"} <= set(result.built)
    assert "no_such_column" in str(info.value)
    assert {name: table(con, name) for name in before} == before  # untouched
    assert _statuses(con, result.build_id) == {
        **dict.fromkeys(set(result.built), "success"),
        "feat2": "failed",
        "dataset": "skipped",
    }
    status = con.execute("select status from build_runs where build_id = ?", [result.build_id]).fetchall()
    assert status == [("failed",)]


def test_build_log_records_rows_seconds_and_fingerprints(build) -> None:
    con = duckdb.connect()
    add_prices(con, range(5))
    result = build(con)
    rows = con.execute(
        "select model, action, rows, seconds, fingerprint from build_models where build_id = ? order by model",
        [result.build_id],
    ).fetchall()
    by_model = {r[0]: r for r in rows}
    assert by_model["feat"][1:3] == ("full", 12)  # 2 + 2 + 2 + 3 + 3 rows over five days
    assert by_model["asset_counts"][1:3] == ("view", None)
    assert all(r[3] >= 0 and len(r[4]) == 32 for r in rows)
    stored = dict(con.execute("select model, fingerprint from _fstore_models").fetchall())
    assert stored["feat"] == by_model["feat"][4]


def test_selection_builds_only_the_selected_models(build) -> None:
    con = duckdb.connect()
    add_prices(con, range(5))
    result = build(con, select=("+feat2",))
    assert result.built == ["stg", "feat", "feat2"]
    result = build(con, select=("tag:labels+",))
    assert result.built == ["label", "dataset"]


def test_full_refresh_rebuilds_everything(build) -> None:
    con = duckdb.connect()
    add_prices(con, range(5))
    build(con)
    result = build(con, full_refresh=True)
    assert set(result.built) == MODELS
    actions = {r.model: r.action for r in result.runs}
    assert actions["feat"] == "full"


def test_relations_are_not_catalog_qualified(build, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    add_prices(con, range(5))
    build(con)
    con.close()
    other = duckdb.connect()
    other.execute(f"attach '{db}' as elsewhere (read_only)")
    other.execute("use elsewhere")
    assert other.execute("select sum(n_rows) from asset_counts").fetchall()[0][0] == 12


def test_public_surface() -> None:
    import features.models as fm

    assert fm.__all__ == sorted(fm.__all__)
    for name in fm.__all__:
        assert getattr(fm, name) is not None


def test_python_model_must_return_a_polars_frame(build, mini: Path) -> None:
    path = mini / "models" / "ema.py"
    path.write_text(
        path.read_text().replace(
            "    return (\n        stg.sort", "    return 42\n    return (\n        stg.sort"
        )
    )
    con = duckdb.connect()
    add_prices(con, range(4))
    with pytest.raises(BuildError) as info:
        build(con)
    assert "python model `ema` returned int, not a polars DataFrame" in str(info.value)
    assert info.value.result.failed == ["ema"]
