"""End to end through the engine: synthetic default → training_set; then CSV files in data/raw."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest
from _features_kit import REQUIRED

from features.build import run_build
from features.config import load_project
from features.warehouse import connect

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def project_root(tiny_project: Path) -> Path:
    """The tiny project using the shipped models (sql/, features/library) and a short market."""
    (tiny_project / "config" / "project.toml").write_text(
        "[paths]\n"
        f'sql = "{REPO / "sql"}"\n'
        f'python_models = ["{REPO / "features" / "library"}"]\n'
        "[synthetic]\nyears = 1.5\n"
    )
    return tiny_project


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe {table}").fetchall()]


def test_synthetic_default_then_csv_files(project_root: Path, capsys: pytest.CaptureFixture) -> None:
    project = load_project(project_root)
    run_build(project, quiet=True)  # raises if a model or a data test fails
    con = connect(project.warehouse_path, read_only=True)
    try:
        assert _columns(con, "training_set") == [
            "asset_id",
            "symbol",
            "ts",
            *REQUIRED,
            "fwd_ret_1d",
            "label_up",
        ]
        n_symbols, n_rows = con.execute(
            "select count(distinct symbol), count(*) from training_set"
        ).fetchone()
        assert n_symbols == 154 and n_rows > 154 * 300
        spy = con.execute(
            "select symbol, ts, close from raw_prices where symbol in ('SPY', 'BTCUSD')"
        ).fetchall()
    finally:
        con.close()

    raw = project_root / "data" / "raw"
    raw.mkdir(parents=True)
    for symbol in ("SPY", "BTCUSD"):
        lines = ["Date,Close"] + [f"{ts},{close!r}" for s, ts, close in spy if s == symbol]
        (raw / f"{symbol}.csv").write_text("\n".join(lines) + "\n")
    run_build(project, quiet=True)
    con = connect(project.warehouse_path, read_only=True)
    try:
        symbols = [
            r[0] for r in con.execute("select distinct symbol from training_set order by 1").fetchall()
        ]
        assert symbols == ["BTCUSD", "SPY"]
        hl = con.execute("select count(hl_range), count(ret_20d) from training_set").fetchone()
        assert hl[0] == 0 and hl[1] > 0  # close-only: hl_range NULL, returns computed
        features = [
            r[0] for r in con.execute("select feature from training_features order by position").fetchall()
        ]
        assert features == REQUIRED
    finally:
        con.close()


def test_changing_the_horizon_renames_and_rebuilds_the_label(project_root: Path) -> None:
    toml = project_root / "config" / "project.toml"
    toml.write_text(toml.read_text().replace("years = 1.5", "years = 0.5"))
    run_build(load_project(project_root), quiet=True)
    toml.write_text(toml.read_text() + "[features]\nhorizon = 3\n")
    project = load_project(project_root)
    run_build(project, quiet=True)
    con = connect(project.warehouse_path, read_only=True)
    try:
        assert _columns(con, "training_set")[-2:] == ["fwd_ret_3d", "label_up"]
        # the synthetic market has no gap longer than 4 days (a weekend next to a holiday), so past an
        # asset's first 20 rows (where its usual spacing is not known yet) every label with a future is set
        bad = con.execute(
            "with ref as (select asset_id, ts, row_number() over w > 20 as spaced,"
            " ln(lead(close, 3) over w / close) as fwd from stg_prices"
            " window w as (partition by asset_id order by ts)) "
            "select count(*) from training_set t join ref using (asset_id, ts) "
            "where (t.fwd_ret_3d is null) <> (ref.fwd is null or not ref.spaced)"
            " or abs(t.fwd_ret_3d - ref.fwd) > 1e-12"
        ).fetchone()[0]
        assert bad == 0
    finally:
        con.close()


def test_build_memory_limit_is_validated_and_applied(tiny_project: Path) -> None:
    from features.build import set_memory_limit
    from features.errors import ConfigError

    toml = tiny_project / "config" / "project.toml"
    for bad in ("lots", "4 G", "1GB'; drop table dim_symbol; --", "80%"):
        toml.write_text(f'[build]\nmemory_limit = "{bad}"\n')
        with pytest.raises(ConfigError, match=r"memory_limit must be a size like"):
            load_project(tiny_project)
    toml.write_text('[build]\nmemory_limit = "3.5 GiB"\n')
    project = load_project(tiny_project)
    assert project.build.memory_limit == "3.5 GiB"
    con = duckdb.connect()
    set_memory_limit(con, project.build.memory_limit)
    assert con.execute("select current_setting('memory_limit')").fetchall() == [("3.5 GiB",)]
    with pytest.raises(ConfigError):
        set_memory_limit(con, "1GB'; select 1; --")


def test_feature_params_step_writes_the_features_section_once_per_change(tiny_project: Path) -> None:
    from features.build import STEPS
    from features.errors import ConfigError
    from features.params import PARAMS_NAME, refresh_feature_params
    from features.warehouse import source_version

    names = [s.__name__ for s in STEPS]
    assert names.index("refresh_feature_params") < names.index("refresh_raw_prices")  # a step of its own
    toml = tiny_project / "config" / "project.toml"
    con = duckdb.connect()
    refresh_feature_params(con, load_project(tiny_project))
    assert con.execute(f"select horizon from {PARAMS_NAME}").fetchall() == [(1,)]  # the default horizon
    version = source_version(con, PARAMS_NAME)
    con.execute(f"update {PARAMS_NAME} set horizon = 99")  # unchanged settings: the table is not rewritten
    refresh_feature_params(con, load_project(tiny_project))
    assert con.execute(f"select horizon from {PARAMS_NAME}").fetchall() == [(99,)]
    toml.write_text(toml.read_text() + "[features]\nhorizon = 5\n")
    refresh_feature_params(con, load_project(tiny_project))
    assert con.execute(f"select horizon from {PARAMS_NAME}").fetchall() == [(5,)]
    assert source_version(con, PARAMS_NAME) != version  # models reading it see a new data version
    project = load_project(tiny_project)
    bad = project.replace(features=dataclasses.replace(project.features, horizon=0))
    with pytest.raises(ConfigError, match=r"\[features\] horizon must be a whole number of rows >= 1, got 0"):
        refresh_feature_params(con, bad)
    assert con.execute(f"select horizon from {PARAMS_NAME}").fetchall() == [(5,)]  # left as it was
