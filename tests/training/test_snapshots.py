"""Dataset snapshots: immutable named copies of training_set that the loader can read back."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest
import warehouse_factory as wf

from features.cli import main
from features.errors import ConfigError
from training import WindowDataset, create_snapshot, list_snapshots, training_set_fingerprint


def test_snapshot_survives_a_rebuild_of_training_set(tmp_path: Path) -> None:
    root = wf.make_project(tmp_path / "p")
    db = root / "data" / "warehouse.duckdb"
    before = WindowDataset.from_warehouse(root, "train", lookback=8)
    con = duckdb.connect(str(db))
    fingerprint = training_set_fingerprint(con)
    snap = create_snapshot(con, "v1", root / "data" / "snapshots")
    assert snap.rows == con.execute("select count(*) from training_set").fetchall()[0][0]
    assert snap.fingerprint == fingerprint and snap.mapping_version == "1.1" and snap.num_embeddings == 8
    # the features are rebuilt (different data, a newer mapping) ...
    wf.write_training_set(con, wf.make_rows(seed=1))
    con.execute("insert into mapping_versions values ('1.2', 3, now())")
    con.close()
    rebuilt = WindowDataset.from_warehouse(root, "train", lookback=8)
    assert not np.array_equal(rebuilt.to_arrays()["y"][:50], before.to_arrays()["y"][:50])
    # ... and the snapshot still gives back the old data, with its own mapping version
    frozen = WindowDataset.from_warehouse(root, "train", lookback=8, snapshot="v1")
    for key in ("X", "asset_ids", "y", "label_dates"):
        np.testing.assert_array_equal(frozen.to_arrays()[key], before.to_arrays()[key])
    assert frozen.mapping_version == "1.1"
    assert frozen.fingerprint != before.fingerprint  # the snapshot name is part of the config
    np.testing.assert_allclose(frozen.stats.mean, before.stats.mean, rtol=1e-12)


def test_snapshot_names_are_identifiers_and_immutable(tmp_path: Path) -> None:
    root = wf.make_project(tmp_path / "p")
    con = duckdb.connect(str(root / "data" / "warehouse.duckdb"))
    folder = root / "data" / "snapshots"
    with pytest.raises(ConfigError, match="not an identifier"):
        create_snapshot(con, "v1; drop table training_set", folder)
    create_snapshot(con, "first", folder)
    with pytest.raises(ConfigError, match="already exists; snapshots are immutable"):
        create_snapshot(con, "first", folder)
    create_snapshot(con, "second", folder)
    assert [s.name for s in list_snapshots(con)] == ["first", "second"]
    con.close()
    with pytest.raises(ConfigError, match="no dataset snapshot named 'third'"):
        WindowDataset.from_warehouse(root, snapshot="third", lookback=8)


def test_snapshot_loads_from_its_sidecar_after_the_warehouse_is_gone(tmp_path: Path) -> None:
    root = wf.make_project(tmp_path / "p")
    db = root / "data" / "warehouse.duckdb"
    before = WindowDataset.from_warehouse(root, "test", lookback=8)
    con = duckdb.connect(str(db))
    create_snapshot(con, "keep", root / "data" / "snapshots")
    con.close()
    db.unlink()
    wf.make_warehouse(db, seed=3)  # a fresh warehouse: no dataset_snapshots row
    frozen = WindowDataset.from_warehouse(root, "test", lookback=8, snapshot="keep")
    np.testing.assert_array_equal(frozen.to_arrays()["X"], before.to_arrays()["X"])


def test_snapshot_cli(tmp_path: Path, capsys) -> None:
    root = wf.make_project(tmp_path / "p")
    assert main(["snapshot", "create", "v1", "--project", str(root)]) == 0
    assert "snapshot v1:" in capsys.readouterr().out
    assert main(["snapshot", "create", "v1", "--project", str(root)]) == 2
    assert "immutable" in capsys.readouterr().err
    assert main(["snapshot", "list", "--project", str(root), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("name,created_at") and lines[1].startswith("v1,")
    out = tmp_path / "w.npz"
    assert (
        main(
            [
                "export-windows",
                "--project",
                str(root),
                "--snapshot",
                "v1",
                "--lookback",
                "8",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with np.load(out) as got:
        np.testing.assert_array_equal(
            got["X"], WindowDataset.from_warehouse(root, lookback=8).to_arrays()["X"]
        )
