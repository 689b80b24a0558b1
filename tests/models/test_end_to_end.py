"""`run_build` and the CLI on a copy of the default project (shipped SQL and Python models, short market)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from features.build import STEPS, run_build
from features.config import load_project
from features.errors import BuildError

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project's SQL and Python models over a quarter-year synthetic market."""
    root = tmp_path_factory.mktemp("e2e") / "proj"
    (root / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "symbols.json", root / "config" / "symbols.json")
    shutil.copytree(REPO / "sql", root / "sql")
    shutil.copytree(
        REPO / "features" / "library", root / "library", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "config" / "project.toml").write_text(
        '[paths]\npython_models = ["library"]\n[synthetic]\nyears = 0.25\n'
    )
    return root


def _fstore(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "features", *args, "--project", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pipeline_steps_are_listed_in_order() -> None:
    assert [s.__name__ for s in STEPS] == [
        "open_warehouse",
        "ensure_dimension",
        "refresh_feature_params",
        "refresh_raw_prices",
        "discover_models",
        "validate_models",
        "build_models",
        "write_artifacts",
    ]


def test_build_then_nothing_to_do_then_touch_then_fail(shop: Path) -> None:
    project = load_project(shop)
    first = run_build(project, quiet=True)
    models = {p.stem for p in (shop / "sql").rglob("*.sql")} | {"labels", "macd_features"}
    assert set(first.built) == models
    assert first.tests and not first.failed_tests
    assert (shop / "target" / "lineage.json").is_file()

    second = run_build(project, quiet=True)
    assert second.nothing_to_do

    path = shop / "sql" / "marts" / "cs_features.sql"
    original = path.read_text()
    path.write_text(original.replace("end as ret_1d_cs_rank", "end::double as ret_1d_cs_rank"))
    third = run_build(project, quiet=True)
    assert set(third.built) == {"cs_features", "training_set"}

    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    before = con.execute("select count(*), sum(ret_1d_cs_rank) from training_set").fetchall()
    con.close()
    path.write_text(original.replace("percent_rank()", "percent_rank_typo()"))
    with pytest.raises(BuildError) as info:
        run_build(project, quiet=True)
    assert info.value.result.failed == ["cs_features"]
    assert info.value.result.skipped == ["training_set"]
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    assert con.execute("select count(*), sum(ret_1d_cs_rank) from training_set").fetchall() == before
    con.close()
    path.write_text(original)


def test_cli(shop: Path) -> None:
    out = _fstore(shop, "build")
    assert out.returncode == 0, out.stderr
    out = _fstore(shop, "build")
    assert out.returncode == 0 and "nothing to do" in out.stdout

    out = _fstore(shop, "ls")
    assert out.returncode == 0
    assert re.search(r"^price_features +sql +(table|incremental|view) ", out.stdout, re.M)
    assert re.search(r"^labels +python +(table|incremental) ", out.stdout, re.M)
    out = _fstore(shop, "dag", "--format", "dot")
    assert '"stg_prices" -> "price_features";' in out.stdout
    out = _fstore(shop, "compile", "stg_prices", "--dialect", "spark")
    assert out.returncode == 0 and "CAST(d.asset_id AS INT)" in out.stdout
    out = _fstore(shop, "lineage", "training_set.ret_1d")
    assert out.returncode == 0 and "sources: raw_prices.close" in out.stdout
    out = _fstore(shop, "test", "--select", "stg_prices")
    assert out.returncode == 0 and re.search(r"^[1-9][0-9]* test\(s\) passed", out.stdout, re.M)

    bad = shop / "sql" / "marts" / "typo.sql"
    bad.write_text("-- tags: x\nselect * from stg_price\n")
    try:
        out = _fstore(shop, "build")
    finally:
        bad.unlink()
    assert out.returncode == 1
    assert (
        "sql/marts/typo.sql:2:15: unknown model or relation `stg_price` (did you mean `stg_prices`?)"
        in out.stderr
    )
    assert "Traceback" not in out.stderr

    out = _fstore(shop, "compile", "stg_pricez")
    assert out.returncode == 2 and "did you mean `stg_prices`" in out.stderr


def test_noop_build_imports_neither_sqlglot_polars_nor_torch(shop: Path) -> None:
    assert _fstore(shop, "build", "--quiet").returncode == 0
    code = (
        "import sys; from features.cli import main; "
        f"rc = main(['build', '--quiet', '--project', {str(shop)!r}]); "
        "print(rc, sorted(m for m in ('sqlglot', 'polars', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "0 []"


def test_cli_select_and_failing_data_test_exit_codes(shop: Path) -> None:
    assert _fstore(shop, "build", "--quiet").returncode == 0
    out = _fstore(shop, "build", "--select", "stg_prices+", "--full-refresh")
    assert out.returncode == 0
    assert "stg_prices" in out.stdout and "macd_features" in out.stdout
    path = shop / "sql" / "staging" / "stg_prices.sql"
    original = path.read_text()
    path.write_text(original.replace("-- test: unique(asset_id, ts)", "-- test: accepted_range(close, 0, 1)"))
    try:
        out = _fstore(shop, "test", "--select", "stg_prices")
    finally:
        path.write_text(original)
    assert out.returncode == 1
    assert "stg_prices: test accepted_range(close, 0, 1) failed" in out.stderr
