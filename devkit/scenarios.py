"""What tests, the demo and the benchmarks do to the (emulated) AWS, written once.

Seed a demo group, play the schedule as EventBridge Scheduler would, hand-pick an AMI as
an operator would, interrupt or roll the group's instances, run two runs at once, count
what a backup left behind, and keep boto3 on fake credentials. Works against moto
in-process (`mock_aws`) or a moto server (`AWS_ENDPOINT_URL`).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from unittest import mock

from amibackup.access import backup_images
from amibackup.names import SCHEDULE_PREFIX, TAG_BACKUP, Names
from amibackup.provision.scheduler import GROUP, SCHEDULED_TIME
from amibackup.runner import lock
from amibackup.runner.config import ENV_VAR, Job, job_environment
from amibackup.schedule import next_runs
from devkit.localaws import lambda_runtime
from devkit.localaws.server import FAKE_CREDENTIALS

EMULATOR_AMI = "ami-12c6146b"  # one of the images moto ships in every region
T0 = datetime(2026, 11, 1, tzinfo=UTC)  # the first scheduled run of the tests' hourly jobs
HOURLY = "cron(0 * * * ? *)"  # the tests' jobs' schedule (the `hourly` preset)
NAME_PREFIX = SCHEDULE_PREFIX  # every AWS name of a backup's parts starts with it (see Names)
Result = TypeVar("Result")


# --- fake credentials -----------------------------------------------------------------

def fake_credentials(endpoint: str | None = None) -> dict[str, str | None]:
    """The environment that keeps boto3 off any real account (None: unset the variable).

    Fake keys, no profile or session token that could win over them, and the local AWS's
    endpoint (or none, for moto in-process).
    """
    return {**FAKE_CREDENTIALS, "AWS_PROFILE": None, "AWS_DEFAULT_PROFILE": None,
            "AWS_SESSION_TOKEN": None, "AWS_ENDPOINT_URL": endpoint}


def use_fake_credentials(endpoint: str | None = None,
                         environ: MutableMapping[str, str] = os.environ) -> None:
    """Apply `fake_credentials(endpoint)` to `environ` (this process's environment)."""
    for key, value in fake_credentials(endpoint).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value


# --- the demo group -------------------------------------------------------------------

@dataclass(frozen=True)
class DemoGroup:
    group_name: str
    template_id: str
    template_name: str
    base_image: str


def base_image(ec2: Any, name: str) -> str:
    """An AMI of our own (with a snapshot), not made by amibackup: the group's starting AMI."""
    found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])
    if found["Images"]:
        return str(found["Images"][0]["ImageId"])
    boot = ec2.run_instances(ImageId=EMULATOR_AMI, MinCount=1, MaxCount=1,
                             InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=boot, Name=name, NoReboot=True)["ImageId"]
    ec2.terminate_instances(InstanceIds=[boot])
    return str(image)


USER_DATA = base64.b64encode(b"#!/bin/sh\necho amibackup demo > /etc/motd\n").decode()


def template_data(image: str, name: str) -> dict[str, Any]:
    """A production-like template: IMDSv2 required, user data, instance tags."""
    return {"ImageId": image, "InstanceType": "t3.micro", "Monitoring": {"Enabled": True},
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled",
                                "HttpPutResponseHopLimit": 2},
            "UserData": USER_DATA,
            "TagSpecifications": [{"ResourceType": "instance", "Tags": [
                {"Key": "app", "Value": name}]}]}


def create_group(clients: Any, name: str = "demo-web", size: int = 2) -> DemoGroup:
    """Create (or reuse) a group launching `size` instances from a launch template."""
    ec2, asg = clients("ec2"), clients("autoscaling")
    image = base_image(ec2, f"{name}-base")
    template_name = f"{name}-lt"
    found = ec2.describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": [template_name]}])["LaunchTemplates"]
    if found:
        template_id = found[0]["LaunchTemplateId"]
    else:
        template_id = ec2.create_launch_template(
            LaunchTemplateName=template_name,
            LaunchTemplateData=template_data(image, name),
        )["LaunchTemplate"]["LaunchTemplateId"]
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Default"},
            MinSize=0, MaxSize=max(size, 1) * 2, DesiredCapacity=size,
            AvailabilityZones=[zone])
    return DemoGroup(name, template_id, template_name, image)


def default_image(ec2: Any, template_id: str) -> str:
    """The AMI the template's default version launches."""
    versions = ec2.describe_launch_template_versions(
        LaunchTemplateId=template_id, Versions=["$Default"])["LaunchTemplateVersions"]
    return str(versions[0]["LaunchTemplateData"]["ImageId"])


