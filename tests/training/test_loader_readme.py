"""The README's ten-line training loop runs as written (on a tiny warehouse, one short epoch)."""

from __future__ import annotations

import re
from pathlib import Path

import warehouse_factory as wf

README = Path(__file__).resolve().parents[2] / "README.md"


def _loop_source() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The loader") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_training_loop_runs(tmp_path: Path) -> None:
    code = _loop_source()
    assert len([line for line in code.splitlines() if line.strip()]) == 10
    db = wf.make_warehouse(tmp_path / "w.duckdb")
    code = code.replace('"data/warehouse.duckdb"', repr(str(db))).replace("lookback=60", "lookback=10")
    code = code.replace("range(5)", "range(1)")
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    assert scope["loss"].isfinite()
    assert scope["X"].shape[1:] == (10, 4)
