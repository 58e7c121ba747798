"""The backup runner against moto: creation, promotion, retention, skips, guards."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from moto.backends import get_backend

from amibackup.names import Names
from amibackup.runner import lock, plan
from amibackup.runner.clients import Clients
from amibackup.runner.config import ENV_VAR, job_environment
from amibackup.runner.cycle import Job, Summary, backup_images, run_cycle
from amibackup.runner.handler import handler
from devkit.localaws import ssm as local_ssm
from devkit.scenarios import (
    HOURLY,
    T0,
    DemoGroup,
    create_group,
    default_image,
    group_instances,
    hand_pick_ami,
    hourly_job,
    interrupt_instance,
    on_time,
    runs_at_once,
)


def run(clients: Clients, group: DemoGroup, n: int, retention: int = 3,
        backup: str = "b1", **kw: object) -> Summary:
    job = hourly_job(n, group.group_name, backup, retention, **kw)
    return run_cycle(job, clients, now=T0 + timedelta(hours=n, seconds=5))


def ec2_backend(image_id: str) -> object:
    return get_backend("ec2")["123456789012"]["us-east-1"].amis[image_id]


def replace_instance(clients: Clients, group: DemoGroup) -> tuple[str, dict]:
    """A Spot interruption: the victim's id and its replacement."""
    victim, replacement = interrupt_instance(clients, group.group_name)
    return victim["InstanceId"], replacement


def snapshot_exists(clients: Clients, snap: str) -> bool:
    try:
        clients("ec2").describe_snapshots(SnapshotIds=[snap])
        return True
    except ClientError as err:
        assert err.response["Error"]["Code"] == "InvalidSnapshot.NotFound"
        return False


def test_n_cycles_keep_exactly_n_images_and_snapshots_go_with_them(clients, group):
    ec2 = clients("ec2")
    made = [run(clients, group, n, retention=3).created for n in range(3)]
    early = backup_images(ec2, "b1")
    early_snaps = [s for i in early for s in i.snapshot_ids]
    assert len(early_snaps) == 3 and all(snapshot_exists(clients, s) for s in early_snaps)
    made += [run(clients, group, n, retention=3).created for n in range(3, 6)]
    images = backup_images(ec2, "b1")
    assert sorted(i.image_id for i in images) == sorted(made[-3:])
    assert not any(snapshot_exists(clients, s) for s in early_snaps)
    assert all(snapshot_exists(clients, s) for i in images for s in i.snapshot_ids)


def test_retention_one_and_summary_counts(clients, group):
    summaries = [run(clients, group, n, retention=1) for n in range(4)]
    assert [len(s.kept) for s in summaries] == [1, 1, 1, 1]
    assert [len(s.pruned) for s in summaries] == [0, 1, 1, 1]
    assert all(len(s.deleted_snapshots) == 1 for s in summaries[1:])
    assert len(backup_images(clients("ec2"), "b1")) == 1


def test_default_version_launches_newest_backup(clients, group):
    for n in range(3):
        summary = run(clients, group, n)
    assert summary.promoted == summary.created
    assert default_image(clients("ec2"), group.template_id) == summary.created
    versions = clients("ec2").describe_launch_template_versions(
        LaunchTemplateId=group.template_id, Versions=["$Default"])["LaunchTemplateVersions"]
    data = versions[0]["LaunchTemplateData"]
    assert versions[0]["VersionNumber"] == summary.template_version
    # Only the image changed: the rest of the template data was carried over.
    assert data["InstanceType"] == "t3.micro" and data["Monitoring"] == {"Enabled": True}
    assert data["TagSpecifications"][0]["Tags"] == [{"Key": "app", "Value": "web"}]


def test_replacement_after_termination_runs_newest_backup(clients, group):
    for n in range(2):
        newest = run(clients, group, n).created
    victim, replacement = replace_instance(clients, group)
    assert replacement["ImageId"] == newest
    assert victim not in {i["InstanceId"] for i in group_instances(clients, group.group_name)}


def test_images_in_use_pending_and_foreign_survive_pruning(clients, group):
    ec2 = clients("ec2")
    first = run(clients, group, 0, retention=1).created
    # A replacement instance now runs the first backup: it is in use.
    assert replace_instance(clients, group)[1]["ImageId"] == first
    # An image of another backup and the base image are not ours.
    other = run(clients, create_group(clients, "api", size=1), 0, backup="other").created
    for n in range(1, 4):
        summary = run(clients, group, n, retention=1)
    ids = {i.image_id for i in backup_images(ec2, "b1")}
    assert first in ids and first in summary.protected
    assert len(ids) == 2  # the newest, plus the one a running instance uses
    assert ec2.describe_images(ImageIds=[other, group.base_image])["Images"]

    # A pending image is never pruned, and no new image is started meanwhile.
    newest = summary.created
    ec2_backend(newest).state = "pending"
    job = hourly_job(9, group.group_name, retention=1)
    skipped = run_cycle(job, clients, now=T0 + timedelta(hours=9))
    assert skipped.created is None
    assert any("pending" in reason for reason in skipped.skipped)
    assert newest in {i.image_id for i in backup_images(ec2, "b1")}