def group_instances(clients: Any, group: str) -> list[dict[str, Any]]:
    """The group's instances as EC2 describes them (image id, launch time, state)."""
    members = clients("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]
    if not members:
        return []
    reservations = clients("ec2").describe_instances(
        InstanceIds=[m["InstanceId"] for m in members])["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


# --- the schedule, played -------------------------------------------------------------

def hourly_job(n: int, group_name: str = "web", backup_id: str = "b1", retention: int = 3,
               start: datetime = T0, **options: Any) -> Job:
    """The runner's job (as deployed, on an hourly schedule) for the n-th hourly run from
    `start`."""
    options.setdefault("schedule_expression", HOURLY)
    return Job(backup_id, group_name, retention=retention,
               scheduled_time=(start + timedelta(hours=n)).isoformat(), **options)


@contextmanager
def deployed(job: Job) -> Iterator[None]:
    """This process's environment as the deployed function's: the job in AMIBACKUP_CONFIG
    (for tests that call the handler directly; `fire_schedule` reads the real one)."""
    saved = os.environ.get(ENV_VAR)
    os.environ.update(job_environment(job))
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = saved


def on_time(event: dict[str, Any]) -> Any:
    """For a handler called directly with a scheduled event: the runner's clock at the event's
    scheduled time, as when Scheduler delivers it (see lambda_runtime.wall_clock)."""
    return lambda_runtime.wall_clock(datetime.fromisoformat(
        str(event["scheduled_time"])))


def signing_key(clients: Any, *backup_ids: str, signer: str | None = None) -> None:
    """The KMS HMAC key each backup's record is signed with, as deploying it makes one
    (for tests that run a cycle of a backup they did not deploy). With `signer` (a role
    ARN), the deployed key policy: only that role signs; else the account's IAM decides."""
    from amibackup.names import Names
    from amibackup.provision import record_key
    from amibackup.provision.policy import Scope

    kms = clients("kms")
    for backup_id in backup_ids:
        policy = {} if signer is None else {"Policy": json.dumps(record_key.key_policy(
            Scope("aws", "", signer.split(":")[4], backup_id, "", ""), signer))}
        made = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC",
                              Description=f"test key of {backup_id}", **policy)
        kms.create_alias(AliasName=Names(backup_id).record_key,
                         TargetKeyId=made["KeyMetadata"]["KeyId"])


def schedule_of(clients: Any, backup_id: str) -> dict[str, Any]:
    """The backup's schedule as EventBridge Scheduler describes it."""
    return dict(clients("scheduler").get_schedule(Name=Names(backup_id).schedule,
                                                  GroupName=GROUP))


def scheduled_event(clients: Any, backup_id: str, at: datetime) -> dict[str, Any]:
    """What Scheduler delivers for the backup's run at `at`: its target's Input, with the
    scheduled time filled in."""
    schedule = schedule_of(clients, backup_id)
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # Scheduler's own format
    return dict(json.loads(schedule["Target"]["Input"].replace(SCHEDULED_TIME, stamp)))


def scheduled_times(clients: Any, backup_id: str, ticks: int,
                    start: datetime = T0) -> list[datetime]:
    """The schedule's next `ticks` run times after `start`, in its own expression and zone."""
    schedule = schedule_of(clients, backup_id)
    return next_runs(schedule["ScheduleExpression"], ticks,
                     schedule.get("ScheduleExpressionTimezone", "UTC"), start=start)


def fire_schedule(clients: Any, backup_id: str, at: datetime) -> dict[str, Any]:
    """What the schedule's target does at `at`: the deployed function invoked at that time, as
    Lambda would (its configuration, environment and a context), with the target's Input."""
    target = schedule_of(clients, backup_id)["Target"]
    return dict(lambda_runtime.invoke(clients("lambda"), target["Arn"],
                                      scheduled_event(clients, backup_id, at), at=at))


def play_schedule(clients: Any, backup_id: str, ticks: int, start: datetime = T0
                  ) -> Iterator[tuple[datetime, dict[str, Any]]]:
    """Fire the backup schedule's target for each of its next `ticks` times after `start`,
    as Scheduler would, one after the other without waiting for the time; yield each time
    and the run's summary as it goes.

    The handler makes its own clients from the environment, as in Lambda (point
    AWS_ENDPOINT_URL at the local AWS); the run is named after the scheduled time.
    """
    for at in scheduled_times(clients, backup_id, ticks, start):
        yield at, fire_schedule(clients, backup_id, at)


def images_made(clients: Any, backup_id: str, ticks: int, start: datetime = T0
                ) -> list[str | None]:
    """Play the schedule; the image each run created (None where it created none)."""
    return [summary["created"] for _, summary in
            play_schedule(clients, backup_id, ticks, start)]


# --- what operators and AWS do to the group -------------------------------------------

def hand_pick_ami(clients: Any, group_name: str, template_id: str,
                  name: str = "hand-picked-ami") -> tuple[str, int]:
    """An operator makes a new AMI (of one of the group's instances) the template's default
    by hand, without pausing the backup; return the image and the new version number.

    As an operator would with the AWS CLI: SourceVersion plus only the new image.
    """
    ec2 = clients("ec2")
    source = group_instances(clients, group_name)[0]["InstanceId"]
    image = ec2.create_image(InstanceId=source, Name=name, NoReboot=True)["ImageId"]
    version = ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion="$Default",
        LaunchTemplateData={"ImageId": image},
    )["LaunchTemplateVersion"]["VersionNumber"]
    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version))
    return str(image), int(version)


