"""Benchmark `fstore docs generate`; prints figures (paste them into docs/benchmarks.md "## Docs site").

    .venv/bin/python bench/bench_site.py                  # default project + 200-model project
    .venv/bin/python bench/bench_site.py --only default --repeat 5
    .venv/bin/python bench/bench_site.py --build-big      # also build the 200 models first (slow)

default  the shipped project (154 symbols, 10 years, every model in sql/ and features/library), built,
         with one short training run logged (so the runs and embeddings pages have content);
         generation timed in this process (first run: manifest lineage computed; then the median of
         --repeat with the manifest reused) and once in a fresh process, interpreter start included
big      the generated 200-model project of bench/bench_engine.py (layered DAG); not built unless
         --build-big: the DAG page is the point (layout in Python, 202 nodes)

Target (issue 16): generation < 2 s on the default project.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_engine import default_project, generated_project

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def _build(root: Path) -> None:
    from features.artifacts import write_manifest, write_run_results
    from features.build import run_build
    from features.config import load_project
    from features.models.discovery import discover
    from features.models.state import relations
    from features.models.validate import validate
    from features.warehouse import connect

    project = load_project(root)
    t0 = time.perf_counter()
    result = run_build(project, quiet=True)
    write_run_results(project, result)  # what the build writes once the lead wires it in
    con = connect(project.warehouse_path, read_only=True)
    try:
        write_manifest(project, validate(discover(project), relations(con)), con)
    finally:
        con.close()
    print(f"  build: {time.perf_counter() - t0:.1f} s")


def _train(root: Path) -> None:
    import torch

    from features.config import load_project
    from training.train import run_training

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    run_training(
        load_project(root),
        epochs=1,
        train_overrides={"max_train_samples": 5000, "batch_size": 256, "threads": 1},
        model_overrides={"hidden": 16},
    )
    print(f"  short training run: {time.perf_counter() - t0:.1f} s")


def _generate(root: Path, repeat: int) -> None:
    from features.config import load_project
    from features.site import generate_site

    project = load_project(root)
    first = generate_site(project)
    times = [generate_site(project).seconds for _ in range(repeat)]
    size = sum(p.stat().st_size for p in first.path.rglob("*") if p.is_file())
    code = (
        "import time; t = time.perf_counter(); from features.config import load_project;"
        " from features.site import generate_site;"
        f" generate_site(load_project({str(root)!r})); print(time.perf_counter() - t)"
    )
    t0 = time.perf_counter()
    inner = float(
        subprocess.run([PY, "-c", code], check=True, capture_output=True, text=True, cwd=REPO).stdout
    )
    fresh = time.perf_counter() - t0
    print(f"  pages: {len(first.pages)}, site size {size / 1e6:.2f} MB")
    print(f"  generate, first (lineage computed): {first.seconds:.2f} s")
    print(
        f"  generate, median of {repeat} (manifest reused): {statistics.median(times):.2f} s  {[round(t, 2) for t in times]}"
    )
    print(
        f"  generate in a fresh process: {inner:.2f} s (imports included), {fresh:.2f} s with interpreter start"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="default,big", help="comma list of: default, big")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--years", type=float, default=10.0, help="history of the default project")
    ap.add_argument(
        "--no-train", action="store_true", help="skip the training run (no runs/embeddings content)"
    )
    ap.add_argument("--build-big", action="store_true", help="build the 200-model project before generating")
    args = ap.parse_args()
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="bench_site_") as tmp:
        if "default" in only:
            print(f"default project ({args.years:g} years, 154 symbols):")
            root = default_project(Path(tmp) / "default", args.years)
            _build(root)
            if not args.no_train:
                _train(root)
            _generate(root, args.repeat)
        if "big" in only:
            print("generated 200-model project:")
            root = generated_project(Path(tmp) / "big", 200)
            if args.build_big:
                _build(root)
            _generate(root, args.repeat)


if __name__ == "__main__":
    main()
