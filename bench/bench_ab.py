"""Before/after in the same run: ``bench_engine.py`` of two checkouts, alternated, with ratios.

    .venv/bin/python bench/bench_ab.py --before ../baseline --only overhead,noop --rounds 5

Each round runs ``<checkout>/.venv/bin/python <checkout>/bench/bench_engine.py --only … --repeat R``
for the "before" checkout and then for this one (the order flips every round, so a slow spell hits
both alike); each checkout uses its own code, venv, sql/ and library. Prints, per figure, every round's
value for both, the medians, and the median of the per-round after/before ratios (the same-run ratio
to quote), with the machine, the date and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

FIGURES = {  # (bench, path into its JSON) -> label
    ("overhead", ("fstore full build s (median)",)): "overhead: fstore full build s",
    ("overhead", ("direct duckdb s (median)",)): "overhead: direct duckdb s",
    ("overhead", ("ratio",)): "overhead: ratio fstore / direct (wall)",
    ("overhead", ("cpu ratio",)): "overhead: ratio fstore / direct (CPU)",
    ("noop", ("default project (7 models)", "no-op s (median, process start included)")): (
        "no-op default project: wall s"
    ),
    ("noop", ("default project (7 models)", "no-op cpu s (median, user+sys of the process)")): (
        "no-op default project: CPU s"
    ),
    ("noop", ("generated 200-model project", "no-op s (median, process start included)")): (
        "no-op 200 models: wall s"
    ),
    ("noop", ("generated 200-model project", "no-op cpu s (median, user+sys of the process)")): (
        "no-op 200 models: CPU s"
    ),
}


def run_once(checkout: Path, only: str, repeat: int) -> dict[str, dict]:
    """One ``bench_engine.py`` run of ``checkout``: bench name -> its JSON."""
    out = subprocess.run(
        [
            str(checkout / ".venv" / "bin" / "python"),
            str(checkout / "bench" / "bench_engine.py"),
            "--only",
            only,
            "--repeat",
            str(repeat),
        ],
        cwd=checkout,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    parts: dict[str, dict] = {}
    name, lines = None, []
    for line in [*out.splitlines(), "## end"]:
        if line.startswith("## "):
            if name:
                parts[name] = json.loads("\n".join(lines))
            name, lines = line[3:].split()[0], []
        elif name:
            lines.append(line)
    return parts


def figure(parts: dict[str, dict], bench: str, path: tuple[str, ...]) -> float | None:
    value: object = parts.get(bench)
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (with its .venv)")
    parser.add_argument("--only", default="overhead,noop")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5, help="bench_engine.py --repeat per run")
    args = parser.parse_args()
    checkouts = {"before": args.before.resolve(), "after": REPO}
    print(f"# {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"# start {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    for label, checkout in checkouts.items():
        rev = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        print(f"# {label}: {checkout} @ {rev}")
    results: dict[str, list[dict]] = {"before": [], "after": []}
    for k in range(args.rounds):
        order = ["before", "after"] if k % 2 == 0 else ["after", "before"]
        for label in order:
            t0 = time.perf_counter()
            results[label].append(run_once(checkouts[label], args.only, args.repeat))
            print(
                f"# round {k + 1} {label}: {time.perf_counter() - t0:.0f}s, load {os.getloadavg()}",
                flush=True,
            )
    print(f"# end {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()}")
    summary = {}
    for (bench, path), label in FIGURES.items():
        before = [figure(r, bench, path) for r in results["before"]]
        after = [figure(r, bench, path) for r in results["after"]]
        if None in before or None in after:
            continue
        ratios = [a / b for a, b in zip(after, before, strict=True)]  # type: ignore[operator]
        summary[label] = {
            "before": before,
            "after": after,
            "median before": round(statistics.median(before), 3),  # type: ignore[arg-type]
            "median after": round(statistics.median(after), 3),  # type: ignore[arg-type]
            "after / before per round": [round(r, 3) for r in ratios],
            "median ratio": round(statistics.median(ratios), 3),
        }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
