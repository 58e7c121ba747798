"""The plain Pulumi CLI, as a user types it, against a moto server.

`pulumi preview --diff`, `up --yes`, `refresh --yes`, `destroy --yes` run the repository's
`Pulumi.yaml` and `__main__.py` (copied as-is into a temporary project folder whose `.venv`
is the repository's, so the repo's stacks/ stay clean) through the CLI built from Go modules
and the dev kit's language host. The assertions are on what the user sees, and on AWS.

The engine is needed: set AMIBACKUP_REQUIRE_ENGINE=1 (as .ci/run does) to fail rather
than skip when it cannot be found or built.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from amibackup.runner.clients import Clients
from amibackup.runner.cycle import backup_images
from devkit import pulumi_cli
from devkit.pulumi_cli import CliResult
from devkit.scenarios import DemoGroup, create_group, default_image, fire_schedule
from tests.support.engine import engine_or_skip

ROOT = Path(__file__).resolve().parents[1]
TYPE = "pulumi-python:dynamic/amibackup:AmiAutoBackup"  # how the CLI names the resource's type


class Project:
    """A copy of this repository's project (Pulumi.yaml, __main__.py) and a local backend."""

    def __init__(self, folder: Path, work_dir: Path, endpoint: str) -> None:
        self.folder, self.work_dir, self.endpoint = folder, work_dir, endpoint

    def pulumi(self, *args: str) -> CliResult:
        return pulumi_cli.pulumi(args, cwd=self.folder, work_dir=self.work_dir,
                                 endpoint=self.endpoint)

    def ok(self, *args: str) -> str:
        """Run a command that must succeed; its output, as the user sees it."""
        done = self.pulumi(*args)
        assert done.code == 0, f"pulumi {' '.join(args)} failed:\n{done.text}"
        return done.stdout

    def write_stack(self, stack: str, backups: list[dict[str, Any]],
                    region: str = "us-east-1") -> None:
        """The stack file a user edits (JSON is YAML)."""
        config = {"aws:region": region, "amibackup:backups": backups}
        (self.folder / "stacks" / f"Pulumi.{stack}.yaml").write_text(
            json.dumps({"config": config}, indent=2))

    def new_stack(self, stack: str, backups: list[dict[str, Any]]) -> None:
        self.write_stack(stack, backups)
        self.ok("stack", "init", stack)

    def state_of(self, name: str) -> dict[str, Any]:
        """A resource's outputs in the stack's state (refresh updates them, not the exports)."""
        state = json.loads(self.ok("stack", "export"))
        found = [r["outputs"] for r in state["deployment"]["resources"]
                 if r["urn"].endswith(f"::{name}")]
        assert len(found) == 1, found
        return dict(found[0])

    def output(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.ok("stack", "output", name, "--json"))
        return out


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, endpoint: str) -> Project:
    folder = tmp_path_factory.mktemp("project")
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, folder / name)
    (folder / ".venv").symlink_to(ROOT / ".venv")  # Pulumi.yaml: virtualenv .venv
    (folder / "stacks").mkdir()
    engine_or_skip()
    return Project(folder, tmp_path_factory.mktemp("backend"), endpoint)


@pytest.fixture
def aws(server_aws: Clients) -> Clients:
    """The moto server, emptied, without the runner tests' keys: the engine deploys them."""
    return server_aws


@pytest.fixture
def group(aws: Clients) -> DemoGroup:
    return create_group(aws, "web", size=2)


def backup(**overrides: Any) -> dict[str, Any]:
    return {"name": "web-backup", "group_name": "web", "frequency": "hourly", **overrides}


def play(aws: Clients, backup_id: str, ticks: int) -> list[str | None]:
    """Fire the schedule's target (the deployed function, with the schedule's own Input), as
    EventBridge Scheduler and Lambda would."""
    start = datetime(2026, 11, 2, tzinfo=UTC)
    return [fire_schedule(aws, backup_id, start + timedelta(hours=n))["created"]
            for n in range(ticks)]


def test_preview_of_a_new_backup_shows_its_schedule(project, aws, group):
    project.new_stack("new", [backup(frequency="custom", cron="30 2 * * 1-5",
                                     timezone="Europe/Dublin")])
    shown = project.ok("preview", "--diff")
    assert f"+ {TYPE}: (create)" in shown
    assert re.search(r'schedule_description\s*: "at 02:30 on Mon-Fri \(Europe/Dublin\)"', shown)
    assert re.search(r'schedule_expression\s*: "cron\(30 2 \? \* 2-6 \*\)"', shown)
    assert "+ 2 to create" in shown
    assert not aws("lambda").list_functions()["Functions"]  # a preview creates nothing