def test_pending_image_promoted_by_a_later_run(clients, group):
    first = run(clients, group, 0)
    ec2_backend(first.created).state = "pending"
    job = hourly_job(1, group.group_name)
    # Promotion happened already for the first image; make a new one pending without time.
    second = run_cycle(job, clients, now=T0 + timedelta(hours=1))
    assert second.created is None and second.promoted is None
    ec2_backend(first.created).state = "available"
    third = run(clients, group, 2)
    assert third.created and third.promoted == third.created


@contextmanager
def images_start_as(state: str) -> Iterator[None]:
    """moto makes images `available` at once; AWS takes minutes, and may fail them."""
    from moto.ec2.models import amis

    real_create = amis.AmiBackend.create_image

    def create(self, *args, **kwargs):
        ami = real_create(self, *args, **kwargs)
        ami.state = state
        return ami

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(amis.AmiBackend, "create_image", create)
        yield


def test_image_not_available_in_time_is_promoted_next_run(clients, group):
    job = hourly_job(0, group.group_name)
    before = default_image(clients("ec2"), group.template_id)
    with images_start_as("pending"):
        first = run_cycle(job, clients, now=T0)
    assert first.created and first.promoted is None and first.available is False
    assert default_image(clients("ec2"), group.template_id) == before
    ec2_backend(first.created).state = "available"
    second = run(clients, group, 1)
    assert second.promoted == second.created  # the newest available wins


def deploy(monkeypatch: pytest.MonkeyPatch, job: Job) -> None:
    """The function's environment as provisioning sets it: the job, fixed at deploy."""
    for key, value in job_environment(job).items():
        monkeypatch.setenv(key, value)


def test_failed_image_is_reported_and_never_promoted(clients, group, monkeypatch):
    before = default_image(clients("ec2"), group.template_id)
    with images_start_as("failed"):
        summary = run(clients, group, 0)
    assert summary.failed == [summary.created] and summary.promoted is None
    assert default_image(clients("ec2"), group.template_id) == before
    with images_start_as("failed"), pytest.raises(RuntimeError, match="image creation failed"):
        deploy(monkeypatch, Job("b1", group.group_name, schedule_expression=HOURLY))
        event = {"scheduled_time": (T0 + timedelta(hours=1)).isoformat()}
        with on_time(event):
            handler(event)


def test_no_instance_is_a_clean_skip(clients):
    group = create_group(clients, "empty", size=0)
    summary = run(clients, group, 0)
    assert summary.created is None and summary.promoted is None
    assert summary.skipped == ["no InService and Healthy instance in the group"]
    assert not backup_images(clients("ec2"), "b1")


def test_missing_group_is_a_clean_failure(clients):
    """Issue 10 item 7: a deleted group fails the run (alarms fire), with a clear reason."""
    summary = run_cycle(Job("b1", "nope"), clients)
    assert summary.skipped == [] and len(summary.failed) == 1
    assert summary.failed[0].startswith("group nope not found")


def test_standby_instances_are_not_a_source(clients, group):
    members = group_instances(clients, group.group_name)
    clients("autoscaling").enter_standby(
        AutoScalingGroupName=group.group_name, ShouldDecrementDesiredCapacity=True,
        InstanceIds=[members[0]["InstanceId"]])
    summary = run(clients, group, 0)
    assert summary.source_instance not in (None, members[0]["InstanceId"])


def test_retried_run_makes_no_second_image(clients, group):
    first = run(clients, group, 0)
    again = run(clients, group, 0)
    assert again.created is None and any("already made" in r for r in again.skipped)
    assert [i.image_id for i in backup_images(clients("ec2"), "b1")] == [first.created]


def test_two_runs_at_once_make_one_image(clients, group):
    results = runs_at_once(lambda: run(clients, group, 0), lambda: run(clients, group, 1))
    assert len([r for r in results if r.created]) == 1
    # The scheduled run that met the lock fails (the error metric and alarm fire).
    assert any("another run holds the lock" in s for r in results for s in r.failed)
    assert len(backup_images(clients("ec2"), "b1")) == 1


