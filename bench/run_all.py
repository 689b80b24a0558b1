"""`make bench`: run every benchmark script in turn; each prints its own figures.

The large sizes (2,000 symbols x 20 years, the Spark comparison, the embedding ablation) take
many minutes on a 2-core machine; pass --quick to run only the default sizes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="default sizes only, no Spark, no ablation")
    args = parser.parse_args()
    runs: list[list[str]] = [
        ["bench_engine.py"],
        ["bench_anchor.py", *(["--repeat", "1"] if args.quick else [])],
        ["bench_features.py", *(["--only", "default"] if args.quick else [])],
        ["bench_loader.py", "--markdown"],
        ["bench_train.py", *([] if args.quick else ["--embedding"])],
    ]
    if not args.quick:
        runs.append(["bench_spark.py", "--only", "default"])
    failed = []
    for script, *rest in runs:
        print(f"\n=== {script} {' '.join(rest)}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / script), *rest])
        print(f"=== {script}: exit {code} in {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(script)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
