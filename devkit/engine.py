"""The real Pulumi engine, offline: find or build the CLI, run the program through it.

The Python language host (`pulumi-language-python`) is not served by the Go module
proxy here, so the project's `__main__.py` runs as an Automation API inline program:
the CLI engine plans and applies it, and starts the dynamic provider as a plugin
(`pulumi-resource-pulumi-python`, next to the CLI), exactly as `pulumi up` would.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from devkit.localaws.server import FAKE_CREDENTIALS

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "__main__.py"
PASSPHRASE = "amibackup-local"  # protects the local state's secrets (__provider)


def engine_bin() -> Path:
    """The folder holding `pulumi`: from PATH, else built from Go modules (cached)."""
    found = shutil.which("pulumi")
    if found and os.environ.get("AMIBACKUP_BUILD_ENGINE") != "1":
        return Path(found).resolve().parent
    script = ROOT / "tools" / "build-engine.sh"
    out = subprocess.run(["bash", str(script)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def provider_launcher(bin_dir: Path) -> None:
    """The engine starts dynamic providers through this script: make sure it is there."""
    target = bin_dir / "pulumi-resource-pulumi-python"
    if not target.exists():
        shutil.copy(ROOT / "tools" / "pulumi-resource-pulumi-python", target)
        target.chmod(0o755)


@dataclass(frozen=True)
class LocalEngine:
    """Where the engine keeps its state and which AWS it talks to."""

    work_dir: Path  # holds the file backend, PULUMI_HOME and stack files
    endpoint: str | None  # AWS_ENDPOINT_URL (a moto server), or None for real AWS
    bin_dir: Path

    def env(self) -> dict[str, str]:
        env = {
            "PULUMI_BACKEND_URL": (self.work_dir / "state").as_uri(),
            "PULUMI_HOME": str(self.work_dir / "home"),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "AMIBACKUP_PYTHON": sys.executable,
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        if self.endpoint:
            env.update({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint})
        return env

    def stack(self, name: str, backups: list[dict[str, Any]], region: str = "us-east-1",
              program: Callable[[], None] | None = None) -> auto.Stack:
        """Select or create a stack whose config holds `backups`, running __main__.py."""
        for sub in ("state", "home"):
            (self.work_dir / sub).mkdir(parents=True, exist_ok=True)
        opts = auto.LocalWorkspaceOptions(
            work_dir=str(self.work_dir), pulumi_home=str(self.work_dir / "home"),
            project_settings=auto.ProjectSettings(name="amibackup", runtime="python"),
            env_vars=self.env(),
            pulumi_command=auto.PulumiCommand(root=str(self.bin_dir.parent),
                                              skip_version_check=True))
        stack = auto.create_or_select_stack(name, "amibackup", program or run_main, opts=opts)
        stack.set_all_config({"aws:region": auto.ConfigValue(region),
                              "amibackup:backups": auto.ConfigValue(json.dumps(backups))})
        return stack


def run_main() -> None:
    """The inline program: the project's own __main__.py, as `pulumi up` would run it."""
    runpy.run_path(str(PROGRAM), run_name="__main__")


def local_engine(work_dir: Path, endpoint: str | None) -> LocalEngine:
    bin_dir = engine_bin()
    provider_launcher(bin_dir)
    return LocalEngine(work_dir, endpoint, bin_dir)
