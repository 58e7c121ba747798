"""Issue 10, items 10-12: ownership that cannot be forged, scope fixed at deploy.

On the strict local AWS, through the deployed function (the schedule's Input given to the
handler the function names, by the dev kit's Lambda runtime).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from amibackup.names import Names, image_name
from amibackup.provision import backup
from amibackup.runner import record
from amibackup.runner.clients import Clients
from amibackup.runner.config import ENV_VAR, ConfigError, Job, job_environment
from amibackup.runner.cycle import AdoptionRefused
from amibackup.runner.handler import RefusedEvent
from amibackup.runner.plan import run_key
from amibackup.runner.seal import of_backup
from amibackup.schema import BackupSpec
from amibackup.spec import normalise
from devkit.localaws.lambda_runtime import invoke
from devkit.scenarios import T0, DemoGroup, default_image, fire_schedule, group_instances

SPEC = {"backup_name": "web-backup", "group_name": "web"}


def deploy(clients: Clients, **overrides: Any) -> tuple[BackupSpec, dict[str, Any]]:
    spec = BackupSpec.from_props(normalise({**SPEC, **overrides}))
    return spec, backup.create(clients, spec)


def fire(clients: Clients, backup_id: str, n: int) -> dict[str, Any]:
    return fire_schedule(clients, backup_id, T0 + timedelta(hours=n))


def teammates_image(clients: Clients, group: DemoGroup, name: str, tags_of: str) -> str:
    """A colleague's image of a group instance, with a backup image's tags copied onto it."""
    ec2 = clients("ec2")
    instance = group_instances(clients, group.group_name)[0]["InstanceId"]
    image = ec2.create_image(InstanceId=instance, Name=name, NoReboot=True)["ImageId"]
    tags = ec2.describe_images(ImageIds=[tags_of])["Images"][0]["Tags"]
    ec2.create_tags(Resources=[image], Tags=tags)
    return str(image)


def exists(clients: Clients, image_id: str) -> bool:
    return bool(clients("ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"])


def test_copied_tags_do_not_make_an_image_a_backup(clients, group):
    spec, outs = deploy(clients, retention=1)
    backup_id = outs["backup_id"]
    first = fire(clients, backup_id, 0)["created"]
    copied = teammates_image(clients, group, "teammate-copy", tags_of=first)
    summaries = [fire(clients, backup_id, n) for n in range(1, 4)]
    touched = {i for s in summaries for key in ("kept", "pruned", "protected")
               for i in s[key]} | {s["promoted"] for s in summaries}
    assert copied not in touched and exists(clients, copied)
    assert all(s["created"] for s in summaries)  # not counted: retention 1 keeps a real backup
    assert summaries[-1]["kept"] == [summaries[-1]["created"]]
    assert default_image(clients("ec2"), group.template_id) == summaries[-1]["created"]
    backup.delete(clients, backup_id, spec, outs["recorded_version"])
    assert exists(clients, copied)  # teardown deregisters recorded images only
    assert not exists(clients, summaries[-1]["created"])


def test_a_precreated_image_with_the_next_runs_name_is_not_adopted(clients, group):
    _, outs = deploy(clients)
    backup_id = outs["backup_id"]
    first = fire(clients, backup_id, 0)["created"]
    squat = teammates_image(clients, group, image_name(backup_id, run_key(T0 + timedelta(hours=1))),
                            tags_of=first)
    # Pre-created, as a squatter must: AWS stamps CreationDate to the second, so an image made
    # in the very second the run starts, from its instance, is indistinguishable (README).
    time.sleep(1.1)
    # Refused for whichever proof fails first: made before the run's recorded start, or from
    # another instance than the run's (the teammate imaged the other instance).
    with pytest.raises(AdoptionRefused, match="before the run started|not from the run's"):
        fire(clients, backup_id, 1)  # the run fails loudly: Lambda's Errors metric fires
    assert default_image(clients("ec2"), group.template_id) == first
    owned = record.read(clients("ssm"), Names(backup_id).record_parameter,
                        of_backup(clients("kms"), backup_id))
    assert not owned.owns(squat) and owned.owns(first)
    later = fire(clients, backup_id, 2)
    assert later["promoted"] == later["created"] and squat not in later["kept"]


@pytest.mark.parametrize("extra", [
    {"group_name": "other", "retention": 0},
    {"backup_id": "someone-else"},
    {"no_reboot": False},
    {"tags": {"team": "evil"}},
])
def test_an_event_asking_for_more_than_the_time_is_refused(clients, group, capsys, extra):
    _, outs = deploy(clients)
    backup_id = outs["backup_id"]
    made = [fire(clients, backup_id, n)["created"] for n in range(3)]
    event = {"scheduled_time": (T0 + timedelta(hours=3)).isoformat(), **extra}
    with pytest.raises(RefusedEvent, match="fixed at deploy"):
        invoke(clients("lambda"), outs["function_name"], event)
    owned = record.read(clients("ssm"), Names(backup_id).record_parameter,
                        of_backup(clients("kms"), backup_id))
    assert sorted(owned.images) == sorted(made) and all(exists(clients, i) for i in made)
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines()
              if line.startswith("{") and "refused" in line]
    assert logged and logged[-1]["event_fields"] == sorted(event)


def test_a_run_key_in_the_future_is_refused(clients, group):
    _, outs = deploy(clients)
    now = T0 - timedelta(seconds=30)  # the invocation's wall clock
    future = T0 + timedelta(hours=1)  # a firing time of the hourly schedule, still to come
    with pytest.raises(RefusedEvent, match="in the future"):
        invoke(clients("lambda"), outs["function_name"], {"scheduled_time": future.isoformat()},
               at=now)
    assert not record.read(clients("ssm"), Names(outs["backup_id"]).record_parameter,
                           of_backup(clients("kms"), outs["backup_id"])).images
    # T0, 30 s ahead of the clock: within the clock skew allowed
    out = invoke(clients("lambda"), outs["function_name"], {"scheduled_time": T0.isoformat()},
                 at=now)
    assert out["created"]


def test_the_job_round_trips_through_the_environment():
    job = Job("b1", "web", retention=5, no_reboot=False, tags={"team": "web"}, region="eu-west-1",
              template_id="lt-1", period_seconds=3600)
    assert Job.from_environment(job_environment(job)) == job
    assert Job.from_environment(job_environment(job.to_config())) == job


@pytest.mark.parametrize(("config", "field"), [
    ({"group_name": "web"}, "backup_id"),
    ({"backup_id": "b1", "group_name": "web", "retention": 0}, "retention"),
    ({"backup_id": "b1", "group_name": "web", "retention": 2.5}, "retention"),
    ({"backup_id": "b1", "group_name": "web", "tags": {"a": 1}}, "tags"),
    ({"backup_id": "b1", "group_name": "web", "no_reboot": "yes"}, "no_reboot"),
    ({"backup_id": "b1", "group_name": "web", "scheduled_time": "x"}, "scheduled_time"),
])
def test_a_bad_configuration_names_the_field(config, field):
    with pytest.raises(ConfigError, match=field):
        Job.from_environment({ENV_VAR: json.dumps(config)})


def test_adoption_needs_the_runs_start_its_time_and_its_instance():
    at = datetime(2026, 11, 1, 10, 0, 0, 700000, tzinfo=UTC)
    owned = record.Record().started("20261101T1000Z", "i-1", at)
    same_second = {"ImageId": "ami-1", "CreationDate": "2026-11-01T10:00:00.000Z"}
    assert record.adoption_refused(owned, "20261101T1000Z", same_second) is None
    assert "no start" in str(record.adoption_refused(owned, "20261101T1100Z", same_second))
    earlier = {**same_second, "CreationDate": "2026-11-01T09:59:59.000Z"}
    assert "before the run started" in str(record.adoption_refused(owned, "20261101T1000Z",
                                                                   earlier))
    later = {**same_second, "CreationDate": "2026-11-01T10:15:02.000Z"}  # 902 s after
    assert "after that run had ended" in str(record.adoption_refused(owned, "20261101T1000Z",
                                                                    later))
    at_the_end = {**same_second, "CreationDate": "2026-11-01T10:15:00.000Z"}
    assert record.adoption_refused(owned, "20261101T1000Z", at_the_end) is None
    other = {**same_second, "SourceInstanceId": "i-2"}
    assert "not from the run's instance" in str(record.adoption_refused(
        owned, "20261101T1000Z", other))
    # A retry keeps the first start: a later one cannot move it past an earlier image. It
    # notes its own start, so an image it creates later than the first run's end is its.
    retried = owned.started("20261101T1000Z", "i-1", at + timedelta(minutes=20))
    assert retried.runs["20261101T1000Z"]["started"] == owned.runs["20261101T1000Z"]["started"]
    assert "before the run started" in str(record.adoption_refused(retried, "20261101T1000Z",
                                                                   earlier))
    assert record.adoption_refused(retried, "20261101T1000Z", later) is None


def test_the_record_outgrows_four_kilobytes(clients):
    """Standard parameters stop at 4 KB; Intelligent-Tiering moves to Advanced (8 KB) as needed."""
    name = Names("b1").record_parameter
    big = record.Record()
    for n in range(5):
        big = big.started(f"2026110{n + 1}T0000Z", f"i-{n:017x}", datetime.now(UTC))
    for n in range(150):  # a hundred kept, and beyond: in use, pending, failed
        big = big.made(f"ami-{n:017x}", f"2026110{n % 9}T{n % 24:02d}00Z")
    seal = of_backup(clients("kms"), "b1")
    written = record.write(clients("ssm"), name, big, seal)
    stored = clients("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    assert 4096 < len(stored) <= 8192  # signed: the MAC and the version add 80 characters
    assert record.read(clients("ssm"), name, seal) == big == written
    assert json.loads(stored)["record"] == json.loads(big.to_json())
