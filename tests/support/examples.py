"""The examples in other languages (examples/typescript, examples/go) through the real CLI:
built once by tools/build-examples.sh, copied into a test folder whose Pulumi.yaml names
this checkout's plugin by absolute path. Shared by tests/test_engine_typescript.py,
tests/test_engine_go.py and tests/test_engine_python_sdk.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from amibackup.runner.cycle import backup_images
from devkit import pulumi_cli
from devkit.scenarios import (
    DemoGroup,
    Leftovers,
    backup_snapshots,
    default_image,
    fire_schedule,
    leftovers,
)
from tests.support.engine import engine_or_skip

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TYPE = "amibackup:index:AmiAutoBackup"
PLUGIN_ENTRY = "path: ../../.venv/bin"  # Pulumi.yaml's `plugins:` entry in a checkout


class ExampleProject(pulumi_cli.ProjectCli):
    """A copy of an example and a local backend."""

    def outputs(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.ok("stack", "output", "--json"))
        return out

    def preview_then_up(self, aws: Any) -> dict[str, Any]:
        """A new backup of the group "web": `preview --diff` shows it and creates nothing,
        `up` creates it (and the stack); the stack's outputs."""
        shown = self.ok("preview", "--diff")
        assert f"+ {TYPE}: (create)" in shown, shown
        assert re.search(r'groupName\s*: "web"', shown), shown
        assert "+ 2 to create" in shown
        assert not aws("lambda").list_functions()["Functions"]  # a preview creates nothing
        assert "+ 2 created" in self.ok("up", "--yes")
        return self.outputs()

    def run_then_destroy(self, aws: Any, group: DemoGroup, backup_id: str,
                         at: datetime) -> None:
        """The schedule fired at `at` makes an image (with snapshots) the group launches;
        `destroy` then leaves no image, snapshot, schedule, function or role, and the group
        back on its base image."""
        made = fire_schedule(aws, backup_id, at)["created"]
        assert made and default_image(aws("ec2"), group.template_id) == made
        snapshots = backup_snapshots(aws, backup_id)
        assert snapshots
        assert "- 2 deleted" in self.ok("destroy", "--yes")
        assert backup_images(aws("ec2"), backup_id) == []
        assert leftovers(aws, backup_id, snapshots) == Leftovers()
        assert default_image(aws("ec2"), group.template_id) == group.base_image


def engine_with(*tools: str) -> Callable[[], Path]:
    """Find the engine and the language's tools; raise (skip or fail) if one is missing."""
    def find() -> Path:
        bin_dir = pulumi_cli.engine_bin()
        missing = [tool for tool in tools if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(f"{' and '.join(missing)} not on PATH: needed to run the "
                               "example")
        return bin_dir
    return find


def example_or_skip(language: str, *tools: str) -> Path:
    """The engine and tools, then `tools/build-examples.sh LANGUAGE`; skipped without them,
    failed when AMIBACKUP_REQUIRE_ENGINE=1 (tests/support/engine.py)."""
    engine_or_skip(engine_with(*tools))
    done = subprocess.run(["bash", str(ROOT / "tools" / "build-examples.sh"), language],
                          capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, f"tools/build-examples.sh {language} failed:\n{done.stderr}"
    return EXAMPLES / language


def copy_example(example: Path, folder: Path, files: tuple[str, ...]) -> Path:
    """`files` of the example into `folder`, and its Pulumi.yaml with the checkout's plugin
    named by absolute path (the copy is elsewhere)."""
    for name in files:
        shutil.copy(example / name, folder / name)
    program = (example / "Pulumi.yaml").read_text()
    assert PLUGIN_ENTRY in program, f"{example}/Pulumi.yaml does not name the plugin"
    (folder / "Pulumi.yaml").write_text(
        program.replace(PLUGIN_ENTRY, f"path: {ROOT / '.venv' / 'bin'}"))
    return folder
