"""Issue 11: a run creates the image and returns; the image's own event promotes it.

On the strict local AWS: images stay `pending` until released, and each release emits the
`EC2 AMI State Change` event, which the dev kit's Lambda runtime delivers to the deployed
function through the EventBridge rule, as AWS would.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest

from amibackup.names import Names
from amibackup.provision import backup
from amibackup.provision.events import rule_request
from amibackup.runner import lock
from amibackup.runner.clients import Clients
from amibackup.schema import BackupSpec
from amibackup.spec import normalise
from devkit.localaws.ec2 import images_pending, on_ami_event, release_images
from devkit.localaws.lambda_runtime import deliver_ami_events, invoke
from devkit.scenarios import T0, DemoGroup, default_image, fire_schedule
from tests.support.faults import after_call


def deploy(clients: Clients, **overrides: Any) -> str:
    """A backup of group web, and the AMI event rule targeting its function; the backup id."""
    spec = BackupSpec.from_props(normalise({"backup_name": "web-backup", "group_name": "web",
                                            **overrides}))
    outs = backup.create(clients, spec)
    events, names = clients("events"), Names(outs["backup_id"])
    # What provisioning deploys with the backup (the rule, named by names.ami_rule): it
    # names no image until the runner has one in flight.
    events.put_rule(**rule_request(names, outs["backup_id"]))
    events.put_targets(Rule=names.ami_rule, Targets=[{"Id": "runner",
                                                      "Arn": outs["function_arn"]}])
    return str(outs["backup_id"])


def fire(clients: Clients, backup_id: str, n: int) -> dict[str, Any]:
    return fire_schedule(clients, backup_id, T0 + timedelta(hours=n))


def test_run_returns_at_once_and_the_event_promotes_before_the_next_run(clients, group):
    backup_id = deploy(clients)
    before = default_image(clients("ec2"), group.template_id)
    with images_pending() as hold:
        run = fire(clients, backup_id, 0)
    assert run["created"] == hold.image_ids[0] and run["available"] is False
    assert run["promoted"] is None and default_image(clients("ec2"), group.template_id) == before
    with deliver_ami_events(clients) as delivered:
        release_images(hold.image_ids)
    assert delivered.errors == []
    [(_, summary)] = delivered.results
    assert summary["promoted"] == run["created"] and summary["created"] is None
    assert default_image(clients("ec2"), group.template_id) == run["created"]


def test_a_lost_event_is_caught_by_the_next_run(clients, group):
    backup_id = deploy(clients)
    with images_pending() as hold:
        first = fire(clients, backup_id, 0)
    release_images(hold.image_ids)  # the event is lost: nobody receives it
    assert default_image(clients("ec2"), group.template_id) != first["created"]
    with images_pending():
        second = fire(clients, backup_id, 1)
    assert second["promoted"] == first["created"] and second["created"] != first["created"]
    assert default_image(clients("ec2"), group.template_id) == first["created"]


def test_a_failed_image_is_reported_never_promoted(clients, group):
    backup_id = deploy(clients)
    before = default_image(clients("ec2"), group.template_id)
    with images_pending() as hold:
        run = fire(clients, backup_id, 0)
    with deliver_ami_events(clients) as delivered:
        release_images(hold.image_ids, state="failed")
    [(_, error)] = delivered.errors  # the invocation failed: Lambda's Errors metric fires
    assert run["created"] in str(error) and delivered.results == []
    assert default_image(clients("ec2"), group.template_id) == before
    # Not a backup: the failed image was pruned, and the next run is not held up by it.
    after = fire(clients, backup_id, 1)
    assert after["created"] and after["promoted"] == after["created"]
    assert run["created"] not in after["kept"]


def test_duplicated_and_late_events_are_harmless(clients, group):
    backup_id = deploy(clients)
    with images_pending() as hold:
        fire(clients, backup_id, 0)
    with deliver_ami_events(clients) as delivered:
        events: list[dict[str, Any]] = []
        with mock.patch("devkit.localaws.lambda_runtime.deliver",
                        side_effect=lambda *a: events.append(a[2])):
            release_images(hold.image_ids)
    (event,) = events
    older = event["detail"]["ImageId"]
    newer = fire(clients, backup_id, 1)["created"]  # the next run promotes both in turn
    assert default_image(clients("ec2"), group.template_id) == newer
    function = Names(backup_id).function
    for _ in range(2):  # the late event, delivered twice
        again = invoke(clients("lambda"), function, event)
        assert again["promoted"] is None and again["created"] is None
    assert delivered.errors == []
    assert default_image(clients("ec2"), group.template_id) == newer  # never steps back
    assert older in again["kept"]


def test_an_event_for_another_image_changes_nothing(clients, group):
    backup_id = deploy(clients)
    fire(clients, backup_id, 0)
    ssm = clients("ssm")
    record = ssm.get_parameter(Name=Names(backup_id).record_parameter)["Parameter"]
    with images_pending() as hold:
        clients("ec2").create_image(InstanceId=group_instance(clients, group), Name="teammate",
                                    NoReboot=True)
    seen: list[dict[str, Any]] = []
    unsubscribe = on_ami_event(seen.append)
    try:
        with deliver_ami_events(clients) as delivered:
            release_images(hold.image_ids)
    finally:
        unsubscribe()
    assert delivered.results == delivered.errors == []  # the rule names only its images
    # Invoked with it all the same (by hand, or a forged delivery): the signed record is read
    # under the lock, and the cycle ends there: no group, template or image read, no write.
    with after_call("DescribeAutoScalingGroups", lambda: None) as group_read, \
            after_call("DescribeImages", lambda: None) as images_read:
        summary = invoke(clients("lambda"), Names(backup_id).function, seen[0])
    assert summary["skipped"] == [f"image {hold.image_ids[0]} is not in this backup's record"]
    assert group_read == images_read == []
    after = ssm.get_parameter(Name=Names(backup_id).record_parameter)["Parameter"]
    assert after["Version"] == record["Version"]  # no write
    assert lock.read(ssm, Names(backup_id).lock_parameter) is None  # released


def group_instance(clients: Clients, group: DemoGroup) -> str:
    members = clients("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[group.group_name])["AutoScalingGroups"][0]["Instances"]
    return str(members[0]["InstanceId"])


def test_each_run_logs_its_metrics_in_embedded_metric_format(clients, group, capsys):
    backup_id = deploy(clients, retention=1)
    for n in range(2):
        fire(clients, backup_id, n)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    last = lines[-1]
    [directive] = last["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "amibackup" and directive["Dimensions"] == [["Backup"]]
    names = {m["Name"] for m in directive["Metrics"]}
    assert names == {"Created", "Promoted", "Pruned", "Failed", "NewestBackupAgeSeconds"}
    assert last["Backup"] == backup_id
    assert (last["Created"], last["Promoted"], last["Pruned"], last["Failed"]) == (1, 1, 1, 0)
    assert 0 <= last["NewestBackupAgeSeconds"] < 60
    assert isinstance(last["_aws"]["Timestamp"], int)


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
