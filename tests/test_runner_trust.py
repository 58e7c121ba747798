"""Issue 15 items 1-6 and 9: what a colleague with one everyday right can make amibackup do.

Each test deploys a backup, runs the deployed runner through its deployed surfaces (the
schedule's target, the AMI event rule, the function's environment) under its own deployed
role policy and the record key's policy, enforced by the local AWS's IAM evaluator, and
makes the colleague's move as a separate principal holding only the right named. README's
*Threat model* lists the same cases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from amibackup.names import TAG_BACKUP, TAG_RUN, Names
from amibackup.provision import backup, iam
from amibackup.provision.errors import ProvisionError
from amibackup.runner import lock, record
from amibackup.runner.clients import Clients
from amibackup.runner.handler import RefusedEvent
from amibackup.runner.seal import of_backup
from amibackup.schedule.runs import fires_at, next_runs
from amibackup.schema import BackupSpec
from amibackup.spec import normalise
from devkit.localaws import ec2 as local_ec2
from devkit.localaws import ssm as local_ssm
from devkit.localaws.iam_enforce import enforce
from devkit.localaws.lambda_runtime import answer_invoke_calls, deliver_ami_events, invoke
from devkit.localaws.layers import install_layers
from devkit.scenarios import (
    T0,
    DemoGroup,
    create_group,
    default_image,
    fire_schedule,
    scheduled_event,
)

REGION, ACCOUNT = "us-east-1", "123456789012"
COLLEAGUE = f"arn:aws:iam::{ACCOUNT}:user/colleague"
HOUR = timedelta(hours=1)


@pytest.fixture
def aws() -> Iterator[Clients]:
    """The operator's clients (made outside `enforce`: never restricted)."""
    install_layers()
    with mock_aws():
        yield Clients(REGION)


@pytest.fixture
def web(aws: Clients) -> DemoGroup:
    return create_group(aws, "web", size=2)


def deploy(aws: Clients, **inputs: Any) -> tuple[BackupSpec, dict[str, Any]]:
    spec = BackupSpec.from_props(normalise({"backup_name": "web-backup", "group_name": "web",
                                            "retention": 2, **inputs}))
    return spec, backup.create(aws, spec)


def runner_policy(aws: Clients, backup_id: str) -> dict[str, Any]:
    """The runner role's inline policy as deployed."""
    role = Names(backup_id).runner_role
    doc = aws("iam").get_role_policy(RoleName=role, PolicyName=iam.POLICY_NAME)
    found = doc["PolicyDocument"]
    return dict(json.loads(found) if isinstance(found, str) else found)


@contextmanager
def as_runner(aws: Clients, backup_id: str) -> Iterator[None]:
    """Calls made in the block are the deployed runner's: its role's session, its policy."""
    names = Names(backup_id)
    principal = f"arn:aws:sts::{ACCOUNT}:assumed-role/{names.runner_role}/{names.function}"
    with enforce(runner_policy(aws, backup_id), principal=principal):
        yield


@contextmanager
def as_colleague(*statements: dict[str, Any]) -> Iterator[Clients]:
    """A colleague holding only `statements`, with their own clients."""
    policy = {"Version": "2012-10-17", "Statement": list(statements)}
    with enforce(policy, principal=COLLEAGUE):
        yield Clients(REGION)


