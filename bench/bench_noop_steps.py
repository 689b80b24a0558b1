"""CPU seconds per build step of a no-op ``fstore build``, this checkout against a "before" checkout.

    .venv/bin/python bench/bench_noop_steps.py --before ../baseline --rounds 9

Each checkout builds its own copy of ``bench_engine.generated_project`` (200 SQL models) once; then
each round runs, in a fresh process per checkout (order flipped every round), the imports a build
needs, ``load_project`` and ``run_build`` with every step of ``features.build.STEPS`` timed
(``time.process_time``). Prints the median per step for both: where a no-op build's time goes, and
which step changed. Steps one checkout lacks print ``-``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, pathlib, resource, sys, time
t0 = time.process_time()
import features.build as b
import features.cli
from features.config import load_project
out = {"imports (features.build, .cli, .config)": time.process_time() - t0}


def timed(step):
    def run(ctx):
        c = time.process_time()
        try:
            step(ctx)
        finally:
            out[step.__name__] = out.get(step.__name__, 0.0) + time.process_time() - c

    run.__name__ = step.__name__
    return run


b.STEPS = tuple(timed(s) for s in b.STEPS)
c = time.process_time()
project = load_project(pathlib.Path(sys.argv[1]))
out["load_project"] = time.process_time() - c
c = time.process_time()
b.run_build(project, quiet=True)
out["run_build (all)"] = time.process_time() - c
ru = resource.getrusage(resource.RUSAGE_SELF)
out["process (user + sys)"] = ru.ru_utime + ru.ru_stime
print(json.dumps(out))
"""


def prepare(checkout: Path, root: Path) -> None:
    python = str(checkout / ".venv" / "bin" / "python")
    subprocess.run(
        [
            python,
            "-c",
            f"import sys; sys.path.insert(0, {str(checkout / 'bench')!r}); import bench_engine as b;"
            f" from pathlib import Path; b.REPO = Path({str(checkout)!r}); b.generated_project(Path({str(root)!r}))",
        ],
        check=True,
    )
    for _ in range(2):  # the first build, then one to warm the parse cache
        subprocess.run(
            [python, "-m", "features", "build", "--quiet", "--project", str(root)],
            check=True,
            capture_output=True,
            cwd=tempfile.gettempdir(),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    sides = {"before": args.before.resolve(), "after": REPO}
    with tempfile.TemporaryDirectory(prefix="fstore_noop_steps_") as tmp:
        roots = {k: Path(tmp) / k for k in sides}
        for k, checkout in sides.items():
            prepare(checkout, roots[k])
        runs: dict[str, dict[str, list[float]]] = {k: {} for k in sides}
        for r in range(args.rounds):
            for k in list(sides) if r % 2 == 0 else list(reversed(list(sides))):
                p = subprocess.run(
                    [str(sides[k] / ".venv" / "bin" / "python"), "-c", CHILD, str(roots[k])],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=tmp,
                )
                for name, value in json.loads(p.stdout.strip().splitlines()[-1]).items():
                    runs[k].setdefault(name, []).append(value)
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}, {args.rounds} rounds"
    )
    print(f"{'CPU s, median':42s} {'before':>8s} {'after':>8s}")
    for name in dict.fromkeys([*runs["before"], *runs["after"]]):
        cells = [
            f"{statistics.median(runs[k][name]):8.3f}" if name in runs[k] else f"{'-':>8s}" for k in sides
        ]
        print(f"{name:42s} {' '.join(cells)}")


if __name__ == "__main__":
    main()
