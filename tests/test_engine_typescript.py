"""A TypeScript program through the real Pulumi CLI, with the SDK generated from the schema.

examples/typescript (its index.ts and package.json, with node_modules installed by
tools/build-examples.sh: the SDK of tools/gen-sdks.sh compiled by its own postinstall) runs
through the CLI built from Go modules and our Node.js language host (devkit/nodehost.py, which
starts @pulumi/pulumi's own runner); the provider is the plugin `pulumi-resource-amibackup`
found through Pulumi.yaml's `plugins:` entry, as from a checkout. One lifecycle against the
strict local AWS: `preview`, `up`, a scheduled run, `refresh`, a change shown by
`preview --diff` and applied, `destroy` leaving nothing.

Set AMIBACKUP_REQUIRE_ENGINE=1 (as tools/test.sh does) to fail rather than skip when the
engine, node/npm or the SDK cannot be had.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from amibackup.runner.clients import Clients
from amibackup.runner.cycle import backup_images
from devkit.scenarios import create_group, default_image, fire_schedule, schedule_of
from tests.support.examples import TYPE, ExampleProject, copy_example, example_or_skip

T0 = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, endpoint: str) -> ExampleProject:
    """tools/build-examples.sh typescript (SDK generated, npm ci compiling it, tsc), then a
    copy of the example with its node_modules linked."""
    example = example_or_skip("typescript", "node", "npm")
    folder = copy_example(example, tmp_path_factory.mktemp("typescript"),
                          ("index.ts", "package.json", "tsconfig.json"))
    (folder / "node_modules").symlink_to(example / "node_modules")
    return ExampleProject(folder, tmp_path_factory.mktemp("backend"), endpoint)


def test_typescript_program_preview_up_run_refresh_destroy(project: ExampleProject,
                                                           aws: Clients) -> None:
    group = create_group(aws, "web", size=2)
    project.ok("stack", "init", "dev")
    project.ok("config", "set", "groupName", "web")
    project.ok("config", "set", "frequency", "hourly")

    out = project.preview_then_up(aws)
    backup_id = out["backupId"]
    assert out["schedule"] == "at minute 0 of every hour (UTC)"
    assert schedule_of(aws, backup_id)["ScheduleExpression"] == "cron(0 * * * ? *)"
    assert "2 unchanged" in project.ok("up", "--yes")

    made = [fire_schedule(aws, backup_id, T0 + timedelta(hours=n))["created"]
            for n in range(2)]
    assert all(made) and default_image(aws("ec2"), group.template_id) == made[-1]
    project.ok("refresh", "--yes")
    state = project.resource("web-backup")["outputs"]
    assert state["latestImageId"] == made[-1]
    assert sorted(state["imageIds"]) == sorted(made)

    project.ok("config", "set", "frequency", "custom")
    project.ok("config", "set", "cron", "*/15 * * * *")
    diff = project.ok("preview", "--diff")
    assert f"~ {TYPE}: (update)" in diff, diff
    assert re.search(r'~ frequency\s*: "hourly" => "custom"', diff), diff
    assert "~ 1 to update" in diff
    assert "~ 1 updated" in project.ok("up", "--yes")
    changed = project.outputs()
    assert changed["backupId"] == backup_id  # in place
    assert changed["schedule"] == "every 15 minutes (UTC)"

    assert "- 2 deleted" in project.ok("destroy", "--yes")
    assert backup_images(aws("ec2"), backup_id) == []
    assert not aws("lambda").list_functions()["Functions"]
    assert not aws("scheduler").list_schedules()["Schedules"]
    assert not [r for r in aws("iam").list_roles()["Roles"] if backup_id in r["RoleName"]]
    assert default_image(aws("ec2"), group.template_id) == group.base_image