def test_preview_refuses_a_stateful_group(project, aws, group):
    project.new_stack("stateful", [backup(persistence={"data_volumes": True})])
    refused = project.pulumi("preview")
    assert refused.code != 0
    assert re.search(r"property persistence .* has a problem: persistence: data_volumes "
                     r"persistence makes the group stateful", refused.text), refused.text
    assert "cannot coexist with data persistence" in refused.text
    assert not aws("lambda").list_functions()["Functions"]


def test_up_again_update_refresh_destroy(project, aws, group):
    project.new_stack("lifecycle", [backup()])
    created = project.ok("up", "--yes")
    assert "+ 2 created" in created
    out = project.output("web-backup")
    assert out["schedule_description"] == "at minute 0 of every hour (UTC)"
    assert aws("scheduler").get_schedule(Name=f"amibackup-{out['backup_id']}")[
        "ScheduleExpression"] == "cron(0 * * * ? *)"

    assert "2 unchanged" in project.ok("up", "--yes")

    project.write_stack("lifecycle", [backup(frequency="custom", cron="*/15 * * * *")])
    diff = project.ok("preview", "--diff")
    assert f"~ {TYPE}: (update)" in diff
    assert re.search(r'~ schedule_description\s*: "at minute 0 of every hour \(UTC\)" => '
                     r'"every 15 minutes \(UTC\)"', diff), diff
    assert re.search(r'~ frequency\s*: "hourly" => "custom"', diff), diff
    assert re.search(r'\+ cron\s*: "\*/15 \* \* \* \*"', diff), diff
    assert "~ 1 to update" in diff
    assert "~ 1 updated" in project.ok("up", "--yes")
    changed = project.output("web-backup")
    assert changed["backup_id"] == out["backup_id"]  # in place
    assert changed["schedule_description"] == "every 15 minutes (UTC)"

    assert "2 unchanged" in project.ok("refresh", "--yes")  # nothing drifted
    made = play(aws, out["backup_id"], 2)
    project.ok("refresh", "--yes")  # records the live images in the resource's state
    assert project.state_of("web-backup")["latest_image_id"] == made[-1]
    assert "2 unchanged" in project.ok("refresh", "--yes")
    unchanged = project.pulumi("preview", "--diff")
    assert unchanged.code == 0 and "2 unchanged" in unchanged.stdout
    # Issue 16: Diff asked AWS once for the whole preview, and the preview says what (the
    # CLI prints the provider's info line on stderr).
    said = "looked up which launch template each Auto Scaling group of us-east-1"
    assert unchanged.stderr.count(said) == 1, unchanged.text

    assert "- 2 deleted" in project.ok("destroy", "--yes")
    assert_nothing_left(aws, out["backup_id"])


def test_destroy_with_private_ip_leaves_nothing_and_a_live_template(project, aws, group):
    project.new_stack("destroy", [backup(persistence={"private_ip": True}, retention=2)])
    project.ok("up", "--yes")
    backup_id = project.output("web-backup")["backup_id"]
    ec2 = aws("ec2")
    made = play(aws, backup_id, 3)
    snapshots = {s for i in backup_images(ec2, backup_id) for s in i.snapshot_ids}
    assert default_image(ec2, group.template_id) == made[-1] and len(snapshots) == 2

    assert "- 2 deleted" in project.ok("destroy", "--yes")
    left = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert not snapshots & left
    assert_nothing_left(aws, backup_id)
    launched = default_image(ec2, group.template_id)
    assert launched == group.base_image
    assert ec2.describe_images(ImageIds=[launched])["Images"][0]["State"] == "available"


def assert_nothing_left(aws: Clients, backup_id: str) -> None:
    assert backup_images(aws("ec2"), backup_id) == []
    assert not aws("lambda").list_functions()["Functions"]
    assert not aws("scheduler").list_schedules()["Schedules"]
    assert not [r for r in aws("iam").list_roles()["Roles"] if backup_id in r["RoleName"]]


