"""Faults: throttling and 5xx injected into AWS calls, kills and races.

Every fault is served before the call reaches moto (see tests/support/faults.py); the product's
adaptive retries must absorb transient ones, and a persistent one must leave nothing
orphaned and no image the group needs deleted, with a re-run finishing the job.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from amibackup.names import Names
from amibackup.provision import backup
from amibackup.provision.errors import ProvisionError
from amibackup.runner import cycle, lock
from amibackup.runner.clients import Clients
from amibackup.runner.cycle import Job, backup_images, run_cycle
from amibackup.runner.handler import handler
from amibackup.schema import BackupSpec
from amibackup.spec import normalise
from devkit.localaws import ssm as local_ssm
from devkit.scenarios import (
    HOURLY,
    DemoGroup,
    Leftovers,
    create_group,
    default_image,
    deployed,
    hourly_job,
    leftovers,
    on_time,
    runs_at_once,
    signing_key,
)
from tests.support.faults import Faults, faulty_clients

T0 = datetime(2026, 11, 3, tzinfo=UTC)
RETRIES = 4  # botocore's max_attempts counts retries: 5 attempts in all
FOR_GOOD = ["5xx"] * (RETRIES + 1)


@pytest.fixture
def aws() -> Iterator[tuple[Clients, Faults]]:
    with mock_aws():
        signing_key(Clients("us-east-1"), "b1")  # as deploying it would
        yield faulty_clients(max_attempts=RETRIES)


@pytest.fixture
def group(aws: tuple[Clients, Faults]) -> DemoGroup:
    return create_group(Clients("us-east-1"), "web", size=2)


def job(n: int, retention: int = 3) -> Job:
    return hourly_job(n, retention=retention, start=T0)


def image_ok(clients: Clients, image_id: str) -> bool:
    found = clients("ec2").describe_images(ImageIds=[image_id])["Images"]
    return bool(found) and found[0]["State"] == "available"


def test_cycles_absorb_throttling_and_5xx(aws, group):
    clients, faults = aws
    faults.add("ec2.DescribeImages", "throttle", "5xx")
    faults.add("ec2.CreateImage", "5xx")
    faults.add("ec2.CreateLaunchTemplateVersion", "throttle")
    faults.add("ec2.ModifyLaunchTemplate", "5xx")
    faults.add("auto-scaling.DescribeAutoScalingGroups", "throttle")
    faults.add("ssm.PutParameter", "throttle")
    made = [run_cycle(job(n), clients).created for n in range(3)]
    faults.add("ec2.DeregisterImage", "5xx", "throttle")  # it deletes the snapshots too
    faults.add("ec2.DescribeImageReferences", "throttle")
    last = run_cycle(job(3), clients)
    assert faults.left() == {}  # every planned fault was served and retried through
    assert sum(faults.served.values()) == 10
    assert sorted(i.image_id for i in backup_images(clients("ec2"), "b1")) == sorted(
        made[1:] + [last.created])
    assert last.pruned == [made[0]] and len(last.deleted_snapshots) == 1
    assert default_image(clients("ec2"), group.template_id) == last.created


def test_lost_answers_are_retried_without_duplicates(aws, group):
    """AWS applied the call but the answer was lost: the retry must not double it."""
    clients, faults = aws
    faults.add("ssm.PutParameter", "lost")  # the lock was taken; the retry finds it ours
    # CreateImage applied, answer lost; AWS refuses the retry's name as a duplicate.
    faults.add("ec2.CreateImage", "lost", "InvalidAMIName.Duplicate")
    summary = run_cycle(job(0), clients)
    assert faults.left() == {}
    (image,) = backup_images(clients("ec2"), "b1")
    assert summary.created == image.image_id == summary.promoted
    params = [p["Name"] for p in clients("ssm").describe_parameters()["Parameters"]]
    assert params == [Names("b1").record_parameter]  # lock released; the record stays


def test_persistent_failure_mid_cycle_then_the_retry_finishes(aws, group):
    clients, faults = aws
    before = default_image(clients("ec2"), group.template_id)
    faults.add("ec2.CreateLaunchTemplateVersion", *FOR_GOOD)
    with pytest.raises(ClientError):
        run_cycle(job(0), clients)
    (image,) = backup_images(clients("ec2"), "b1")
    assert default_image(clients("ec2"), group.template_id) == before  # nothing half-switched
    assert image_ok(clients, before)
    # Scheduler's retry delivers the same scheduled run: no second image, it promotes.
    retry = run_cycle(job(0), clients)
    assert retry.created is None and retry.promoted == image.image_id
    assert default_image(clients("ec2"), group.template_id) == image.image_id


def test_run_killed_after_create_image_next_run_promotes_and_prunes(aws, group, monkeypatch):
    clients, _ = aws
    made = [run_cycle(job(n), clients).created for n in range(3)]

    class Killed(BaseException):
        """The Lambda sandbox dying (timeout, OOM): no cleanup code runs."""

    real_write = cycle.record.write
    writes: list[object] = []

    def killed(*args: Any, **kwargs: Any) -> Any:
        writes.append(args)
        if len(writes) == 2:  # the run's start is recorded; it dies before recording the image
            raise Killed
        return real_write(*args, **kwargs)

    monkeypatch.setattr(cycle.record, "write", killed)
    monkeypatch.setattr(lock, "release", lambda *_: None)  # a dead process releases nothing
    with pytest.raises(Killed):
        run_cycle(job(3), clients)
    monkeypatch.undo()
    orphan = [i.image_id for i in backup_images(clients("ec2"), "b1") if i.image_id not in made]
    assert len(orphan) == 1 and default_image(clients("ec2"), group.template_id) == made[-1]

    # Until the dead run's lease expires, a retry does nothing (and harms nothing), and fails
    # so that the error metric and the alarm fire.
    blocked = run_cycle(job(3), clients)
    assert blocked.created is None and "another run holds the lock" in blocked.failed[0]
    _expire_lease(clients)
    retry = run_cycle(job(3), clients)
    # The retry finds the dead run's image by its name: the record shows this run started
    # before it was made, so it is adopted (and promoted), not made twice.
    assert retry.adopted == [orphan[0]] == [retry.promoted] and retry.created is None
    assert retry.pruned == [made[0]]
    assert sorted(i.image_id for i in backup_images(clients("ec2"), "b1")) == sorted(
        made[1:] + orphan)


def _expire_lease(clients: Clients) -> None:
    """Time passing beyond the lease (LEASE_SECONDS = the Lambda's maximum run time), as AWS
    stamps it on the lock (LastModifiedDate)."""
    local_ssm.backdate(Names("b1").lock_parameter, lock.LEASE_SECONDS + 1)


def test_two_handler_invocations_at_once_make_one_image(aws, group):
    event = {"scheduled_time": T0.isoformat()}

    def invocation() -> dict[str, Any] | str:
        try:
            return dict(handler(dict(event)))
        except RuntimeError as failed:  # the invocation that met the lock fails loudly
            return str(failed)

    with deployed(Job("b1", "web", schedule_expression=HOURLY)), on_time(event):
        results = runs_at_once(invocation, invocation)
    made = [r for r in results if isinstance(r, dict) and r["created"]]
    assert len(made) == 1
    assert [r for r in results if isinstance(r, str) and "holds the lock" in r], results
    assert len(backup_images(Clients("us-east-1")("ec2"), "b1")) == 1


def props(**overrides: Any) -> BackupSpec:
    return BackupSpec.from_props(
        normalise({"backup_name": "web-backup", "group_name": "web", **overrides}))


def test_create_absorbs_throttling_and_5xx(aws, group):
    clients, faults = aws
    faults.add("iam.CreateRole", "throttle", "5xx")
    faults.add("iam.PutRolePolicy", "throttle")
    faults.add("lambda.CreateFunction", "5xx")
    faults.add("lambda.PutFunctionConcurrency", "throttle")
    faults.add("scheduler.CreateSchedule", "throttle", "5xx")
    outs = backup.create(clients, props())
    assert faults.left() == {}
    assert leftovers(clients) == Leftovers(
        roles=(f"amibackup-{outs['backup_id']}-run", f"amibackup-{outs['backup_id']}-sch"),
        functions=(outs["function_name"],), schedules=(outs["schedule_name"],))


def test_create_that_fails_for_good_leaves_nothing(aws, group):
    clients, faults = aws
    faults.add("scheduler.CreateSchedule", *FOR_GOOD)
    with pytest.raises(ClientError):
        backup.create(clients, props())
    assert leftovers(clients) == Leftovers()


def test_delete_absorbs_faults_and_a_failed_delete_is_finished_by_the_next(aws, group):
    clients, faults = aws
    spec = props(retention=5)
    outs = backup.create(clients, spec)
    for n in range(4):
        job = backup.runner_job(spec, outs["backup_id"], "us-east-1")
        run_cycle(job.at((T0 + timedelta(hours=n)).isoformat()), clients)
    backup_id = outs["backup_id"]
    assert len(backup_images(clients("ec2"), backup_id)) == 4
    faults.add("ec2.DeregisterImage", "throttle", "5xx")
    faults.add("ec2.DeleteSnapshot", "throttle")
    faults.add("lambda.DeleteFunction", *FOR_GOOD)  # this one fails for good
    with pytest.raises(ProvisionError, match="run the delete again"):
        backup.delete(clients, backup_id, spec, outs["recorded_version"])
    # Half-way: the images went, the group already launches an image that exists.
    assert backup_images(clients("ec2"), backup_id) == []
    assert default_image(clients("ec2"), group.template_id) == group.base_image
    assert image_ok(clients, group.base_image)
    assert leftovers(clients, backup_id).functions == (outs["function_name"],)
    backup.delete(clients, backup_id, spec, outs["recorded_version"])  # the re-run finishes it
    assert leftovers(clients) == Leftovers()
    assert not clients("ssm").describe_parameters()["Parameters"]  # the lock is gone too
