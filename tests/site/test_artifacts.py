"""target/manifest.json and target/run_results.json, checked against the project files, the warehouse
catalog, the lineage command and the build log (independent readers of the same facts)."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from features.artifacts import (
    SCHEMA_VERSION,
    read_manifest,
    read_run_results,
    write_manifest,
    write_run_results,
)
from features.config import Project, load_project
from features.errors import ConfigError, DataTestError
from features.models import lineage as lineage_mod
from features.models.dag import Dag, build_dag
from features.models.discovery import discover
from features.models.lineage import column_lineage, source_columns
from features.models.runner import build_models, run_tests
from features.models.state import relations
from features.models.validate import validate
from features.warehouse import connect

MINI = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "mini"
SETTING = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*?)\s*$")


def header(path: Path) -> dict[str, list[str]]:
    """The ``-- key: value`` lines of a SQL file's header, read here with a plain regex."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("--"):
            break
        m = SETTING.match(line)
        if m:
            found.setdefault(m.group(1), []).append(m.group(2))
    return found


def add_prices(con: duckdb.DuckDBPyConnection, days: int = 12) -> None:
    start = date(2024, 1, 1)
    con.execute("create table prices (asset_id integer, ts date, close double)")
    rows = [
        (a, start + timedelta(days=d), 100.0 + (d * 7 + a * 13) % 17) for a in range(3) for d in range(days)
    ]
    con.executemany("insert into prices values (?, ?, ?)", rows)


@pytest.fixture
def mini(tmp_path: Path):
    root = tmp_path / "mini"
    shutil.copytree(MINI, root)
    project = load_project(root)
    con = connect(project.warehouse_path)
    add_prices(con)
    yield project, con
    con.close()


def dag_of(project: Project, con: duckdb.DuckDBPyConnection) -> Dag:
    return validate(discover(project), relations(con))


def manifest_of(project: Project, dag: Dag, con: duckdb.DuckDBPyConnection | None) -> dict:
    return json.loads(write_manifest(project, dag, con).read_text())


def test_manifest_describes_every_model_as_its_files_and_the_catalog_do(mini) -> None:
    project, con = mini
    dag = dag_of(project, con)
    build_models(con, project, dag)
    m = manifest_of(project, dag, con)
    assert m["schema_version"] == SCHEMA_VERSION and m["kind"] == "fstore.manifest"
    files = {p.stem: p for p in (project.root / "sql").rglob("*.sql")}
    assert set(m["models"]) == {*files, "ema"}
    for name, path in files.items():
        h, entry = header(path), m["models"][name]
        assert entry["kind"] == "sql" and entry["file"] == str(path.relative_to(project.root))
        assert entry["materialized"] == h.get("materialized", ["table"])[0]
        assert entry["tags"] == [t.strip() for t in h.get("tags", [""])[0].split(",") if t.strip()]
        assert entry["description"] == h.get("description", [None])[0]
        assert [t["name"].replace(" ", "") for t in entry["tests"]] == [
            t.removeprefix("warn ").replace(" ", "") for t in h.get("test", [])
        ]
        assert entry["sql"] == path.read_text().strip()
    for name, entry in m["models"].items():
        catalog = con.execute(
            "select column_name, data_type from information_schema.columns where table_name = ?"
            " order by ordinal_position",
            [name],
        ).fetchall()
        assert [(c["name"], c["type"]) for c in entry["columns"]] == [tuple(r) for r in catalog]
        for up in entry["upstream"]:
            assert name in m["models"][up]["downstream"]
        for down in entry["downstream"]:
            assert name in m["models"][down]["upstream"]
    assert m["models"]["ema"]["python"]["docstring"].startswith("ema_3 = EMA(close")
    assert "def ema(stg" in m["models"]["ema"]["python"]["source"]
    assert m["models"]["ema"]["description"] == m["models"]["ema"]["python"]["docstring"]
    assert set(m["sources"]) == {"prices"}
    assert [c["name"] for c in m["sources"]["prices"]["columns"]] == ["asset_id", "ts", "close"]
    assert m["sources"]["prices"]["downstream"] == ["stg"]