def allow(action: str | list[str], resource: str = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def fire(aws: Clients, backup_id: str, n: int) -> dict[str, Any]:
    """The schedule's target at its n-th hourly firing time, as the runner."""
    with as_runner(aws, backup_id):
        return fire_schedule(aws, backup_id, T0 + n * HOUR)


def exists(aws: Clients, image_id: str) -> bool:
    return bool(aws("ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"])


def invoke_as_colleague(aws: Clients, backup_id: str, event: dict[str, Any], at: Any
                        ) -> dict[str, Any]:
    """The colleague's `lambda:InvokeFunction` (nothing else) at wall clock `at`; Lambda runs
    the function as the runner. Its answer: FunctionError and Payload."""
    function = Names(backup_id).function
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"
    with as_colleague(allow("lambda:InvokeFunction", arn)) as mine:
        lam = mine("lambda")  # signed and authorized as the colleague
    answer_invoke_calls(lam, aws("lambda"), at=at)
    with as_runner(aws, backup_id):  # what the function does, it does as the runner
        out = lam.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    return {"error": out.get("FunctionError"), "payload": json.loads(out["Payload"].read())}


# --- 1 and 9: a forged record, and another group's golden AMI tagged as a backup ----------

def test_1_9_a_forged_record_and_a_copied_tag_deregister_nothing(aws, web):
    spec, outs = deploy(aws, retention=1)
    backup_id = outs["backup_id"]
    first = fire(aws, backup_id, 0)["created"]
    other = create_group(aws, "other", size=1)
    golden = other.base_image
    snaps = [m["Ebs"]["SnapshotId"] for m in aws("ec2").describe_images(
        ImageIds=[golden])["Images"][0]["BlockDeviceMappings"] if "Ebs" in m]
    name = Names(backup_id).record_parameter
    forged = {"runs": {}, "images": {first: "20261101T0000Z", golden: "20261031T0000Z"}}
    with as_colleague(allow(["ssm:PutParameter", "ec2:CreateTags", "kms:*"])) as mine:
        mine("ssm").put_parameter(Name=name, Value=json.dumps(forged), Type="String",
                                  Overwrite=True)
        mine("ec2").create_tags(Resources=[golden, *snaps],
                                Tags=[{"Key": TAG_BACKUP, "Value": backup_id}])
        # Even kms:* in their own policy: the key policy lets only the runner sign.
        with pytest.raises(ClientError) as denied:
            mine("kms").generate_mac(KeyId=Names(backup_id).record_key, Message=b"x",
                                     MacAlgorithm="HMAC_SHA_256")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(record.RecordForged, match="carries no MAC"):
        fire(aws, backup_id, 1)  # the run fails (the alarm fires) and touches nothing
    assert exists(aws, golden) and aws("ec2").describe_snapshots(SnapshotIds=snaps)["Snapshots"]
    assert default_image(aws("ec2"), web.template_id) == first
    assert default_image(aws("ec2"), other.template_id) == golden
    with pytest.raises(ProvisionError, match="No image was deregistered"):
        backup.delete(aws, backup_id, spec, outs["recorded_version"])
    assert exists(aws, golden)


def test_1_an_old_signed_record_put_back_is_refused(aws, web):
    """A value the runner signed, replayed later (its SSM version no longer matches)."""
    _, outs = deploy(aws)
    backup_id = outs["backup_id"]
    name = Names(backup_id).record_parameter
    fire(aws, backup_id, 0)
    old = aws("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    fire(aws, backup_id, 1)
    with as_colleague(allow("ssm:PutParameter")) as mine:
        mine("ssm").put_parameter(Name=name, Value=old, Type="String", Overwrite=True)
    with pytest.raises(record.RecordForged, match="put an old or copied value back"):
        fire(aws, backup_id, 2)


# --- 2: a rewritten run tag does not reorder backups --------------------------------------

def test_2_a_run_tag_rewritten_on_the_oldest_backup_changes_no_order(aws, web):
    _, outs = deploy(aws, retention=2)
    backup_id = outs["backup_id"]
    oldest, middle = (fire(aws, backup_id, n)["created"] for n in range(2))
    with as_colleague(allow("ec2:CreateTags")) as mine:
        mine("ec2").create_tags(Resources=[oldest],
                                Tags=[{"Key": TAG_RUN, "Value": "20991231T2359Z"}])
    newest = fire(aws, backup_id, 2)
    assert newest["promoted"] == newest["created"]
    assert newest["pruned"] == [oldest] and not exists(aws, oldest)
    assert exists(aws, middle)
    assert default_image(aws("ec2"), web.template_id) == newest["created"]


# --- 3 and 4: runs at made-up times --------------------------------------------------------

def test_3_invocations_at_made_up_times_make_nothing(aws, web):
    _, outs = deploy(aws, retention=2)
    backup_id = outs["backup_id"]
    kept = [fire(aws, backup_id, n)["created"] for n in range(2)]
    last = T0 + HOUR
    made_up = [last + timedelta(minutes=m) for m in (3, 6, 9)]
    answers = [invoke_as_colleague(aws, backup_id, {"scheduled_time": at.isoformat()},
                                   at=last + timedelta(minutes=10)) for at in made_up]
    assert all(a["error"] == "Unhandled" and "not a firing time" in a["payload"]["errorMessage"]
               for a in answers), answers
    assert all(exists(aws, i) for i in kept)
    assert default_image(aws("ec2"), web.template_id) == kept[-1]


@pytest.mark.parametrize(("scheduled", "why"), [
    ("2026-11-01T00:00:00+00:00", "older than the schedule's delivery window"),  # a past run
    ("0999-01-01T00:00:00+00:00", "older than the schedule's delivery window"),  # year 999
])
def test_4_past_and_ancient_times_are_refused(aws, web, scheduled, why):
    _, outs = deploy(aws)
    backup_id = outs["backup_id"]
    made = fire(aws, backup_id, 3)["created"]  # the clock: T0 + 3 h
    answer = invoke_as_colleague(aws, backup_id, {"scheduled_time": scheduled},
                                 at=T0 + 3 * HOUR + timedelta(minutes=1))
    assert answer["error"] == "Unhandled" and why in answer["payload"]["errorMessage"]
    owned = record.read(aws("ssm"), Names(backup_id).record_parameter,
                        of_backup(aws("kms"), backup_id))
    assert sorted(owned.images) == [made]


def test_3_on_a_rate_schedule_made_up_times_make_no_image_closer_than_its_rate(aws, web):
    """`continuous` is rate(10 minutes): its firing times count from the schedule's creation,
    so no time can be checked alone. The colleague's invocations between two real runs, each
    a new run key within the delivery window, make no image and prune no backup."""
    _, outs = deploy(aws, frequency="continuous", retention=3)
    backup_id = outs["backup_id"]
    ten = timedelta(minutes=10)
    with as_runner(aws, backup_id):
        kept = [fire_schedule(aws, backup_id, T0 + n * ten)["created"] for n in range(3)]
    last = T0 + 2 * ten
    answers = [invoke_as_colleague(aws, backup_id, {"scheduled_time": at.isoformat()},
                                   at=last + timedelta(minutes=6))
               for at in (last + timedelta(minutes=m) for m in (2, 4, 6, -4))]
    assert all(a["error"] == "Unhandled" and "Scheduler never names two runs that close"
               in a["payload"]["errorMessage"] for a in answers), answers
    owned = record.read(aws("ssm"), Names(backup_id).record_parameter,
                        of_backup(aws("kms"), backup_id))
    assert sorted(owned.images) == sorted(kept) and not owned.runs  # nothing more, nothing pruned
    assert all(exists(aws, i) for i in kept)
    with as_runner(aws, backup_id):  # the schedule's own next firing still runs
        nxt = fire_schedule(aws, backup_id, T0 + 3 * ten)
    assert nxt["created"] and nxt["failed"] == []


def test_3_an_input_transformer_on_the_ami_rule_cannot_name_a_run(aws, web):
    _, outs = deploy(aws)
    backup_id = outs["backup_id"]
    names = Names(backup_id)
    first = fire(aws, backup_id, 0)["created"]
    with as_colleague(allow("events:PutTargets")) as mine:
        mine("events").put_targets(Rule=names.ami_rule, EventBusName="default", Targets=[{
            "Id": "runner", "Arn": outs["function_arn"], "InputTransformer": {
                "InputPathsMap": {"t": "$.time"},
                "InputTemplate": '{"scheduled_time": "<t>"}'}}])
    with local_ec2.images_pending() as hold:  # the next run's image: its event is the rule's
        second = fire(aws, backup_id, 1)["created"]
    with as_runner(aws, backup_id), deliver_ami_events(aws) as delivered:
        local_ec2.release_images(hold.image_ids)
    assert delivered.errors, "the transformed event reached the runner"
    assert all("not a firing time" in str(err) for _, err in delivered.errors)
    assert default_image(aws("ec2"), web.template_id) == first  # nothing promoted by it
    owned = record.read(aws("ssm"), names.record_parameter, of_backup(aws("kms"), backup_id))
    # No run of its own: the record holds the first image and the second's run, started and
    # left for that image's own event to adopt (the one the transformer took over).
    assert sorted(owned.images) == [first] and sorted(owned.runs) == ["20261101T0100Z"]
    assert second not in owned.images


def test_3_a_schedule_rewritten_to_fire_every_five_minutes_makes_nothing_more(aws, web):
    _, outs = deploy(aws, retention=2)
    backup_id = outs["backup_id"]
    names = Names(backup_id)
    kept = [fire(aws, backup_id, n)["created"] for n in range(2)]
    current = aws("scheduler").get_schedule(Name=names.schedule)
    with as_colleague(allow("scheduler:UpdateSchedule"),
                      allow("iam:PassRole", outs["scheduler_role_arn"])) as mine:
        mine("scheduler").update_schedule(
            Name=names.schedule, ScheduleExpression="rate(5 minutes)",
            FlexibleTimeWindow={"Mode": "OFF"}, Target=current["Target"])
    for minutes in (5, 10, 15):
        at = T0 + HOUR + timedelta(minutes=minutes)
        event = scheduled_event(aws, backup_id, at)
        with pytest.raises(RefusedEvent, match="not a firing time"):
            invoke_as_runner_at(aws, backup_id, event, at)
    assert all(exists(aws, i) for i in kept)


def invoke_as_runner_at(aws: Clients, backup_id: str, event: dict[str, Any], at: Any) -> Any:
    """What the (rewritten) schedule's target does at `at`: the deployed function."""
    with as_runner(aws, backup_id):
        return invoke(aws("lambda"), Names(backup_id).function, event, at=at)


def test_firing_times_are_the_schedules_own(aws):
    """The pure check behind items 3 and 4, against the schedule's own run list."""
    for expression, zone in (("cron(0 * * * ? *)", "UTC"), ("cron(30 2 ? * MON-FRI *)",
                                                            "Europe/Dublin")):
        for at in next_runs(expression, 30, zone, start=T0):
            assert fires_at(expression, zone, at) is True
            assert fires_at(expression, zone, at + timedelta(minutes=1)) is False
            assert fires_at(expression, zone, at + timedelta(seconds=1)) is False
    assert fires_at("rate(10 minutes)", "UTC", T0) is None  # counted from the schedule's start


# --- 5: a forged run lock -------------------------------------------------------------------

def test_5_a_forged_lock_fails_runs_loudly_and_destroy_removes_it_at_once(aws, web):
    spec, outs = deploy(aws)
    backup_id = outs["backup_id"]
    name = Names(backup_id).lock_parameter
    first = fire(aws, backup_id, 0)["created"]
    forever = json.dumps({"owner": "run 20261101T0100Z 0123456789ab", "expires": 9e12})
    with as_colleague(allow("ssm:PutParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
                                                f"/amibackup/*")) as mine:
        mine("ssm").put_parameter(Name=name, Value=forever, Type="String")
    with pytest.raises(RuntimeError, match="another run holds the lock .*written at"):
        fire(aws, backup_id, 1)  # fails: Lambda's error metric and the alarm fire
    # AWS's stamp, not the claimed expiry, says when the lease ends: then runs go on.
    local_ssm.backdate(name, lock.LEASE_SECONDS + 1)
    assert fire(aws, backup_id, 2)["created"]
    with as_colleague(allow("ssm:PutParameter")) as mine:
        mine("ssm").put_parameter(Name=name, Value=forever, Type="String")
    result = backup.delete(aws, backup_id, spec, outs["recorded_version"])
    assert any("no run of this backup wrote" in w and "written at" in w
               for w in result.warnings), result.warnings
    assert not exists(aws, first)


# --- 6: paused ------------------------------------------------------------------------------

def test_6_paused_creates_promotes_and_prunes_nothing(aws, web):
    spec, outs = deploy(aws)
    backup_id = outs["backup_id"]
    with local_ec2.images_pending() as hold:
        pending = fire(aws, backup_id, 0)["created"]
    paused = BackupSpec.from_props(normalise({**spec.to_props(), "paused": True}))
    backup.ensure(aws, paused, backup_id, outs["recorded_version"])
    rule = aws("events").describe_rule(Name=Names(backup_id).ami_rule)
    assert rule["State"] == "DISABLED"
    with as_runner(aws, backup_id), deliver_ami_events(aws) as delivered:
        local_ec2.release_images(hold.image_ids)
    assert delivered.results == [] and delivered.errors == []  # the rule delivers nothing
    event = {"version": "0", "id": "1", "detail-type": "EC2 AMI State Change",
             "source": "aws.ec2", "account": ACCOUNT, "time": "2026-11-01T00:05:00Z",
             "region": REGION, "resources": [], "detail": {"ImageId": pending,
                                                           "State": "available"}}
    forced = invoke_as_colleague(aws, backup_id, event, at=T0 + HOUR / 6)
    assert forced["error"] is None and "paused" in forced["payload"]["skipped"][0]
    scheduled = invoke_as_colleague(aws, backup_id,
                                    {"scheduled_time": (T0 + HOUR).isoformat()}, at=T0 + HOUR)
    assert "paused" in scheduled["payload"]["errorMessage"]
    assert default_image(aws("ec2"), web.template_id) == web.base_image
    assert exists(aws, pending)


def test_1_a_record_written_before_its_key_is_taken_once_then_signed(aws, web):
    """An upgrade: the record predates signing (AWS's stamps say so), so it is trusted once."""
    _, outs = deploy(aws)
    backup_id = outs["backup_id"]
    name = Names(backup_id).record_parameter
    first = fire(aws, backup_id, 0)["created"]
    legacy = json.dumps({"runs": {}, "images": {first: "20261101T0000Z"}})
    aws("ssm").put_parameter(Name=name, Value=legacy, Type="String", Overwrite=True)
    local_ssm.backdate(name, 3600)  # written an hour before the key existed
    second = fire(aws, backup_id, 1)
    assert second["promoted"] == second["created"]
    assert "mac" in json.loads(aws("ssm").get_parameter(Name=name)["Parameter"]["Value"])
    aws("ssm").put_parameter(Name=name, Value=legacy, Type="String", Overwrite=True)
    with pytest.raises(record.RecordForged, match="carries no MAC"):
        fire(aws, backup_id, 2)  # the same unsigned value, written after the key: refused
