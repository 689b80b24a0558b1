"""The README's ten-line training loop runs as written (on a tiny warehouse, one short epoch), sets one
torch thread, and trains with the settings `make train` uses (the Makefile's TRAIN_ARGS)."""

from __future__ import annotations

import re
from pathlib import Path

import warehouse_factory as wf

from features.config import load_project

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def _loop_source() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The loader") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _train_args() -> dict[str, str]:
    """``--flag value`` pairs of the Makefile's TRAIN_ARGS."""
    line = next(x for x in (REPO / "Makefile").read_text().splitlines() if x.startswith("TRAIN_ARGS"))
    return dict(re.findall(r"--([\w-]+) (\S+)", line))


def test_readme_training_loop_runs(tmp_path: Path) -> None:
    code = _loop_source()
    assert len([line for line in code.splitlines() if line.strip()]) == 10
    db = wf.make_warehouse(tmp_path / "w.duckdb")
    code = code.replace('"data/warehouse.duckdb"', repr(str(db))).replace("lookback=5", "lookback=10")
    code = code.replace("range(2)", "range(1)")
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    assert scope["loss"].isfinite()
    assert scope["X"].shape[1:] == (10, 4)


def test_readme_training_loop_uses_one_thread_and_the_settings_make_train_uses() -> None:
    code, args = _loop_source(), _train_args()
    assert "torch.set_num_threads(1)" in code, "two spinning threads crawl on a busy CPU (docs/benchmarks.md)"
    batch = re.search(r"batch_size=(\d+)", code).group(1)
    lr = re.search(r"lr=([\d.e-]+)", code).group(1)
    config = load_project(REPO)  # what `fstore train` uses where TRAIN_ARGS says nothing
    assert int(batch) == int(args.get("batch-size", config.train.batch_size)), "not make train's batch size"
    assert float(lr) == float(args.get("lr", config.train.lr)), "not make train's learning rate"
    lookback = re.search(r"lookback=(\d+)", code).group(1)
    hidden = re.search(r"hidden=(\d+)", code).group(1)
    assert int(lookback) == int(args.get("lookback", config.loader.lookback)), "not make train's lookback"
    assert int(hidden) == int(args.get("hidden", config.model.hidden)), "not make train's model size"
