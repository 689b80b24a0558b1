"""Helpers of the docs-site tests: the default project, a generated 200-model project, a build that
writes the artifacts (as the build will once they are wired in)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
YEARS = 3  # the shipped project has 10; 3 keep the build and the loader quick and change no page
TRAIN = {"max_train_samples": 3000, "batch_size": 256, "lr": 0.003, "threads": 1}
MODEL = {"hidden": 16, "asset_embedding_dim": 8}


def default_project(root: Path, years: float = YEARS) -> Path:
    """A copy of this repo's project: shipped symbols, sql/ and features/library, synthetic market."""
    (root / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "symbols.json", root / "config" / "symbols.json")
    shutil.copytree(REPO / "sql", root / "sql")
    shutil.copytree(
        REPO / "features" / "library", root / "library", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "config" / "project.toml").write_text(
        f'[paths]\npython_models = ["library"]\n[synthetic]\nyears = {years}\n[loader]\nlookback = 20\n'
    )
    return root


def generated_project(root: Path, n_models: int = 200) -> Path:
    """``n_models`` SQL models in a layered DAG (as bench/bench_engine.py generates them)."""
    (root / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "symbols.json", root / "config" / "symbols.json")
    (root / "config" / "project.toml").write_text("[paths]\npython_models = []\n[synthetic]\nyears = 2\n")
    sql = root / "sql"
    sql.mkdir()
    (sql / "g000.sql").write_text(
        "-- materialized: table\nselect d.asset_id, p.ts, p.close from raw_prices p join dim_symbol d using (symbol)\n"
    )
    for i in range(1, n_models):
        a, b = (i - 1) // 2, max(0, i - 7)
        mat = "view" if i % 10 == 0 else "table"
        test = "-- test: not_null(asset_id, ts)\n" if i % 10 == 5 else ""
        (sql / f"g{i:03d}.sql").write_text(
            f"-- materialized: {mat}\n-- tags: layer{i % 5}\n{test}"
            f"select x.asset_id, x.ts, x.close,\n"
            f"    avg(x.close) over (partition by x.asset_id order by x.ts rows between {i % 20} preceding"
            f" and current row) as f\n"
            f"from g{a:03d} x join g{b:03d} y on y.asset_id = x.asset_id and y.ts = x.ts\n"
        )
    return root


def build_and_record(root: Path):
    """``fstore build`` plus the two artifact writes the build will make once they are wired in."""
    from features.artifacts import write_manifest, write_run_results
    from features.build import run_build
    from features.config import load_project
    from features.models.discovery import discover
    from features.models.state import relations
    from features.models.validate import validate
    from features.warehouse import connect

    project = load_project(root)
    result = run_build(project, quiet=True)
    write_run_results(project, result)
    con = connect(project.warehouse_path, read_only=True)
    try:
        write_manifest(project, validate(discover(project), relations(con)), con)
    finally:
        con.close()
    return project, result
