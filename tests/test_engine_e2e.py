"""Through the real Pulumi engine (CLI built from Go modules), against a moto server.

The engine is needed: set AMIBACKUP_REQUIRE_ENGINE=1 (as .ci/run does) to fail rather
than skip when it cannot be found or built.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from devkit.scenarios import Leftovers, backup_snapshots, default_image, images_made, leftovers

auto = pytest.importorskip("pulumi.automation")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, endpoint: str) -> Any:
    from devkit.engine import local_engine

    try:
        return local_engine(tmp_path_factory.mktemp("engine"), endpoint)
    except Exception as err:
        if os.environ.get("AMIBACKUP_REQUIRE_ENGINE") == "1":
            raise
        pytest.skip(f"no Pulumi engine: {err}")


def backup(**overrides: Any) -> dict[str, Any]:
    return {"name": "web-backup", "group_name": "web", "frequency": "hourly", **overrides}


def test_preview_refuses_a_stateful_group(engine, aws, group):
    stack = engine.stack("stateful", [backup(persistence={"data_volumes": True})])
    with pytest.raises(auto.CommandError) as failed:
        stack.preview()
    text = str(failed.value)
    assert "has a problem" in text and "cannot coexist with data persistence" in text
    assert not aws("lambda").list_functions()["Functions"]


def test_up_again_update_refresh(engine, aws, group):
    stack = engine.stack("lifecycle", [backup()])
    up = stack.up()
    assert up.summary.resource_changes == {"create": 2}
    out = up.outputs["web-backup"].value
    assert aws("scheduler").get_schedule(Name=f"amibackup-{out['backup_id']}")[
        "ScheduleExpression"] == "cron(0 * * * ? *)"
    assert aws("lambda").get_function(FunctionName=f"amibackup-{out['backup_id']}")
    assert aws("iam").get_role(RoleName=f"amibackup-{out['backup_id']}-run")

    again = stack.up()
    assert again.summary.resource_changes == {"same": 2}

    stack.set_config("amibackup:backups", auto.ConfigValue(json.dumps([backup(
        frequency="custom", cron="*/15 * * * *")])))
    changed = stack.up()
    assert changed.summary.resource_changes == {"same": 1, "update": 1}  # in place
    assert changed.outputs["web-backup"].value["backup_id"] == out["backup_id"]
    assert aws("scheduler").get_schedule(Name=f"amibackup-{out['backup_id']}")[
        "ScheduleExpression"] == "cron(0/15 * * * ? *)"

    assert stack.refresh().summary.resource_changes == {"same": 2}  # nothing drifted
    made = images_made(aws, out["backup_id"], 2)
    # Refresh records the live images (outputs only); then it is clean, and no input drifted.
    stack.refresh()
    assert stack.export_stack().deployment["resources"][-1]["outputs"]["latest_image_id"] == \
        made[-1]
    assert stack.refresh().summary.resource_changes == {"same": 2}
    assert stack.preview().change_summary == {"same": 2}
    stack.destroy()


@pytest.mark.parametrize("persistence", [None, {"private_ip": True}])
def test_destroy_leaves_nothing_and_a_live_template(engine, aws, group, persistence):
    stack = engine.stack("destroy", [backup(persistence=persistence, retention=2)])
    out = stack.up().outputs["web-backup"].value
    ec2 = aws("ec2")
    made = images_made(aws, out["backup_id"], 3)
    snapshots = backup_snapshots(aws, out["backup_id"])
    assert default_image(ec2, group.template_id) == made[-1] and len(snapshots) == 2

    assert stack.destroy().summary.resource_changes == {"delete": 2}
    assert leftovers(aws, snapshots=snapshots) == Leftovers()  # of this or any backup
    launched = default_image(ec2, group.template_id)
    assert launched == group.base_image
    assert ec2.describe_images(ImageIds=[launched])["Images"][0]["State"] == "available"
