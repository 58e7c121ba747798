"""Issue 16: an image's events reach its own runner only.

Each backup's EventBridge rule names the images its runner has in flight and only the
states the runner acts on; with none in flight it matches nothing. On the strict local
AWS, events are delivered to the Lambda targets of the rules whose pattern matches, with
EventBridge's content filtering (devkit/localaws/eventbridge.py, RULES.md s16-1).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from amibackup import access
from amibackup.names import Names
from amibackup.provision import backup, policy
from amibackup.runner.clients import Clients
from amibackup.runner.cycle import run_cycle
from amibackup.schema import BackupSpec
from amibackup.spec import normalise
from devkit.localaws.ec2 import images_pending, on_ami_event, release_images
from devkit.localaws.iam_policy import Request, evaluate
from devkit.localaws.lambda_runtime import deliver, deliver_ami_events
from devkit.scenarios import T0, create_group, default_image, fire_schedule, hourly_job


def deploy(clients: Clients, name: str, group_name: str) -> dict[str, Any]:
    spec = BackupSpec.from_props(normalise({"backup_name": name, "group_name": group_name}))
    return backup.create(clients, spec)


def rule_images(clients: Clients, backup_id: str) -> list[str]:
    rule = clients("events").describe_rule(Name=Names(backup_id).ami_rule)
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail"]["State"] == ["available", "failed"]  # the states acted on
    return list(pattern["detail"]["ImageId"])


def test_another_backups_image_event_invokes_no_other_runner(clients):
    outs = [deploy(clients, f"web{i}-backup", create_group(clients, f"web{i}").group_name)
            for i in range(3)]
    ids = [o["backup_id"] for o in outs]
    assert [rule_images(clients, b) for b in ids] == [[access.NO_IMAGE]] * 3  # match nothing
    with images_pending() as hold:
        run = fire_schedule(clients, ids[0], T0)
    assert run["created"] == hold.image_ids[0] and run["in_flight"] == [run["created"]]
    assert rule_images(clients, ids[0]) == [run["created"]]
    assert rule_images(clients, ids[1]) == rule_images(clients, ids[2]) == [access.NO_IMAGE]

    with deliver_ami_events(clients) as delivered:
        release_images(hold.image_ids)
    assert delivered.errors == []
    assert [arn for arn, _ in delivered.results] == [outs[0]["function_arn"]]  # one runner
    [(_, summary)] = delivered.results
    assert summary["promoted"] == run["created"] and summary["in_flight"] == []
    assert default_image(clients("ec2"), outs[0]["launch_template_id"]) == run["created"]
    # Left as it is: an available image sends no further available/failed event, so the
    # rule wakes nobody until the next run that makes an image points it at that one.
    assert rule_images(clients, ids[0]) == [run["created"]]


def test_an_image_of_no_backup_and_other_states_invoke_nobody(clients):
    group = create_group(clients, "web")
    outs = deploy(clients, "web-backup", group.group_name)
    with images_pending():
        run = fire_schedule(clients, outs["backup_id"], T0)
        instance = clients("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]["Instances"][0]
        teammate = clients("ec2").create_image(InstanceId=instance["InstanceId"],
                                               Name="teammate", NoReboot=True)["ImageId"]
    seen: list[dict[str, Any]] = []
    unsubscribe = on_ami_event(seen.append)
    try:
        with deliver_ami_events(clients) as delivered:
            release_images([teammate])
    finally:
        unsubscribe()
    [event] = seen
    assert event["detail"]["ImageId"] == teammate
    # The backup's own image, in a state the runner does not act on (EC2 also reports
    # `deregistered`, `disabled`...), goes nowhere either.
    own = {**event, "detail": {**event["detail"], "ImageId": run["created"],
                               "State": "deregistered"}}
    deliver(clients("events"), clients("lambda"), own, delivered)
    assert delivered.results == [] and delivered.errors == []  # nobody was invoked


def test_a_second_run_keeps_following_its_images_and_deploy_keeps_them(clients):
    group = create_group(clients, "web")
    outs = deploy(clients, "web-backup", group.group_name)
    backup_id = outs["backup_id"]
    with images_pending() as hold:
        first = fire_schedule(clients, backup_id, T0)
        # Still pending an hour later: the run makes no second image and keeps following it.
        second = fire_schedule(clients, backup_id, T0 + timedelta(hours=1))
    assert second["created"] is None and second["in_flight"] == [first["created"]]
    assert rule_images(clients, backup_id) == [first["created"]]
    # `pulumi up` (an update re-puts the rule) keeps the image the runner waits for.
    spec = BackupSpec.from_props(normalise({"backup_name": "web-backup", "group_name": "web",
                                            "retention": 5}))
    backup.update(clients, spec, backup_id, outs)
    assert rule_images(clients, backup_id) == [first["created"]]
    with deliver_ami_events(clients) as delivered:
        release_images(hold.image_ids)
    [(_, summary)] = delivered.results
    assert summary["promoted"] == first["created"]


def test_the_pattern_stays_within_eventbridges_size_quota():
    many = [f"ami-{i:017x}" for i in range(200)]
    pattern = access.ami_event_pattern(many)
    assert len(json.dumps(pattern, sort_keys=True)) <= access.MAX_PATTERN_CHARS
    assert 50 < len(pattern["detail"]["ImageId"]) < 200
    assert access.pattern_images(json.dumps(pattern)) == pattern["detail"]["ImageId"]
    assert access.ami_event_pattern([])["detail"]["ImageId"] == [access.NO_IMAGE]
    assert access.pattern_images(json.dumps(access.ami_event_pattern([]))) == []


def test_a_runner_may_rewrite_its_own_rule_only():
    scope = policy.Scope("aws", "us-east-1", "123456789012", "web-backup-1a2b3c4d", "web",
                         "lt-0123456789abcdef0")
    doc = policy.runner_policy(scope)
    rule = "arn:aws:events:us-east-1:123456789012:rule/{}"
    own = Request("events:PutRule", rule.format(Names(scope.backup_id).ami_rule))
    other = Request("events:PutRule", rule.format(Names("db-backup-5e6f7a8b").ami_rule))
    assert evaluate(doc, own).allowed and not evaluate(doc, other).allowed
    assert not evaluate(doc, Request("events:PutTargets", own.resource)).allowed


def test_a_rule_that_cannot_be_narrowed_only_warns(clients, monkeypatch):
    group = create_group(clients, "web")

    def denied(*_: Any, **__: Any) -> str:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}},
                          "PutRule")

    monkeypatch.setattr(access, "narrow_ami_rule", denied)
    with images_pending():
        summary = run_cycle(hourly_job(0, group.group_name), clients, now=T0)
    assert summary.created and summary.failed == []
    assert any("AccessDeniedException" in w and "next scheduled run" in w
               for w in summary.warnings)
