"""Shared helpers of the benchmarks: statistics, tables, result files, machine info.

Figures are reported as measured (median with min/max); nothing here asserts a timing.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def ensure_paths() -> None:
    """Make `amibackup`, `devkit` and `tests.support` importable as `python bench/x.py`."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def fake_aws_env(endpoint: str | None = None) -> None:
    """Fake credentials only, so nothing can reach a real account."""
    ensure_paths()
    from devkit.scenarios import use_fake_credentials

    use_fake_credentials(endpoint)


def stats(values: list[float], digits: int = 4) -> dict[str, Any]:
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits),
            "n": len(values)}


def fmt(s: dict[str, Any], unit: str = "", scale: float = 1.0, digits: int = 1) -> str:
    return (f"{s['median'] * scale:.{digits}f}{unit} "
            f"[{s['min'] * scale:.{digits}f}-{s['max'] * scale:.{digits}f}]")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    import boto3
    import moto

    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "boto3": boto3.__version__, "moto": moto.__version__}


def code_state() -> dict[str, Any]:
    """The commit measured and the package files that differed from it (others edit them)."""
    import subprocess

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], check=False, cwd=ROOT, capture_output=True,
                             text=True)
        return out.stdout

    dirty = [line[3:] for line in git("status", "--porcelain", "amibackup").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "uncommitted_package_files": dirty}


def write_result(name: str, goal: str, met: bool | None, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    doc = {"benchmark": name, "date": datetime.now(UTC).isoformat(timespec="seconds"),
           "machine": machine(), "code": code_state(), "goal": goal, "goal_met": met, **data}
    path.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path