def interrupt_instance(clients: Any, group_name: str
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Terminate one instance as a Spot interruption would; return it and its replacement.

    moto stamps launch times to the second: wait one so the replacement is the newest.
    """
    time.sleep(1.1)
    before = group_instances(clients, group_name)
    victim = before[0]
    clients("autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=victim["InstanceId"], ShouldDecrementDesiredCapacity=False)
    old = {i["InstanceId"] for i in before}
    (replacement,) = [i for i in group_instances(clients, group_name)
                      if i["InstanceId"] not in old]
    return victim, replacement


def roll_group(clients: Any, group_name: str) -> list[dict[str, Any]]:
    """Replace every instance, as an instance refresh would (moto lacks that call)."""
    time.sleep(1.1)  # the new instances are newer than any before, to the second
    for instance in group_instances(clients, group_name):
        clients("autoscaling").terminate_instance_in_auto_scaling_group(
            InstanceId=instance["InstanceId"], ShouldDecrementDesiredCapacity=False)
    return group_instances(clients, group_name)


# --- races ----------------------------------------------------------------------------

def runs_at_once(*runs: Callable[[], Result], timeout: float = 30) -> list[Result]:
    """Start the runs in threads that reach the run lock together; their results in order.

    Whichever takes the lock holds it until every other run has tried to take it, so the
    race is decided by the lock alone, never by one run finishing first.
    """
    barrier = threading.Barrier(len(runs))
    real_acquire = lock.acquire

    def acquire_together(*args: Any, **kwargs: Any) -> Any:
        try:
            return real_acquire(*args, **kwargs)
        finally:
            barrier.wait(timeout=timeout)

    results: dict[int, Result] = {}
    errors: list[BaseException] = []

    def start(index: int, run: Callable[[], Result]) -> None:
        try:
            results[index] = run()
        except BaseException as err:  # noqa: BLE001 - raised again in the caller's thread
            errors.append(err)

    with mock.patch.object(lock, "acquire", acquire_together):
        threads = [threading.Thread(target=start, args=(i, run)) for i, run in enumerate(runs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
    if errors:
        raise errors[0]
    if len(results) != len(runs):
        raise TimeoutError(f"{len(runs) - len(results)} run(s) still running after {timeout}s")
    return [results[i] for i in range(len(runs))]


# --- what is left ---------------------------------------------------------------------

@dataclass(frozen=True)
class Leftovers:
    """What of a backup is still in the account, by kind; all empty once it is torn down."""

    images: tuple[str, ...] = ()
    snapshots: tuple[str, ...] = ()
    schedules: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


def backup_snapshots(clients: Any, backup_id: str) -> set[str]:
    """The snapshots of the backup's images as they are now (record them before a delete)."""
    return {s for i in backup_images(clients("ec2"), backup_id) for s in i.snapshot_ids}


def leftovers(clients: Any, backup_id: str | None = None,
              snapshots: Iterable[str] = ()) -> Leftovers:
    """Count what a backup (None: any amibackup backup) left: its images, its schedule,
    function and roles, and its snapshots (tagged with it, or among `snapshots`, which
    `backup_snapshots` recorded while the images still named them).
    """
    ec2 = clients("ec2")
    ours = _named_for(backup_id)
    if backup_id is None:
        images = ec2.describe_images(Owners=["self"], Filters=[
            {"Name": "tag-key", "Values": [TAG_BACKUP]}])["Images"]
        tag_filter = {"Name": "tag-key", "Values": [TAG_BACKUP]}
    else:
        images = [{"ImageId": i.image_id} for i in backup_images(ec2, backup_id)]
        tag_filter = {"Name": f"tag:{TAG_BACKUP}", "Values": [backup_id]}
    wanted = set(snapshots)
    live = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    tagged = {s["SnapshotId"] for s in ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[tag_filter])["Snapshots"]}
    schedules = [s["Name"] for page in clients("scheduler").get_paginator(
        "list_schedules").paginate() for s in page["Schedules"]]
    functions = [f["FunctionName"] for page in clients("lambda").get_paginator(
        "list_functions").paginate() for f in page["Functions"]]
    roles = [r["RoleName"] for page in clients("iam").get_paginator("list_roles").paginate()
             for r in page["Roles"]]
    return Leftovers(
        images=tuple(sorted(i["ImageId"] for i in images)),
        snapshots=tuple(sorted(s["SnapshotId"] for s in live
                               if s["SnapshotId"] in wanted | tagged)),
        schedules=tuple(sorted(filter(ours, schedules))),
        functions=tuple(sorted(filter(ours, functions))),
        roles=tuple(sorted(filter(ours, roles))))


def _named_for(backup_id: str | None) -> Callable[[str], bool]:
    """Whether an AWS name is one the product gives a part of this backup (or of any)."""
    if backup_id is None:
        return lambda name: name.startswith(NAME_PREFIX)
    names = Names(backup_id)
    parts = {names.function, names.schedule, names.runner_role, names.scheduler_role}
    return parts.__contains__


def stop_process(proc: subprocess.Popen[Any], grace: float = 10) -> None:
    """Stop a child process we started (a provider, a moto server): ask, then insist."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
