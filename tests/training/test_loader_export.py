"""`fstore export-windows`: the .npz round-trips to exactly what to_arrays() gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import warehouse_factory as wf

from features.cli import main
from training import WindowDataset


def test_export_windows_round_trip(tmp_path: Path, capsys) -> None:
    root = wf.make_project(tmp_path / "p")
    out = tmp_path / "windows.npz"
    code = main(
        ["export-windows", "--project", str(root), "--split", "valid", "--lookback", "12", "--out", str(out)]
    )
    assert code == 0
    assert "valid windows (12 x 4)" in capsys.readouterr().out
    ds = WindowDataset.from_warehouse(root, "valid", lookback=12)
    expect = ds.to_arrays()
    with np.load(out, allow_pickle=False) as got:
        for key in ("X", "asset_ids", "y", "label_dates"):
            np.testing.assert_array_equal(got[key], expect[key])
            assert got[key].dtype == expect[key].dtype
        assert got["X"].shape == (len(ds), 12, 4)
        assert tuple(got["feature_names"]) == ds.feature_names
        assert str(got["mapping_version"]) == "1.1"
        assert str(got["fingerprint"]) == ds.fingerprint
        np.testing.assert_array_equal(got["norm_mean"], ds.stats.mean)


def test_export_windows_reports_errors_without_traceback(tmp_path: Path, capsys) -> None:
    root = wf.make_project(tmp_path / "p")
    code = main(
        ["export-windows", "--project", str(root), "--label", "nope", "--out", str(tmp_path / "w.npz")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "label column 'nope'" in err and "Traceback" not in err
    assert not (tmp_path / "w.npz").exists()
