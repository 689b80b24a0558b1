"""Training and export commands under misuse (issue 12): typo dates, absurd lookbacks, an --out that
names the warehouse or the mapping, a --plot that names a file. Each is a clear message (exit 2, no
traceback), and nothing the user has is replaced."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
import planted
import pytest
import warehouse_factory as wf

from features.cli import main


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(capsys: pytest.CaptureFixture, code: int, *parts: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, err
    return err


# ----------------------------------------------------------------------------------- empty splits


@pytest.mark.parametrize(
    ("splits", "empty", "named"),
    [
        ('train_end = "2099-01-01"\nvalid_end = "2099-06-01"', "valid and test", "train_end = '2099-01-01'"),
        ('train_end = "2020-03-01"\nvalid_end = "2031-01-01"', "test", "valid_end = '2031-01-01'"),
        ('train_end = "1999-01-01"\nvalid_end = "2000-01-01"', "train and valid", "before the data's first"),
    ],
)
def test_a_date_that_empties_a_split_is_named_with_the_data_range(
    tmp_path: Path, capsys: pytest.CaptureFixture, splits: str, empty: str, named: str
) -> None:
    root = wf.make_project(tmp_path / "p", extra_toml=f"[splits]\n{splits}\n")
    table = wf.read_table(root / "data" / "warehouse.duckdb")
    first, last = (str(d) for d in (table["ts"].min(), table["ts"].max()))
    first_empty = empty.split(" and ")[0]
    out = tmp_path / "w.npz"
    code = main(["export-windows", "--project", str(root), "--split", first_empty, "--out", str(out)])
    _refused(capsys, code, f"no windows in the {first_empty} split", named, f"{first} .. {last}")
    assert not out.exists()


def test_train_refuses_a_typo_date_before_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = planted.make_project(
        tmp_path / "p", '[splits]\ntrain_end = "2099-01-01"\nvalid_end = "2099-06-01"\n'
    )
    code = main(["train", "--project", str(root), "--epochs", "1", "--no-progress"])
    _refused(
        capsys, code, "no windows in the valid and test splits", "train_end = '2099-01-01'", "2015-01-01"
    )
    tables = planted.query(root, "select table_name from information_schema.tables")
    assert ("train_runs",) not in tables, "refused before any run was recorded"
    assert not (root / "runs").exists() or not any((root / "runs").iterdir()), "no run folder left behind"


def test_a_lookback_longer_than_every_history_names_the_longest(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = wf.make_project(tmp_path / "p")
    table = wf.read_table(root / "data" / "warehouse.duckdb")
    # independent: rows per asset after the warm-up of its slowest feature (mom_10d: 10 rows)
    longest = max(int((table["asset_id"] == a).sum()) - 10 for a in np.unique(table["asset_id"]))
    out = tmp_path / "w.npz"
    code = main(["export-windows", "--project", str(root), "--lookback", "100000", "--out", str(out)])
    _refused(
        capsys, code, "lookback = 100,000 is longer than any asset's history", "BTCUSD", f"{longest:,} rows"
    )


# ----------------------------------------------------------------------------------- export --out


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = wf.make_project(tmp_path / "p")
    (root / "config" / "asset_id_mapping.json").write_text(json.dumps({"metadata": {"version": "1.1"}}))
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "prices.csv").write_text("symbol,date,close\nAAPL,2024-01-02,185.6\n")
    return root


def _export(root: Path, out: Path, *extra: str) -> int:
    return main(["export-windows", "--project", str(root), "--lookback", "8", "--out", str(out), *extra])


@pytest.mark.parametrize(
    ("target", "what"),
    [
        ("data/warehouse.duckdb", "the warehouse"),
        ("config/asset_id_mapping.json", "the asset-ID mapping"),
        ("config/project.toml", "the project config"),
        ("data/raw/prices.csv", "a price file folder"),
    ],
)
def test_export_never_replaces_the_users_files_even_with_force(
    project: Path, capsys: pytest.CaptureFixture, target: str, what: str
) -> None:
    path = project / target
    before = _digest(path)
    for extra in ((), ("--force",)):
        _refused(capsys, _export(project, path, *extra), what, "never writes there")
        assert _digest(path) == before
    # a path that reaches the warehouse another way (a relative path with ..) is the same file
    sneaky = project / "data" / "raw" / ".." / "warehouse.duckdb"
    _refused(capsys, _export(project, sneaky, "--force"), "the warehouse")


def test_export_replaces_only_its_own_files_unless_forced(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "windows.npz"
    assert _export(project, out) == 0
    first = _digest(out)
    assert _export(project, out) == 0, "a previous export is replaced"
    capsys.readouterr()
    notes = tmp_path / "notes.npz"
    np.savez(notes, weights=np.arange(3))  # someone else's .npz
    text = tmp_path / "notes.txt"
    text.write_text("my notes")
    for other in (notes, text):
        before = _digest(other)
        _refused(capsys, _export(project, other), "is not a previous export-windows file", "--force")
        assert _digest(other) == before
    assert _export(project, text, "--force") == 0
    with np.load(text, allow_pickle=False) as npz:
        assert str(npz["format"]) == "fstore-windows-1"
    assert _digest(out) == first  # exports are deterministic
    _refused(capsys, _export(project, tmp_path), "is a folder")


# ----------------------------------------------------------------------------------- --plot


def test_plot_naming_a_file_is_refused_before_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = planted.make_project(tmp_path / "p", days=300)
    plot = tmp_path / "plots.png"
    plot.write_bytes(b"not a folder")
    start = time.perf_counter()
    code = main(["train", "--project", str(root), "--epochs", "50", "--no-progress", "--plot", str(plot)])
    elapsed = time.perf_counter() - start
    _refused(capsys, code, "is a file, not a folder")
    assert plot.read_bytes() == b"not a folder"
    tables = planted.query(root, "select table_name from information_schema.tables")
    assert ("train_runs",) not in tables, "refused before any run was recorded"
    assert elapsed < 30  # a 50-epoch run would take minutes
    under = plot / "sub"
    _refused(capsys, main(["train", "--project", str(root), "--plot", str(under)]), "is a file")
    _refused(capsys, main(["embeddings", "latest", "--project", str(root), "--plot", str(plot)]), "is a file")


def test_a_runs_folder_that_cannot_be_made_is_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = planted.make_project(tmp_path / "p", days=300)
    (root / "runs").write_text("a file where the run folders go")
    code = main(["train", "--project", str(root), "--epochs", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "cannot lock the run folder" in err and "Traceback" not in err
    assert (root / "runs").read_text() == "a file where the run folders go"
