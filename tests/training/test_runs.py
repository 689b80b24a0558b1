"""The run tables as documented: the SQL of docs/training.md runs and agrees with Python; logging details; CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import planted
import pytest
import torch

from features.cli import main
from features.config import load_project
from features.errors import TrainingError
from training import runs
from training.embeddings import load_embeddings, neighbours
from training.train import run_training

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """One finished 2-epoch run on the planted market (shared: these tests only read it)."""
    project = load_project(planted.make_project(tmp_path_factory.mktemp("runs") / "p", days=300))
    return project, run_training(project, epochs=2)


def _documented_sql() -> list[str]:
    """The statements of docs/training.md's "Query your embeddings" section."""
    text = (REPO / "docs" / "training.md").read_text()
    section = text[text.index("## Query your embeddings") :]
    section = section[: section.index("\n## ", 10)] if "\n## " in section[10:] else section
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    statements = [s.strip() for b in blocks for s in b.split(";") if s.strip()]
    assert len(statements) >= 4, "docs/training.md documents the embedding queries"
    return statements


def test_documented_queries_run_and_agree_with_python(trained) -> None:
    project, result = trained
    symbol = planted.assets()[0][1]
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        outputs = [con.execute(sql.replace("'AAPL'", f"'{symbol}'")).fetchall() for sql in _documented_sql()]
        emb = load_embeddings(con, result.run_id)
    finally:
        con.close()
    assert all(outputs), "every documented query returns rows"
    expected = neighbours(emb, symbol, top=10)
    got = outputs[0]
    assert [r[0] for r in got] == [n[0] for n in expected]
    assert [r[3] for r in got] == pytest.approx([round(n[3], 4) for n in expected], abs=1e-4)


def test_vectors_are_padded_float32_rows_and_drift_is_cosine_to_the_previous_epoch(trained) -> None:
    project, result = trained
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "select epoch, asset_id, vector, drift, norm from train_embeddings where run_id = ? order by epoch, asset_id",
            [result.run_id],
        ).fetchall()
        typ = con.execute("select typeof(vector) from train_embeddings limit 1").fetchall()[0][0]
    finally:
        con.close()
    assert typ == "FLOAT[32]"
    by_epoch: dict[int, np.ndarray] = {}
    for epoch, _, vec, _, _ in rows:
        by_epoch.setdefault(epoch, []).append(vec)
    e1, e2 = np.array(by_epoch[1]), np.array(by_epoch[2])
    assert (e1[:, 8:] == 0).all(), "zero padding past dim 8"
    cos = (e1 * e2).sum(1) / (np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1))
    logged = np.array([d for epoch, _, _, d, _ in rows if epoch == 2])
    np.testing.assert_allclose(logged, cos, rtol=1e-5)
    norms = np.array([n for epoch, _, _, _, n in rows if epoch == 2])
    np.testing.assert_allclose(norms, np.linalg.norm(e2, axis=1), rtol=1e-5)


def test_resolve_run_accepts_id_prefix_and_latest(trained) -> None:
    project, result = trained
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    try:
        assert runs.resolve_run(con, result.run_id)["run_id"] == result.run_id
        assert runs.resolve_run(con, result.run_id[:15])["run_id"] == result.run_id
        assert runs.resolve_run(con, "latest")["run_id"] == result.run_id
        with pytest.raises(TrainingError, match="no training run 'zzz'"):
            runs.resolve_run(con, "zzz")
    finally:
        con.close()


def test_a_failed_log_write_leaves_nothing_behind(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with pytest.raises(RuntimeError), runs.writing(db) as con:
        con.execute("insert into train_runs (run_id, status, started_at) values ('x', 'running', now())")
        raise RuntimeError("crash between two statements")
    check = duckdb.connect(str(db), read_only=True)
    try:
        assert check.execute("select count(*) from train_runs").fetchall() == [(0,)]
    finally:
        check.close()


def test_logging_waits_for_another_writer_then_reports_it(tmp_path: Path) -> None:
    from features.errors import WarehouseLockedError

    db = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('ok', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(WarehouseLockedError, match="locked"), runs.writing(db, wait_s=0.3):
            pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def test_cli_train_runs_evaluate_embeddings(trained, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    project, _ = trained
    root = str(project.root)
    assert (
        main(
            [
                "train",
                "--project",
                root,
                "--epochs",
                "1",
                "--no-progress",
                "--combine",
                "separate",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    run_id = re.search(r"run (\S+) finished on cpu", out).group(1)
    assert main(["runs", "--project", root, "--format", "csv"]) == 0
    listing = capsys.readouterr().out
    assert listing.splitlines()[0].startswith("run_id,status,started,mapping")
    assert f"{run_id},finished" in listing
    assert main(["evaluate", run_id, "--project", root, "--split", "valid"]) == 0
    assert f"run {run_id} (best epoch 1) on valid" in capsys.readouterr().out
    symbol = planted.assets()[0][1]
    plots = tmp_path / "plots"
    assert (
        main(
            [
                "embeddings",
                run_id,
                "--project",
                root,
                "--symbol",
                symbol,
                "--top",
                "3",
                "--format",
                "csv",
                "--plot",
                str(plots),
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "symbol,category,subcategory,cosine" and len(lines) >= 4
    for kind in ("curves", "similarity", "pca"):
        png = plots / f"{run_id}_{kind}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert main(["embeddings", run_id, "--project", root, "--symbol", "NOPE"]) == 1
    assert "no embedding for symbol 'NOPE'" in capsys.readouterr().err


def test_run_bookkeeping_modules_do_not_import_torch() -> None:
    code = "import sys, training, training.runs, training.embeddings, training.plots; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