def test_column_lineage_agrees_with_the_lineage_command(mini) -> None:
    project, con = mini
    dag = dag_of(project, con)
    build_models(con, project, dag)
    m = manifest_of(project, dag, con)
    checked = 0
    for name, entry in m["models"].items():
        for col in entry["columns"]:
            if entry["kind"] != "sql":
                assert col["lineage"] is None
                continue
            tree = column_lineage(dag, f"{name}.{col['name']}", con)
            expected = source_columns(tree) if tree["from"] else []  # count(*), constants: read no column
            assert col["lineage"]["sources"] == expected, (name, col["name"])
            assert sorted(col["lineage"]["direct"]) == sorted(child["column"] for child in tree["from"])
            checked += 1
    assert checked > 15
    ret_2 = next(c for c in m["models"]["dataset"]["columns"] if c["name"] == "ret_2")
    assert ret_2["lineage"]["direct"] == ["feat.ret_2"] and "prices.close" in ret_2["lineage"]["sources"]


def test_fingerprints_and_rows_are_what_the_build_did(mini) -> None:
    project, con = mini
    dag = dag_of(project, con)
    result = build_models(con, project, dag)
    m = manifest_of(project, dag, con)
    for run in result.runs:
        entry = m["models"][run.model]
        assert entry["fingerprints"]["built"] == run.fingerprint
        if run.materialized != "view":
            assert entry["built"]["rows"] == con.execute(f'select count(*) from "{run.model}"').fetchone()[0]
        assert entry["built"]["build_id"] == result.build_id


def test_lineage_is_reused_when_nothing_changed_and_recomputed_for_a_changed_model(mini, monkeypatch) -> None:
    project, con = mini
    dag = dag_of(project, con)
    build_models(con, project, dag)
    first = manifest_of(project, dag, con)
    calls: list[str] = []
    real = lineage_mod._direct_sources
    monkeypatch.setattr(
        lineage_mod, "_direct_sources", lambda model, schema: calls.append(model.name) or real(model, schema)
    )
    again = manifest_of(project, dag, con)
    assert calls == []
    assert again["models"] == first["models"]

    feat = project.root / "sql" / "marts" / "feat.sql"
    feat.write_text(feat.read_text().replace("    close,\n", "    close,\n    close * 2 as close2,\n"))
    dag = dag_of(project, con)
    build_models(con, project, dag)
    changed = manifest_of(project, dag, con)
    close2 = next(c for c in changed["models"]["feat"]["columns"] if c["name"] == "close2")
    assert close2["lineage"] == {"direct": ["stg.close"], "sources": ["prices.close"]}
    assert "feat" in calls
    assert changed["models"]["stg"]["columns"] == first["models"]["stg"]["columns"]


def test_without_a_warehouse_the_manifest_holds_what_the_files_say(mini) -> None:
    project, _ = mini
    found = discover(project)
    m = manifest_of(project, build_dag(found.models), None)
    assert m["project"]["built"] is False
    feat = m["models"]["feat"]
    assert [c["name"] for c in feat["columns"]] == ["asset_id", "ts", "close", "ret_2", "ma_4"]
    assert all(c["type"] is None for c in feat["columns"])
    assert feat["built"] is None and feat["fingerprints"]["built"] is None


def test_a_failed_write_leaves_the_previous_manifest_whole(mini, monkeypatch) -> None:
    project, con = mini
    dag = dag_of(project, con)
    path = write_manifest(project, dag, con)
    before = path.read_bytes()
    build_models(con, project, dag)

    def broken(src: str, dst: str) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk went away"):
        write_manifest(project, dag, con)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir() if "manifest" in p.name) == ["manifest.json"]


