"""Import cost of `import amibackup; from amibackup import AmiAutoBackup` beyond `import pulumi`.

Every sample is a fresh interpreter (the import is timed inside it with perf_counter, so
interpreter start-up is excluded); the variants are interleaved so machine noise hits
them alike:

* `pulumi`:            import pulumi
* `amibackup`:         import amibackup; from amibackup import AmiAutoBackup (pulls pulumi)
* `amibackup|pulumi`:  import pulumi first (untimed), then time the amibackup line

"Beyond pulumi" is median(amibackup) - median(pulumi); the third variant measures it
directly. Then one `python -X importtime` run lists the costliest modules it imports
that `import pulumi` alone does not (amibackup's own and what they pull in).

    python bench/import_time.py [--reps 15]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from typing import Any

from _common import ROOT, fmt, stats, table, write_result

NAME = "import_time"
GOAL = "import amibackup + AmiAutoBackup under 150 ms beyond import pulumi"
AMIBACKUP = "import amibackup; from amibackup import AmiAutoBackup"
TIMED = ("import time\n{pre}\nt = time.perf_counter()\n{stmt}\n"
         "print(time.perf_counter() - t)\n")
VARIANTS = {"pulumi": ("", "import pulumi"), "amibackup": ("", AMIBACKUP),
            "amibackup|pulumi": ("import pulumi", AMIBACKUP)}


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


def sample(pre: str, stmt: str) -> float:
    out = subprocess.run([sys.executable, "-c", TIMED.format(pre=pre, stmt=stmt)],
                         check=False, capture_output=True, text=True, env=env(), cwd=ROOT)
    if out.returncode:
        raise RuntimeError(f"{stmt!r} failed in a fresh interpreter:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def importtime(stmt: str, runs: int) -> dict[str, tuple[int, int]]:
    """module -> (self us, cumulative us), per-module medians of `runs` `-X importtime` runs."""
    samples: dict[str, list[tuple[int, int]]] = {}
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", stmt],
                             capture_output=True, text=True, check=True, env=env(), cwd=ROOT)
        for line in out.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
            if m:
                samples.setdefault(m.group(4), []).append((int(m.group(1)), int(m.group(2))))
    return {m: (int(statistics.median(s for s, _ in v)), int(statistics.median(c for _, c in v)))
            for m, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--importtime-runs", type=int, default=5)
    args = parser.parse_args()
    for pre, stmt in VARIANTS.values():  # warm the OS file cache and bytecode caches
        sample(pre, stmt)
    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    for _ in range(args.reps):
        for key, (pre, stmt) in VARIANTS.items():
            times[key].append(sample(pre, stmt))
    summary = {k: stats(v, 5) for k, v in times.items()}
    beyond = summary["amibackup"]["median"] - summary["pulumi"]["median"]

    base = importtime("import pulumi", args.importtime_runs)
    full = importtime(AMIBACKUP, args.importtime_runs)
    extra = {m: t for m, t in full.items() if m not in base}
    own = sorted(((m, t) for m, t in extra.items() if m.startswith("amibackup")),
                 key=lambda x: -x[1][1])
    pulled = sorted(((m, t) for m, t in extra.items() if not m.startswith("amibackup")),
                    key=lambda x: -x[1][0])[: args.top]
    top_level = sorted(((m, t) for m, t in extra.items() if "." not in m),
                       key=lambda x: -x[1][1])[: args.top]

    print(f"Import time in a fresh interpreter (median [min-max] of {args.reps}, ms)")
    print(table(["variant", "ms"], [[k, fmt(s, "", 1000, 1)] for k, s in summary.items()]))
    print(f"beyond import pulumi: {beyond * 1000:.1f} ms (difference of medians); "
          f"measured directly: {summary['amibackup|pulumi']['median'] * 1000:.1f} ms")
    print("\n-X importtime, amibackup's own modules (median of runs, ms)")
    print(table(["module", "self", "cumulative"],
                [[m, f"{s / 1000:.1f}", f"{c / 1000:.1f}"] for m, (s, c) in own]))
    print("\n-X importtime, top-level packages imported beyond pulumi (cumulative ms)")
    print(table(["package", "self", "cumulative"],
                [[m, f"{s / 1000:.1f}", f"{c / 1000:.1f}"] for m, (s, c) in top_level]))
    print(f"\n-X importtime, costliest single modules beyond pulumi (self ms, top {args.top})")
    print(table(["module", "self", "cumulative"],
                [[m, f"{s / 1000:.1f}", f"{c / 1000:.1f}"] for m, (s, c) in pulled]))

    met = beyond < 0.150
    direct = summary["amibackup|pulumi"]["median"] < 0.150
    print(f"\nGoal: {GOAL}. Met (difference of medians): {met}; met (measured directly): "
          f"{direct}")

    def rows(items: list[tuple[str, tuple[int, int]]]) -> list[dict[str, Any]]:
        return [{"module": m, "self_ms": round(s / 1000, 1), "cumulative_ms": round(c / 1000, 1)}
                for m, (s, c) in items]

    write_result(NAME, GOAL, met, {
        "reps": args.reps, "importtime_runs": args.importtime_runs, "seconds": summary, "beyond_pulumi_s": round(beyond, 5),
        "goal_met_direct": direct,
        "own_modules": rows(own), "top_level_beyond_pulumi": rows(top_level),
        "costliest_modules_beyond_pulumi": rows(pulled)})


if __name__ == "__main__":
    main()