def test_review_stack_shows_a_pull_request_its_change(project, aws):
    """stacks/Pulumi.review.yaml as deployed, then as the pull request changes it."""
    create_group(aws, "demo-web", size=2)
    stack_file = project.folder / "stacks" / "Pulumi.review.yaml"
    shutil.copy(ROOT / "stacks" / "Pulumi.review.yaml", stack_file)
    project.ok("stack", "select", "--create", "review")
    assert stack_file.read_text() == (ROOT / "stacks" / "Pulumi.review.yaml").read_text()
    project.ok("up", "--yes")

    stack_file.write_text(stack_file.read_text().replace(
        "frequency: hourly\n",
        'frequency: custom\n      cron: "30 2 * * 1-5"\n      timezone: Europe/Dublin\n'))
    review = project.ok("preview", "--diff")
    print(review)  # README-langhost.md shows this output
    assert re.search(r'~ frequency\s*: "hourly" => "custom"', review)
    assert re.search(r'\+ cron\s*: "30 2 \* \* 1-5"', review)
    assert re.search(r'~ timezone\s*: "UTC" => "Europe/Dublin"', review)
    assert re.search(r'~ schedule_description\s*: "at minute 0 of every hour \(UTC\)" => '
                     r'"at 02:30 on Mon-Fri \(Europe/Dublin\)"', review)
    assert "~ 1 to update" in review
    assert "- 2 deleted" in project.ok("destroy", "--yes")


def test_replace_then_stack_region_change_leaves_the_old_region_clean(project, aws, group):
    project.new_stack("moves", [backup()])
    project.ok("up", "--yes")
    first = project.output("web-backup")["backup_id"]
    play(aws, first, 2)
    urn = next(r["urn"] for r in json.loads(project.ok("stack", "export"))["deployment"][
        "resources"] if r["urn"].endswith("::web-backup"))

    replaced = project.ok("up", "--yes", "--replace", urn)
    assert "+-1 replaced" in replaced, replaced
    second = project.output("web-backup")["backup_id"]
    assert second != first and backup_images(aws("ec2"), first) == []
    assert [s["Name"] for s in aws("scheduler").list_schedules()["Schedules"]] == [
        f"amibackup-{second}"]

    west = Clients("us-west-2")
    create_group(west, "web", size=2)
    play(aws, second, 1)
    project.write_stack("moves", [backup()], region="us-west-2")
    moved = project.ok("up", "--yes")
    assert "+-1 replaced" in moved, moved
    third = project.output("web-backup")["backup_id"]
    assert project.state_of("web-backup")["resolved_region"] == "us-west-2"
    # The old backup was deleted where it lived: nothing of it is left in us-east-1.
    assert_nothing_left(aws, second)
    assert default_image(aws("ec2"), group.template_id) == group.base_image
    assert [s["Name"] for s in west("scheduler").list_schedules()["Schedules"]] == [
        f"amibackup-{third}"]
    assert "- 2 deleted" in project.ok("destroy", "--yes")
    assert not west("lambda").list_functions()["Functions"]


def test_refresh_sees_a_hand_deleted_function_and_up_repairs_it(project, aws, group):
    project.new_stack("drift", [backup()])
    project.ok("up", "--yes")
    out = project.output("web-backup")
    aws("lambda").delete_function(FunctionName=f"amibackup-{out['backup_id']}")
    project.ok("refresh", "--yes")
    assert not project.state_of("web-backup").get("function_arn")
    assert "~ 1 to update" in project.ok("preview", "--diff")
    assert "~ 1 updated" in project.ok("up", "--yes")
    assert aws("lambda").get_function(FunctionName=f"amibackup-{out['backup_id']}")
    assert "2 unchanged" in project.ok("refresh", "--yes")
    project.ok("destroy", "--yes")


def test_teardown_warning_reaches_the_user(project, aws, group):
    project.new_stack("warns", [backup()])
    project.ok("up", "--yes")
    backup_id = project.output("web-backup")["backup_id"]
    # The pickled provider holds no secret: stored in plain text, readable without a passphrase.
    state = json.loads(project.ok("stack", "export"))["deployment"]["resources"]
    pickled = next(r["inputs"]["__provider"] for r in state if r["urn"].endswith("::web-backup"))
    assert isinstance(pickled, str) and pickled
    made = play(aws, backup_id, 1)
    aws("ec2").deregister_image(ImageId=group.base_image)  # nothing else to point the group at
    destroyed = project.pulumi("destroy", "--yes")
    print(destroyed.text)
    assert destroyed.code == 0
    assert re.search(r"warning: .*" + re.escape(str(backup_id)) + r".*kept " + str(made[0]),
                     destroyed.text), destroyed.text