def test_reading_an_artifact_of_another_schema_is_a_clear_error(mini) -> None:
    project, _ = mini
    assert read_manifest(project) is None and read_run_results(project) is None
    target = project.root / "target"
    target.mkdir(exist_ok=True)
    (target / "manifest.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(ConfigError, match="schema_version 99") as err:
        read_manifest(project)
    assert err.value.file == str(target / "manifest.json") and "fstore build" in str(err.value)
    (target / "run_results.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the run results"):
        read_run_results(project)


def test_run_results_record_every_model_and_test_as_the_build_log_does(mini) -> None:
    project, con = mini
    feat = project.root / "sql" / "marts" / "feat.sql"
    feat.write_text(
        feat.read_text().replace(
            "-- test: accepted_range(ma_4, 0, 100000)\n",
            "-- test: warn accepted_range(ma_4, 0, 100)\n-- test: accepted_range(ret_2, 5, 9)\n",
        )
    )
    dag = dag_of(project, con)
    result = build_models(con, project, dag, raise_on_failure=False)
    rr = json.loads(write_run_results(project, result).read_text())
    assert rr["schema_version"] == SCHEMA_VERSION and rr["command"] == "build"
    assert rr["invocation_id"] == result.build_id and rr["status"] == "tests_failed"
    logged = con.execute(
        "select model, action, status, rows from build_models where build_id = ? order by model",
        [result.build_id],
    ).fetchall()
    assert sorted((m["model"], m["action"], m["status"], m["rows"]) for m in rr["models"]) == [
        tuple(r) for r in logged
    ]
    tests = con.execute(
        "select model, test, status, failures from build_tests where build_id = ? order by model, test",
        [result.build_id],
    ).fetchall()
    assert sorted((t["model"], t["test"], t["status"], t["failures"]) for t in rr["tests"]) == [
        tuple(r) for r in tests
    ]
    warn = next(t for t in rr["tests"] if t["test"] == "accepted_range(ma_4, 0, 100)")
    assert warn["status"] == "warn" and warn["failures"] > 0 and warn["sample"]["columns"]
    assert rr["counts"]["tests"]["fail"] == 1 and rr["counts"]["tests"]["warn"] == 1
    assert read_run_results(project) == rr


def test_run_results_of_fstore_test(mini) -> None:
    project, con = mini
    dag = dag_of(project, con)
    build_models(con, project, dag)
    result = run_tests(con, project, dag)
    rr = json.loads(write_run_results(project, result, command="test").read_text())
    assert rr["command"] == "test" and rr["models"] == []
    assert len(rr["tests"]) == sum(len(m.tests) for m in dag.models.values())
    assert {t["status"] for t in rr["tests"]} == {"pass"}
    with pytest.raises(ConfigError, match="build or test"):
        write_run_results(project, result, command="deploy")


def test_a_failing_build_still_has_results_to_write(mini) -> None:
    project, con = mini
    feat = project.root / "sql" / "marts" / "feat.sql"
    feat.write_text(
        feat.read_text().replace(
            "-- test: accepted_range(ma_4, 0, 100000)\n", "-- test: accepted_range(ma_4, 0, 1)\n"
        )
    )
    dag = dag_of(project, con)
    with pytest.raises(DataTestError) as err:
        build_models(con, project, dag)
    rr = json.loads(write_run_results(project, err.value.result).read_text())  # type: ignore[attr-defined]
    failed = [t for t in rr["tests"] if t["status"] == "fail"]
    assert [(t["model"], t["test"]) for t in failed] == [("feat", "accepted_range(ma_4, 0, 1)")]


def test_rewriting_an_unchanged_manifest_imports_no_sqlglot(mini) -> None:
    """A no-op build stays free of sqlglot once the build writes the manifest too."""
    import subprocess
    import sys

    project, con = mini
    dag = dag_of(project, con)
    build_models(con, project, dag)
    write_manifest(project, dag, con)
    con.close()
    code = (
        "import sys\n"
        "from features.artifacts import write_manifest\n"
        "from features.config import load_project\n"
        "from features.models.discovery import discover\n"
        "from features.models.state import relations\n"
        "from features.models.validate import validate\n"
        "from features.warehouse import connect\n"
        f"project = load_project({str(project.root)!r})\n"
        "con = connect(project.warehouse_path, read_only=True)\n"
        "write_manifest(project, validate(discover(project), relations(con)), con)\n"
        "print('sqlglot' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
