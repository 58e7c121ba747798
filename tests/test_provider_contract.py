"""The provider through gRPC, as the engine drives it, against a moto server."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest

from amibackup.provision.scheduler import SCHEDULED_TIME
from amibackup.runner.clients import Clients
from amibackup.runner.config import ENV_VAR
from amibackup.runner.cycle import backup_images
from devkit.scenarios import (
    T0,
    Leftovers,
    backup_snapshots,
    default_image,
    hand_pick_ami,
    images_made,
    leftovers,
)
from tests.support.harness import UNKNOWN, ProviderClient


def inputs(**overrides: object) -> dict[str, object]:
    props: dict[str, object] = {"backup_name": "web-backup", "group_name": "web",
                                "frequency": "hourly", "retention": 3.0}
    props.update(overrides)
    return props


def checked(provider: ProviderClient, **overrides: object) -> dict[str, object]:
    news, failures = provider.check(inputs(**overrides))
    assert failures == []
    return news


def test_check_refuses_a_stateful_group_at_plan_time(provider, aws):
    _, failures = provider.check(inputs(persistence={"root_volume": True, "private_ip": True}))
    assert [f[0] for f in failures] == ["persistence"]
    assert "stateful" in failures[0][1] and "root_volume" in failures[0][1]
    _, failures = provider.check(inputs(persistence={"data_volumes": True}))
    assert "cannot coexist with data persistence" in failures[0][1]
    news, failures = provider.check(inputs(persistence={"private_ip": True}))
    assert failures == [] and news["persistence"]["private_ip"] is True
    assert not aws("lambda").list_functions()["Functions"]  # nothing was created


def test_check_normalises_and_previews_the_schedule(provider):
    news = checked(provider, frequency="custom", cron="30 2 * * 1-5", timezone="Europe/Paris")
    assert news["schedule_expression"] == "cron(30 2 ? * 2-6 *)"
    assert "Europe/Paris" in news["schedule_description"]
    assert news["retention"] == 3 and news["no_reboot"] is True and news["paused"] is False


def test_check_skips_unknown_values(provider):
    news, failures = provider.check(inputs(group_name=UNKNOWN, retention=UNKNOWN))
    assert failures == []
    assert "schedule_expression" in news
    news, failures = provider.check(inputs(cron=UNKNOWN, frequency="custom"))
    assert failures == [] and "schedule_expression" not in news


def deployed_job(aws: Clients, outs: dict[str, object]) -> dict[str, object]:
    config = aws("lambda").get_function_configuration(FunctionName=outs["function_name"])
    return dict(json.loads(config["Environment"]["Variables"][ENV_VAR]))


def test_create_diff_update_read_delete(provider, aws, group):
    ec2 = aws("ec2")
    news = checked(provider)
    id_, outs = provider.create(news)
    assert outs["backup_id"] == id_ and id_.startswith("web-backup-")
    assert outs["schedule_expression"] == "cron(0 * * * ? *)"
    schedule = aws("scheduler").get_schedule(Name=outs["schedule_name"])
    assert schedule["State"] == "ENABLED" and schedule["Target"]["Arn"] == outs["function_arn"]
    # The schedule names the run only; the job is the function's own, fixed at deploy.
    assert json.loads(schedule["Target"]["Input"]) == {"scheduled_time": SCHEDULED_TIME}
    assert deployed_job(aws, outs)["retention"] == 3
    fn = aws("lambda").get_function(FunctionName=outs["function_name"])
    assert fn["Configuration"]["Handler"] == "amibackup.runner.handler.handler"
    assert fn["Concurrency"]["ReservedConcurrentExecutions"] == 1
    assert aws("iam").get_role(RoleName=f"amibackup-{id_}-run")["Role"]["Arn"] == outs["role_arn"]
    assert outs["recorded_version"] == 1 and outs["launch_template_id"] == group.template_id

    # Same inputs (3.0 vs 3): no change. Frequency: in place. Group: replace.
    assert provider.diff(id_, outs, checked(provider, retention=3)).changes == 1  # DIFF_NONE
    in_place = provider.diff(id_, outs, checked(provider, frequency="daily"))
    assert in_place.changes == 2 and list(in_place.replaces) == []
    moved = provider.diff(id_, outs, checked(provider, group_name="other"))
    assert list(moved.replaces) == ["group_name"]

    updated = provider.update(id_, outs, checked(provider, frequency="daily", paused=True,
                                                 retention=2))
    schedule = aws("scheduler").get_schedule(Name=outs["schedule_name"])
    assert schedule["ScheduleExpression"] == "cron(0 0 * * ? *)"
    assert schedule["State"] == "DISABLED" and updated["schedule_state"] == "DISABLED"
    assert deployed_job(aws, outs) == {
        "backup_id": id_, "group_name": "web", "region": "us-east-1", "retention": 2,
        "no_reboot": True, "tags": {"amibackup:stack": id_},  # declared outside a stack
        "template_id": group.template_id,
        "recorded_version": outs["recorded_version"], "period_seconds": 86400,
        # the schedule a run must fire at, Scheduler's delivery window, and the pause
        "schedule_expression": "cron(0 0 * * ? *)", "timezone": "UTC",
        "delivery_window_seconds": 600, "paused": True}
    assert updated["backup_id"] == id_ and updated["function_arn"] == outs["function_arn"]
    assert provider.diff(id_, updated, checked(provider, frequency="daily", paused=True,
                                               retention=2)).changes == 1

    with pytest.raises(Exception, match="is paused"):
        images_made(aws, id_, 1)  # paused: the deployed runner refuses (issue 15 item 6)
    updated = provider.update(id_, updated, checked(provider, frequency="daily", retention=2))
    assert aws("events").describe_rule(Name=f"amibackup-{id_}-ami")["State"] == "ENABLED"
    made = images_made(aws, id_, 3)
    read_id, live = provider.read(id_, updated)
    assert read_id == id_ and live["latest_image_id"] == made[-1]
    assert live["image_ids"] == made[::-1][:2]  # retention 2 kept the newest two

    snapshots = backup_snapshots(aws, id_)
    provider.delete(id_, updated)
    assert leftovers(aws, snapshots=snapshots) == Leftovers()  # of this or any backup
    assert default_image(ec2, group.template_id) == group.base_image
    provider.delete(id_, updated)  # deleting twice is fine
    assert provider.read(id_, updated)[0] == ""  # and refresh shows it gone


def _snapshots(aws: Clients) -> set[str]:
    return {s["SnapshotId"] for s in aws("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]}


@pytest.mark.parametrize("persistence", [None, {"private_ip": True}])
def test_delete_leaves_no_image_or_snapshot_and_a_live_template(provider, aws, group,
                                                                persistence):
    ec2 = aws("ec2")
    before = _snapshots(aws)
    id_, outs = provider.create(checked(provider, persistence=persistence, retention=5))
    made = images_made(aws, id_, 4)
    assert default_image(ec2, group.template_id) == made[-1]
    assert len(_snapshots(aws) - before) == 4
    provider.delete(id_, outs)
    assert leftovers(aws, id_) == Leftovers()
    assert _snapshots(aws) == before  # every snapshot the backup made is gone, others stay
    launched = default_image(ec2, group.template_id)
    assert ec2.describe_images(ImageIds=[launched])["Images"][0]["State"] == "available"
    assert launched == group.base_image


def test_delete_keeps_images_when_asked(provider, aws, group):
    id_, outs = provider.create(checked(provider, deregister_on_delete=False))
    made = images_made(aws, id_, 2)
    provider.delete(id_, outs)
    assert sorted(i.image_id for i in backup_images(aws("ec2"), id_)) == sorted(made)
    assert default_image(aws("ec2"), group.template_id) == made[-1]


def test_delete_never_points_the_group_at_a_deleted_image(provider, aws, group):
    ec2 = aws("ec2")
    id_, outs = provider.create(checked(provider))
    made = images_made(aws, id_, 2)
    # The base image is gone and no other non-backup image exists in the template.
    ec2.deregister_image(ImageId=group.base_image)
    provider.delete(id_, outs)
    left = backup_images(ec2, id_)
    assert [i.image_id for i in left] == [made[-1]] == [default_image(ec2, group.template_id)]
    assert f"launch template {group.template_id} $Default" in left[0].tags["amibackup:kept"]


def test_failed_create_leaves_nothing_behind(provider, aws, group):
    news = checked(provider)
    aws("iam").create_role(RoleName="unrelated", AssumeRolePolicyDocument="{}")
    # A group that does not exist is refused before anything is made.
    with pytest.raises(Exception, match="group_name: Auto Scaling group 'missing' not found"):
        provider.create({**news, "group_name": "missing"})
    assert [r["RoleName"] for r in aws("iam").list_roles()["Roles"]] == ["unrelated"]
    # The last step fails (the schedule group is gone): roles and function made before it go.
    aws("scheduler").delete_schedule_group(Name="default")
    with pytest.raises(Exception):  # noqa: B017 - whatever the failure, it must roll back
        provider.create(news)
    assert [r["RoleName"] for r in aws("iam").list_roles()["Roles"]] == ["unrelated"]
    assert not aws("lambda").list_functions()["Functions"]


def test_delete_after_partial_failure_finishes_the_job(provider, aws, group):
    id_, outs = provider.create(checked(provider))
    images_made(aws, id_, 2)
    # Half a teardown happened earlier: the schedule and the runner role are already gone.
    aws("scheduler").delete_schedule(Name=outs["schedule_name"])
    aws("iam").delete_role_policy(RoleName=f"amibackup-{id_}-run", PolicyName="amibackup")
    _, live = provider.read(id_, outs)
    assert live["schedule_state"] == "MISSING"
    assert provider.diff(id_, live, checked(provider)).changes == 2  # up recreates it
    provider.delete(id_, outs)
    assert leftovers(aws) == Leftovers()


def test_configure_region_from_stack_config(provider, aws, group):
    provider.configure({"aws:region": "us-east-1"})
    id_, outs = provider.create(checked(provider))
    assert outs["resolved_region"] == "us-east-1" and ":us-east-1:" in outs["function_arn"]
    provider.delete(id_, outs)


def test_new_package_version_updates_the_function_in_place(provider, aws, group):
    id_, outs = provider.create(checked(provider))
    fn = aws("lambda")
    # The live function runs an older amibackup's code, as state says.
    old = io.BytesIO()
    with zipfile.ZipFile(old, "w") as archive:
        archive.writestr("amibackup/runner/handler.py", "def handler(e, c): return 'old'\n")
    fn.update_function_code(FunctionName=outs["function_name"], ZipFile=old.getvalue())
    stale = {**outs, "code_sha256": fn.get_function(
        FunctionName=outs["function_name"])["Configuration"]["CodeSha256"]}
    diff = provider.diff(id_, stale, checked(provider))
    assert diff.changes == 2 and list(diff.replaces) == []
    updated = provider.update(id_, stale, checked(provider))
    live = fn.get_function(FunctionName=outs["function_name"])["Configuration"]["CodeSha256"]
    assert live == outs["code_sha256"] == updated["code_sha256"] != stale["code_sha256"]
    assert updated["function_arn"] == outs["function_arn"]
    provider.delete(id_, updated)


def test_one_backup_per_group(provider, aws, group):
    id_, outs = provider.create(checked(provider))
    with pytest.raises(Exception, match="already has an amibackup backup"):
        provider.create(checked(provider, backup_name="second"))
    assert len(aws("lambda").list_functions()["Functions"]) == 1
    provider.delete(id_, outs)
    id_, outs = provider.create(checked(provider, backup_name="second"))  # now it may
    provider.delete(id_, outs)


def test_delete_keeps_a_hand_picked_ami(provider, aws, group):
    ec2 = aws("ec2")
    id_, outs = provider.create(checked(provider))
    images_made(aws, id_, 2)
    # An operator made another AMI the default by hand after the backup was created.
    chosen, _ = hand_pick_ami(aws, group.group_name, group.template_id)
    # The next run waits: the newest instance does not run the chosen AMI yet.
    images_made(aws, id_, 1, start=T0 + timedelta(hours=5))
    # A later backup promotion is undone on delete back to the hand-picked AMI, not
    # to the AMI recorded at create.
    ec2.modify_launch_template(LaunchTemplateId=group.template_id, DefaultVersion="3")
    assert default_image(ec2, group.template_id) in {i.image_id for i in backup_images(ec2, id_)}
    provider.delete(id_, outs)
    assert default_image(ec2, group.template_id) == chosen
    assert backup_images(ec2, id_) == []


def test_tags_update_in_place_on_function_and_roles(provider, aws, group):
    id_, outs = provider.create(checked(provider, tags={"team": "web", "old": "x"}))
    updated = provider.update(id_, outs, checked(provider, tags={"team": "api"}))
    fn_tags = aws("lambda").list_tags(Resource=outs["function_arn"])["Tags"]
    role_tags = {t["Key"]: t["Value"] for t in aws("iam").list_role_tags(
        RoleName=f"amibackup-{id_}-run")["Tags"]}
    for tags in (fn_tags, role_tags):
        assert tags["team"] == "api" and "old" not in tags and tags["amibackup:backup"] == id_
        job = deployed_job(aws, outs)
    assert job["tags"] == {"team": "api", "amibackup:stack": id_}  # declared outside a stack
    provider.delete(id_, updated)
