"""The provider plugin through the real Pulumi CLI: a YAML program, and the move of a
dynamic-resource backup to the plugin without recreating anything.

The plugin is installed the way a user installs it (the tarball of tools/plugin_tarball.py,
`pulumi plugin install resource amibackup <version> -f ...`); the YAML language host is
built from the Go module proxy beside the CLI (tools/build-yaml-host.sh). One lifecycle,
against the strict local AWS: `preview` (and the stateful refusal), `up`, scheduled runs
and an image event, `preview --diff` after a change, `refresh`, `import` of a backup made
by the dynamic resource, `destroy` leaving nothing.

Set AMIBACKUP_REQUIRE_ENGINE=1 (as tools/test.sh does) to fail rather than skip when the
engine or the YAML host cannot be found or built.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from amibackup import __version__
from amibackup.names import Names
from amibackup.provision import claim
from amibackup.runner.clients import Clients
from amibackup.runner.cycle import backup_images
from devkit import pulumi_cli
from devkit.localaws.ec2 import images_pending, release_images
from devkit.localaws.lambda_runtime import deliver_ami_events
from devkit.scenarios import (
    create_group,
    default_image,
    fire_schedule,
    schedule_of,
    scheduled_times,
)

ROOT = Path(__file__).resolve().parents[1]
TYPE = "amibackup:index:AmiAutoBackup"
DYNAMIC_TYPE = "pulumi-python:dynamic/amibackup:AmiAutoBackup"
T0 = datetime(2026, 11, 2, tzinfo=UTC)


Cli = pulumi_cli.ProjectCli  # the CLI in one project folder (one backend, PULUMI_HOME)


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and "ciphertext" in value


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backend and PULUMI_HOME with the plugin installed from its tarball."""
    try:
        pulumi_cli.engine_bin()
        pulumi_cli.yaml_host()
    except Exception as err:
        if os.environ.get("AMIBACKUP_REQUIRE_ENGINE") == "1":
            raise
        pytest.skip(f"no Pulumi engine or YAML host: {err}")
    work = tmp_path_factory.mktemp("backend")
    dist = tmp_path_factory.mktemp("dist")
    tarball = subprocess.run([sys.executable, str(ROOT / "tools" / "plugin_tarball.py"),
                              "--out", str(dist)], check=True, capture_output=True,
                             text=True).stdout.strip()
    Cli(dist, work, "").ok("plugin", "install", "resource", "amibackup", __version__,
                           "-f", tarball)
    return work


def test_installed_plugin_serves_the_committed_schema(work: Path) -> None:
    cli = Cli(work, work, "")
    assert f"amibackup  resource  {__version__}" in re.sub(r" +", "  ", cli.ok("plugin", "ls"))
    committed = json.loads((ROOT / "schema" / "schema.json").read_text())
    assert json.loads(cli.ok("package", "get-schema", "amibackup")) == committed
    venv_plugin = Path(sys.executable).parent / "pulumi-resource-amibackup"
    assert json.loads(cli.ok("package", "get-schema", str(venv_plugin))) == committed


def test_the_example_runs_from_a_checkout_through_its_plugins_entry(
        work: Path, aws: Clients, endpoint: str, tmp_path: Path) -> None:
    """examples/yaml as committed: `plugins: providers:` names ../../.venv/bin (here a
    link to this checkout's), in a PULUMI_HOME where no plugin is installed."""
    create_group(aws, "web", size=2)
    folder = tmp_path / "examples" / "yaml"
    shutil.copytree(ROOT / "examples" / "yaml", folder)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    cli = Cli(folder, tmp_path / "fresh", endpoint)
    cli.ok("stack", "init", "checkout")
    cli.ok("config", "set", "groupName", "web")
    assert "amibackup" not in cli.ok("plugin", "ls")
    shown = cli.ok("preview", "--diff")
    assert f"+ {TYPE}: (create)" in shown, shown
    assert re.search(r'scheduleDescription\s*: "at minute 0 of every hour \(UTC\)"', shown)


def yaml_project(root: Path, work: Path, endpoint: str) -> Cli:
    """examples/yaml as a user has it once the plugin is installed (no `plugins:` entry)."""
    folder = root / "yaml"
    folder.mkdir()
    program = (ROOT / "examples" / "yaml" / "Pulumi.yaml").read_text()
    program = re.sub(r"\nplugins:\n(  .*\n)+", "\n", program)
    (folder / "Pulumi.yaml").write_text(program)
    return Cli(folder, work, endpoint)


