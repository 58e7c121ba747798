"""Run every benchmark in turn (each in its own interpreter), one after the other.

    python bench/run_all.py [--only cycle_calls delete_500 ...]

Each writes bench/results/<name>.json and prints its table; this prints a one-line
summary per benchmark at the end. Run on an otherwise idle machine: the benchmarks
do not run concurrently, so as not to disturb each other's timings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("cycle_calls", "backups_per_account", "event_promotion", "delete_500",
              "check_diff_grpc", "import_time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    args = parser.parse_args()
    failed = []
    elapsed = {}
    for name in args.only:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py")], cwd=HERE.parent)
        elapsed[name] = time.perf_counter() - start
        if code:
            failed.append(name)
    print("\n=== summary ===")
    for name in args.only:
        path = HERE / "results" / f"{name}.json"
        met = json.loads(path.read_text())["goal_met"] if path.exists() else "no result"
        state = "FAILED" if name in failed else f"goal met: {met}"
        print(f"{name:<16} {elapsed[name]:6.0f}s  {state}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
