"""The model commands as a dbt user types them: global options before or after the command, several
--select values and --exclude, `fstore test` before a build, and a failing model's file in the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from features.cli import main


def fstore(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "features", *args], capture_output=True, text=True, cwd=cwd, env=env
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A minimal project on a small synthetic market, with a chain a -> b -> c beside the example."""
    root = tmp_path / "p"
    assert main(["init", str(root), "--template", "minimal"]) == 0
    with (root / "config" / "project.toml").open("a") as handle:
        handle.write("\n[synthetic]\nyears = 0.2\n")
    (root / "sql" / "chain").mkdir()
    (root / "sql" / "chain" / "a.sql").write_text("-- test: not_null(n)\nselect 1 as n\n")
    (root / "sql" / "chain" / "b.sql").write_text("select n + 1 as n from a\n")
    (root / "sql" / "chain" / "c.sql").write_text("select n + 1 as n from b\n")
    return root


def _built(root: Path, db: str = "data/warehouse.duckdb") -> list[str]:
    """Models the last build built, from its log."""
    out = fstore(
        "query",
        "select model from build_models where status = 'success' and build_id = "
        "(select build_id from build_runs order by started_at desc limit 1) order by model",
        "--format",
        "json",
        "--db",
        str(root / db),
        "--project",
        str(root),
    )
    assert out.returncode == 0, out.stderr
    return [row["model"] for row in json.loads(out.stdout)]


def test_global_options_come_before_or_after_the_command(project: Path, tmp_path: Path) -> None:
    before = fstore("--project", str(project), "ls", cwd=tmp_path)
    after = fstore("ls", "--project", str(project), cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert before.stdout == after.stdout and "daily_returns" in before.stdout
    built = fstore("--db", "other.duckdb", "--project", str(project), "build", "--quiet", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "other.duckdb").exists() and not (project / "data" / "warehouse.duckdb").exists()
    # the command's own option wins over the one before it
    fstore("--db", "ignored.duckdb", "build", "--quiet", "--db", "mine.duckdb", cwd=project)
    assert (project / "mine.duckdb").exists() and not (project / "ignored.duckdb").exists()
    wrong = fstore("--project", str(project), "init", "x", cwd=tmp_path)
    assert wrong.returncode == 2 and "`fstore init` does not take --project" in wrong.stderr


def test_select_takes_several_values_and_exclude_removes(project: Path) -> None:
    out = fstore(
        "build", "--quiet", "--select", "a", "b", "daily_returns", "--exclude", "daily_returns", cwd=project
    )
    assert out.returncode == 0, out.stderr
    assert _built(project) == ["a", "b"]
    again = (
        "build",
        "--quiet",
        "--full-refresh",
        "-s",
        "path:sql/chain",
        "-s",
        "daily_returns",
        "--exclude",
        "1+c",
    )
    out = fstore(*again, cwd=project)
    assert out.returncode == 0, out.stderr
    assert _built(project) == ["a", "daily_returns"]
    listed = fstore("ls", "--select", "a+1", cwd=project)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["a", "b"]


def test_test_before_any_build_is_an_error_and_creates_no_warehouse(project: Path) -> None:
    out = fstore("test", cwd=project)
    assert out.returncode != 0
    assert "cannot test 2 model(s) that are not built" in out.stderr
    assert "a, daily_returns" in out.stderr and "fstore build" in out.stderr
    assert not (project / "data" / "warehouse.duckdb").exists()
    assert fstore("build", "--quiet", "--select", "daily_returns", cwd=project).returncode == 0
    partly = fstore("test", cwd=project)
    assert partly.returncode != 0 and "not built" in partly.stderr and ": a\n" in partly.stderr
    passed = fstore("test", "--select", "daily_returns", cwd=project)
    assert passed.returncode == 0, passed.stderr
    assert "2 test(s) passed" in passed.stdout


def test_a_failing_model_is_named_by_its_file_in_the_progress_and_the_final_message(project: Path) -> None:
    (project / "sql" / "chain" / "b.sql").write_text(
        "select cast('not a number' as integer) + n as n from a\n"
    )
    out = fstore("build", cwd=project)
    assert out.returncode == 1
    where = "sql/chain/b.sql: model b failed: ConversionException:"
    assert where in out.stdout  # the progress line
    assert where in out.stderr  # the final message
    assert "c: skipped: upstream failed: b" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_global_option_without_a_command_prints_help(tmp_path: Path, capsys) -> None:
    assert main(["--project", str(tmp_path)]) == 2
    assert main(["--db", "x.duckdb", "symbols"]) == 2  # a group without its subcommand: its help
    assert "usage: fstore" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["--db", "x.duckdb", "init", str(tmp_path / "p")])
    assert info.value.code == 2 and "`fstore init` does not take --db" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
