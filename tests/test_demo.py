"""The README's main job, `python -m devkit.demo`, end to end (moto server + real engine)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_and_leaves_nothing_behind() -> None:
    if not (shutil.which("pulumi") or shutil.which("go")) and \
            os.environ.get("AMIBACKUP_REQUIRE_ENGINE") != "1":
        pytest.skip("no Pulumi engine, and no Go to build one")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    out = subprocess.run([sys.executable, "-m", "devkit.demo", "--ticks", "4"], cwd=ROOT,
                         capture_output=True, text=True, env=env, timeout=900, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert text.count("| created ami-") == 5  # 4 ticks, then one after the roll
    assert "pruned ami-" in text and "= newest backup" in text
    assert "skipped: manual change" in text
    assert "has a problem: persistence: root_volume persistence makes the group stateful" in text
    assert "images of the backup left: 0; their snapshots left: 0" in text
    assert "its schedules, functions and roles left: 0" in text
    assert "(exists: True)" in text