def test_stale_lock_of_a_crashed_run_is_taken_over(clients, group):
    ssm = clients("ssm")
    lock.acquire(ssm, Names("b1").lock_parameter, "crashed run")
    local_ssm.backdate(Names("b1").lock_parameter, lock.LEASE_SECONDS + 1)  # by AWS's stamp
    assert run(clients, group, 0).created
    lock.acquire(ssm, Names("b1").lock_parameter, "live run")
    blocked = run(clients, group, 1)
    assert blocked.created is None and "'live run'" in blocked.failed[0]


def test_manual_ami_change_is_not_overwritten(clients, group):
    ec2 = clients("ec2")
    run(clients, group, 0)
    # An operator makes a new AMI the default by hand.
    manual, _ = hand_pick_ami(clients, group.group_name, group.template_id)
    waiting = run(clients, group, 1)
    assert waiting.created is None and waiting.promoted is None
    assert any("manual change" in r for r in waiting.skipped)
    assert default_image(ec2, group.template_id) == manual
    # Once an instance runs the hand-picked AMI, backups resume from it.
    assert replace_instance(clients, group)[1]["ImageId"] == manual
    resumed = run(clients, group, 2)
    assert resumed.created and resumed.promoted == resumed.created
    tags = {t["Key"]: t["Value"] for t in ec2.describe_images(
        ImageIds=[resumed.created])["Images"][0]["Tags"]}
    assert tags[plan.TAG_SOURCE_IMAGE] == manual


def test_image_tags_let_users_find_backups(clients, group):
    summary = run(clients, group, 0, tags={"team": "web"})
    tags = {t["Key"]: t["Value"] for t in clients("ec2").describe_images(
        ImageIds=[summary.created])["Images"][0]["Tags"]}
    assert tags[plan.TAG_BACKUP] == "b1" and tags[plan.TAG_GROUP] == group.group_name
    assert tags[plan.TAG_SOURCE_INSTANCE] == summary.source_instance
    assert tags[plan.TAG_CREATED_AT].startswith("2026-11-01T00:00:05")
    assert tags["team"] == "web"


def test_handler_runs_the_schedule_input(clients, group, monkeypatch):
    deploy(monkeypatch, Job.from_config({"backup_id": "h1", "group_name": group.group_name,
                                         "retention": 2.0, "schedule_expression": HOURLY}))
    event = {"scheduled_time": "2026-11-01T10:00:00Z"}
    with on_time(event):
        out = handler(event)
    assert out["created"] and out["run"] == "20261101T1000Z"
    monkeypatch.delenv(ENV_VAR)
    with pytest.raises(ValueError, match=ENV_VAR):
        handler({"scheduled_time": "2026-11-01T11:00:00Z"})


class _Context:
    aws_request_id = "0f1e2d3c-req"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def test_handler_logs_one_json_line_with_the_request_id(clients, group, capsys, monkeypatch):
    # Lambda's runtime puts a handler on the root logger: the summary must not reach it too.
    runtime: list[logging.LogRecord] = []
    root_handler = logging.Handler()
    root_handler.emit = runtime.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(root_handler)
    try:
        deploy(monkeypatch, Job("log1", group.group_name, schedule_expression=HOURLY))
        event = {"scheduled_time": "2026-11-01T10:00:00Z"}
        with on_time(event):
            handler(event, _Context())
    finally:
        logging.getLogger().removeHandler(root_handler)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert len(lines) == 1, lines
    logged = json.loads(lines[0])
    assert logged["request_id"] == "0f1e2d3c-req" and logged["backup"] == "log1"
    assert logged["created"]
    assert not [r for r in runtime if r.name.startswith("amibackup")]


def test_promotion_keeps_imdsv2_user_data_and_tags(clients, group):
    """Issue 9 item 1: promotion sends SourceVersion and the new ImageId only.

    The strict local AWS answers describes with AWS's response-only fields
    (`MetadataOptions.State`), which botocore refuses in a request: a promotion that sent the
    described data back would fail on every IMDSv2 template, as it did in AWS.
    """
    ec2 = clients("ec2")
    before = ec2.describe_launch_template_versions(
        LaunchTemplateId=group.template_id, Versions=["$Default"])["LaunchTemplateVersions"][0]
    assert before["LaunchTemplateData"]["MetadataOptions"]["State"] == "applied"
    made = [run(clients, group, n).promoted for n in range(2)]
    after = ec2.describe_launch_template_versions(
        LaunchTemplateId=group.template_id, Versions=["$Default"])["LaunchTemplateVersions"][0]
    data = after["LaunchTemplateData"]
    assert data["ImageId"] == made[-1]
    for key in ("MetadataOptions", "UserData", "TagSpecifications", "InstanceType"):
        assert data[key] == before["LaunchTemplateData"][key], key
    assert data["MetadataOptions"]["HttpTokens"] == "required"
