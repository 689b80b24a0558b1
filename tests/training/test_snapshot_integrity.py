"""Snapshots under misuse (issue 12): a replaced Parquet file is refused naming the snapshot, and what a
killed ``snapshot create`` leaves behind never blocks its name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
import warehouse_factory as wf

from features.cli import main
from features.errors import ConfigError, TrainingError
from training import WindowDataset, create_snapshot, list_snapshots


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = wf.make_project(tmp_path / "p")
    return root, root / "data" / "warehouse.duckdb", root / "data" / "snapshots"


def test_a_replaced_snapshot_file_is_refused_naming_the_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root, db, folder = _setup(tmp_path)
    con = duckdb.connect(str(db))
    create_snapshot(con, "v1", folder)
    original = tmp_path / "v1-original.parquet"
    shutil.copyfile(folder / "v1.parquet", original)
    con.close()
    frozen = WindowDataset.from_warehouse(root, "train", lookback=8, snapshot="v1").to_arrays()
    # same columns, other data: another snapshot's file copied over v1's
    con = duckdb.connect(str(db))
    wf.write_training_set(con, wf.make_rows(seed=3))
    create_snapshot(con, "v2", folder)
    con.close()
    shutil.copyfile(folder / "v2.parquet", folder / "v1.parquet")
    with pytest.raises(TrainingError, match=r"snapshot v1: .*v1\.parquet is not the file frozen") as err:
        WindowDataset.from_warehouse(root, "train", lookback=8, snapshot="v1")
    assert "content fingerprint differs" in str(err.value)
    code = main(
        ["export-windows", "--project", str(root), "--snapshot", "v1", "--out", str(tmp_path / "w.npz")]
    )
    assert code == 1 and "snapshot v1" in capsys.readouterr().err
    # one flipped byte in the middle is caught too, with the size unchanged
    shutil.copyfile(original, folder / "v1.parquet")
    data = bytearray((folder / "v1.parquet").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "v1.parquet").write_bytes(bytes(data))
    with pytest.raises(TrainingError, match="not the file frozen"):
        WindowDataset.from_warehouse(root, "train", lookback=8, snapshot="v1")
    # the original file loads again, and gives what it gave
    shutil.copyfile(original, folder / "v1.parquet")
    again = WindowDataset.from_warehouse(root, "train", lookback=8, snapshot="v1").to_arrays()
    for key in ("X", "y", "asset_ids"):
        np.testing.assert_array_equal(again[key], frozen[key])


def test_leftovers_of_a_killed_create_do_not_block_the_name(tmp_path: Path) -> None:
    root, db, folder = _setup(tmp_path)
    folder.mkdir(parents=True)
    # what a create killed after its rename but before its sidecar leaves, and a killed temp file
    (folder / "v1.parquet").write_bytes(b"PAR1 half a file")
    (folder / ".v1.parquet.1a2b3c4d.fstore-tmp.parquet").write_bytes(b"PAR1 a quarter")
    (folder / ".v1.json.5e6f7a8b.fstore-tmp").write_text("{")
    con = duckdb.connect(str(db))
    snap = create_snapshot(con, "v1", folder)
    con.close()
    assert sorted(p.name for p in folder.iterdir()) == ["v1.json", "v1.parquet"]
    assert snap.file_bytes == (folder / "v1.parquet").stat().st_size
    assert len(WindowDataset.from_warehouse(root, "train", lookback=8, snapshot="v1")) > 0


def test_a_snapshot_only_its_sidecar_records_is_taken_and_adopted(tmp_path: Path) -> None:
    """A create killed after its sidecar but before its warehouse row made a complete snapshot."""
    _, db, folder = _setup(tmp_path)
    con = duckdb.connect(str(db))
    create_snapshot(con, "v1", folder)
    con.execute("delete from dataset_snapshots where name = 'v1'")
    assert [s.name for s in list_snapshots(con)] == []
    assert [s.name for s in list_snapshots(con, folder)] == ["v1"]
    with pytest.raises(ConfigError, match="already exists"):
        create_snapshot(con, "v1", folder)
    assert [s.name for s in list_snapshots(con)] == ["v1"], "recorded from its sidecar"
    con.close()
    meta = json.loads((folder / "v1.json").read_text())
    assert meta["file_bytes"] == (folder / "v1.parquet").stat().st_size and len(meta["file_sha256"]) == 64