def python_project(root: Path, work: Path, endpoint: str) -> Cli:
    """This repository's Python program (the dynamic resource), as tests/test_engine_e2e.py."""
    folder = root / "python"
    folder.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, folder / name)
    (folder / ".venv").symlink_to(ROOT / ".venv")
    (folder / "stacks").mkdir()
    return Cli(folder, work, endpoint)


@pytest.fixture
def aws(server_aws: Clients) -> Clients:
    """The moto server, emptied, without the runner tests' keys: the engine deploys them."""
    return server_aws


def nothing_left(aws: Clients, backup_id: str) -> None:
    assert backup_images(aws("ec2"), backup_id) == []
    names = Names(backup_id)
    assert names.function not in [f["FunctionName"] for f in
                                  aws("lambda").list_functions()["Functions"]]
    assert names.schedule not in [s["Name"] for s in
                                  aws("scheduler").list_schedules()["Schedules"]]
    assert not [r for r in aws("iam").list_roles()["Roles"] if backup_id in r["RoleName"]]


def test_yaml_program_lifecycle_and_the_move_from_the_dynamic_resource(
        work: Path, aws: Clients, endpoint: str, tmp_path: Path) -> None:
    web = create_group(aws, "web", size=2)
    yaml = yaml_project(tmp_path, work, endpoint)
    yaml.ok("stack", "init", "dev")
    yaml.ok("config", "set", "amibackup:region", "us-east-1")
    yaml.ok("config", "set", "groupName", "web")
    yaml.ok("config", "set", "--secret", "team", "platform")

    # A stateful group is refused at preview, naming the field; nothing is made.
    program = (yaml.folder / "Pulumi.yaml").read_text()
    (yaml.folder / "Pulumi.yaml").write_text(program.replace("privateIp: true",
                                                             "dataVolumes: true"))
    refused = yaml.pulumi("preview")
    assert refused.code != 0
    assert re.search(r"property persistence .*has a problem: persistence: dataVolumes "
                     r"persistence makes the group stateful", refused.text), refused.text
    (yaml.folder / "Pulumi.yaml").write_text(program)

    shown = yaml.ok("preview", "--diff")
    assert f"+ {TYPE}: (create)" in shown, shown
    assert re.search(r'scheduleDescription\s*: "at minute 0 of every hour \(UTC\)"', shown)
    assert not aws("lambda").list_functions()["Functions"]  # a preview makes nothing

    assert "+ 2 created" in yaml.ok("up", "--yes")
    backup_id = json.loads(yaml.ok("stack", "output", "backupId", "--json"))
    assert schedule_of(aws, backup_id)["ScheduleExpression"] == "cron(0 * * * ? *)"
    state = yaml.resource("web-backup")
    assert state["type"] == TYPE and "__provider" not in state["inputs"]  # no pickled code
    assert is_secret(state["inputs"]["tags"]) and is_secret(state["outputs"]["tags"])
    assert "2 unchanged" in yaml.ok("preview", "--diff")

    # Scheduled runs, then a slow image promoted on its own event.
    made = [fire_schedule(aws, backup_id, T0 + timedelta(hours=n))["created"] for n in (0, 1)]
    with images_pending() as hold:
        fire_schedule(aws, backup_id, T0 + timedelta(hours=2))
    with deliver_ami_events(aws) as delivered:
        release_images(hold.image_ids)
    assert delivered.errors == [] and delivered.results[0][1]["promoted"] == hold.image_ids[0]
    assert default_image(aws("ec2"), web.template_id) == hold.image_ids[0]
    assert aws("ec2").describe_images(ImageIds=made)["Images"]

    # A change, reviewed with preview --diff, then applied in place.
    yaml.ok("config", "set", "retention", "5")
    yaml.ok("config", "set", "frequency", "daily")
    diff = yaml.ok("preview", "--diff")
    assert f"~ {TYPE}: (update)" in diff, diff
    assert re.search(r"~ retention\s*: 3 => 5", diff), diff
    assert re.search(r'~ frequency\s*: "hourly" => "daily"', diff), diff
    assert re.search(r'~ scheduleDescription\s*: "at minute 0 of every hour \(UTC\)" => '
                     r'"at 00:00 every day \(UTC\)"', diff), diff
    assert "~ 1 to update" in diff
    assert "~ 1 updated" in yaml.ok("up", "--yes")
    assert json.loads(yaml.ok("stack", "output", "backupId", "--json")) == backup_id
    assert schedule_of(aws, backup_id)["ScheduleExpression"] == "cron(0 0 * * ? *)"
    state = yaml.resource("web-backup")
    assert is_secret(state["inputs"]["tags"]) and is_secret(state["outputs"]["tags"])

    # Refresh records the live images; secrets stay secret.
    yaml.ok("refresh", "--yes")
    state = yaml.resource("web-backup")
    assert state["outputs"]["latestImageId"] == hold.image_ids[0]
    assert is_secret(state["inputs"]["tags"]) and is_secret(state["outputs"]["tags"])
    assert "2 unchanged" in yaml.ok("refresh", "--yes", "--skip-preview")

    # The move: a backup of the Python program's dynamic resource, taken over by the YAML
    # program by import, without recreating anything in AWS.
    create_group(aws, "app", size=2)
    python = python_project(tmp_path, work, endpoint)
    (python.folder / "stacks" / "Pulumi.old.yaml").write_text(json.dumps({"config": {
        "aws:region": "us-east-1", "amibackup:backups": [{
            "name": "app-backup", "group_name": "app", "frequency": "custom",
            "cron": "30 2 * * 1-5", "timezone": "Europe/Dublin", "retention": 2}]}}))
    python.ok("stack", "init", "old")
    python.ok("up", "--yes", "--skip-preview")
    old = python.resource("app-backup")
    app_id = old["outputs"]["backup_id"]
    function_arn = old["outputs"]["function_arn"]
    app_image = fire_schedule(aws, app_id, scheduled_times(aws, app_id, 1, start=T0)[0])[
        "created"]
    # 1. The Python program forgets the backup without deleting it.
    python.ok("state", "delete", old["urn"], "--yes")
    (python.folder / "stacks" / "Pulumi.old.yaml").write_text(json.dumps({"config": {
        "aws:region": "us-east-1", "amibackup:backups": []}}))
    assert "- " not in python.ok("preview", "--diff").split("Resources:")[-1]
    assert aws("lambda").get_function(FunctionName=Names(app_id).function)
    # 2. The YAML program declares it, keeping its owner (so its `amibackup:stack` tag and
    #    the per-stack deployer policy stay as they are), and imports it by its backup id.
    (yaml.folder / "Pulumi.yaml").write_text(program.replace("outputs:\n", (
        "  app-backup:\n    type: amibackup:index:AmiAutoBackup\n    properties:\n"
        "      groupName: app\n      frequency: custom\n      cron: 30 2 * * 1-5\n"
        "      timezone: Europe/Dublin\n      retention: 2\n"
        "      owner: amibackup/old/app-backup\n"
        "outputs:\n")))
    imported = yaml.ok("import", TYPE, "app-backup", app_id, "--yes", "--protect=false")
    assert "1 imported" in imported, imported
    assert "owner: amibackup/old/app-backup" in imported  # the program code it prints
    moved = yaml.ok("preview", "--diff")
    assert "3 unchanged" in moved and "to update" not in moved, moved  # nothing to do
    state = yaml.resource("app-backup")
    assert state["id"] == app_id and state["outputs"]["functionArn"] == function_arn
    assert state["outputs"]["imageIds"] == [app_image]  # its images came along
    assert claim.holder(aws("ssm"), state["outputs"]["launchTemplateId"]) == {
        "backup_id": app_id, "owner": "amibackup/old/app-backup"}
    assert aws("lambda").list_tags(Resource=function_arn)["Tags"]["amibackup:stack"] == \
        "amibackup/old"

    # Destroy leaves nothing of either backup; each group launches its own image again.
    assert "- 3 deleted" in yaml.ok("destroy", "--yes", "--skip-preview")
    nothing_left(aws, backup_id)
    nothing_left(aws, app_id)
    assert default_image(aws("ec2"), web.template_id) == web.base_image
    python.ok("destroy", "--yes", "--skip-preview")
