"""Provisioning on the strict local AWS: the AMI event rule, alarms, the concurrency
fallback, the tag rule, and one backup per launch template (issues 9, 10, 11)."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from typing import Any

import botocore.session
import pytest
import regex
from botocore.exceptions import ClientError

from amibackup import spec as spec_mod
from amibackup.names import Names, template_claim_parameter
from amibackup.provision import alarms, backup, events
from amibackup.provision.errors import ProvisionError
from amibackup.runner import record
from amibackup.runner.clients import Clients
from amibackup.runner.seal import of_backup
from amibackup.schema import BackupSpec
from amibackup.spec import normalise, validate
from devkit.localaws.lambda_ import account_concurrency
from devkit.localaws.server import FAKE_CREDENTIALS
from devkit.scenarios import DemoGroup, create_group, default_image, leftovers
from tests.support.harness import provider_process

ACCOUNT = "123456789012"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:backups"


def props(**overrides: Any) -> BackupSpec:
    return BackupSpec.from_props(
        normalise({"backup_name": "web-backup", "group_name": "web", **overrides}))


def rules(clients: Clients) -> list[str]:
    return [r["Name"] for r in clients("events").list_rules()["Rules"]]


def alarm_names(clients: Clients) -> list[str]:
    return sorted(a["AlarmName"] for a in clients("cloudwatch").describe_alarms()["MetricAlarms"])


def claims(clients: Clients) -> list[str]:
    return [p["Name"] for p in clients("ssm").describe_parameters()["Parameters"]
            if p["Name"].startswith("/amibackup/templates/")]


def statements(clients: Clients, function: str) -> list[dict[str, Any]]:
    policy = clients("lambda").get_policy(FunctionName=function)["Policy"]
    found: list[dict[str, Any]] = json.loads(policy)["Statement"]
    return found


# --- issue 11: the AMI event rule and the alarms ----------------------------------------

def test_the_rule_sends_ami_state_changes_to_the_runner_and_goes_with_the_backup(clients,
                                                                                 group):
    outs = backup.create(clients, props())
    names = Names(outs["backup_id"])
    rule = clients("events").describe_rule(Name=names.ami_rule)
    assert json.loads(rule["EventPattern"]) == {  # no image in flight yet: matches nothing
        "source": ["aws.ec2"], "detail-type": ["EC2 AMI State Change"],
        "detail": {"ImageId": ["amibackup:none"], "State": ["available", "failed"]}}
    assert rule["Arn"] == outs["ami_rule_arn"] and rule["State"] == "ENABLED"
    targets = clients("events").list_targets_by_rule(Rule=names.ami_rule)["Targets"]
    assert [t["Arn"] for t in targets] == [outs["function_arn"]]
    [grant] = [s for s in statements(clients, names.function)
               if s["Sid"] == events.STATEMENT_ID]
    assert grant["Principal"] == {"Service": "events.amazonaws.com"}
    assert grant["Condition"]["ArnLike"]["AWS:SourceArn"] == outs["ami_rule_arn"]

    again = backup.update(clients, props(retention=4), outs["backup_id"], outs)  # idempotent
    assert again["ami_rule_arn"] == outs["ami_rule_arn"]
    assert len([s for s in statements(clients, names.function)
                if s["Sid"] == events.STATEMENT_ID]) == 1

    backup.delete(clients, outs["backup_id"], props(), outs["recorded_version"],
                  outs["launch_template_id"])
    assert rules(clients) == [] and alarm_names(clients) == [] and claims(clients) == []
    assert leftovers(clients) == leftovers(clients, "nothing-of-ours")


def test_the_runner_policy_gains_only_putrule_on_its_own_rule(clients, group):
    outs = backup.create(clients, props())
    document = clients("iam").get_role_policy(RoleName=Names(outs["backup_id"]).runner_role,
                                              PolicyName="amibackup")["PolicyDocument"]
    text = json.dumps(document)
    assert "cloudwatch:" not in text and "lambda:" not in text
    # Issue 16: the runner narrows its own rule to its images in flight, and nothing else.
    [narrow] = [s for s in document["Statement"] if "events:" in json.dumps(s)]
    assert narrow["Action"] == "events:PutRule" and narrow["Resource"] == outs["ami_rule_arn"]


def test_a_rule_deleted_by_hand_comes_back_on_update_and_teardown_tolerates_it(clients,
                                                                               group):
    outs = backup.create(clients, props())
    names = Names(outs["backup_id"])
    events.remove_rule(clients("events"), clients("lambda"), names)
    assert rules(clients) == []
    backup.update(clients, props(), outs["backup_id"], outs)
    assert rules(clients) == [names.ami_rule]
    events.remove_rule(clients("events"), clients("lambda"), names)
    backup.delete(clients, outs["backup_id"], props(), outs["recorded_version"])
    assert rules(clients) == []


def test_alarms_follow_the_topic_input(clients, group):
    outs = backup.create(clients, props(alarm_topic_arn=TOPIC, frequency="daily"))
    names = Names(outs["backup_id"])
    assert outs["alarm_names"] == [names.failed_alarm, names.stale_alarm]
    found = {a["AlarmName"]: a for a in clients("cloudwatch").describe_alarms()["MetricAlarms"]}
    failed, stale = found[names.failed_alarm], found[names.stale_alarm]
    for alarm in (failed, stale):
        assert alarm["Namespace"] == "amibackup" and alarm["AlarmActions"] == [TOPIC]
        assert alarm["Dimensions"] == [{"Name": "Backup", "Value": outs["backup_id"]}]
    assert (failed["MetricName"], failed["Threshold"], failed["ComparisonOperator"]) == (
        "Failed", 1.0, "GreaterThanOrEqualToThreshold")
    assert (stale["MetricName"], stale["Threshold"], stale["TreatMissingData"]) == (
        "NewestBackupAgeSeconds", 2 * 86_400.0, "breaching")

    updated = backup.update(clients, props(frequency="daily"), outs["backup_id"], outs)
    assert updated["alarm_names"] == [] and alarm_names(clients) == []  # input removed
    again = backup.update(clients, props(alarm_topic_arn=TOPIC), outs["backup_id"], updated)
    assert alarm_names(clients) == sorted(again["alarm_names"])
    backup.delete(clients, outs["backup_id"], props(), outs["recorded_version"])
    assert alarm_names(clients) == []


def test_no_topic_no_alarms(clients, group):
    outs = backup.create(clients, props())
    assert outs["alarm_names"] == [] and alarm_names(clients) == []


@pytest.mark.parametrize(("expression", "period", "window"), [
    ("rate(10 minutes)", 600, (600, 2)),
    ("cron(0 * * * ? *)", 3600, (3600, 2)),
    ("cron(0 0 * * ? *)", 86_400, (86_400, 2)),
    ("cron(30 2 ? * MON-FRI *)", 3 * 86_400, (86_400, 6)),  # the weekend is the longest gap
    ("cron(0 0 ? * SUN *)", 7 * 86_400, (86_400, 7)),  # CloudWatch's 7-day evaluation cap
])
def test_the_stale_alarm_covers_two_periods_within_cloudwatch_limits(expression, period,
                                                                      window):
    assert alarms.schedule_period(expression, "UTC") == period
    bucket, count = alarms.stale_window(period)
    assert (bucket, count) == window
    limit = 86_400 if bucket < 3600 else 604_800
    assert bucket % 60 == 0 and bucket * count <= limit


def test_a_topic_in_another_region_is_refused_at_plan_and_at_create(clients, group):
    other = f"arn:aws:sns:eu-west-1:{ACCOUNT}:backups"
    problems = validate({"group_name": "web", "region": "us-east-1", "alarm_topic_arn": other})
    assert [p.field for p in problems] == ["alarm_topic_arn"]
    assert "eu-west-1" in problems[0].message and "us-east-1" in problems[0].message
    assert [p.field for p in validate({"group_name": "web", "alarm_topic_arn": "topic"})] == [
        "alarm_topic_arn"]
    with pytest.raises(ProvisionError, match="alarm_topic_arn"):
        backup.create(clients, props(alarm_topic_arn=other))  # region known only at create
    assert leftovers(clients) == leftovers(clients, "nothing-of-ours") and claims(clients) == []


# --- issue 9 item 4: reserved concurrency on small accounts -----------------------------

def test_an_account_that_cannot_reserve_still_gets_its_backup_with_a_warning(clients, group):
    with account_concurrency(10):
        outs = backup.create(clients, props())
    assert outs["reserved_concurrency"] is None
    assert len(outs["warnings"]) == 1 and "concurrency" in outs["warnings"][0]
    concurrency = clients("lambda").get_function_concurrency(FunctionName=outs["function_name"])
    assert concurrency.get("ReservedConcurrentExecutions") is None
    updated = backup.update(clients, props(), outs["backup_id"], outs)  # quota raised since
    assert (updated["reserved_concurrency"], updated["warnings"]) == (1, [])


def test_the_strict_local_aws_refuses_the_reservation_itself(clients, group):
    outs = backup.create(clients, props())
    assert (outs["reserved_concurrency"], outs["warnings"]) == (1, [])
    with account_concurrency(10), pytest.raises(ClientError, match="minimum value of"):
        clients("lambda").put_function_concurrency(FunctionName=outs["function_name"],
                                                   ReservedConcurrentExecutions=1)


# --- issue 9 item 5: tags IAM and Lambda refuse -----------------------------------------

def _model_pattern(service: str, shape: str) -> str:
    model = botocore.session.get_session().get_service_model(service)
    return str(model.shape_for(shape).metadata["pattern"])


# Code points assigned in both Unicode databases (Python's and the `regex` module's differ
# by version; a character new in one is unassigned in the other, not a different rule).
_UNASSIGNED = regex.compile(r"\p{Cn}")
SAMPLE = [chr(c) for c in range(0x20, 0x3000) if not 0xD800 <= c <= 0xDFFF
          and unicodedata.category(chr(c)) != "Cn" and not _UNASSIGNED.fullmatch(chr(c))]


@pytest.mark.parametrize(("service", "shape"), [
    ("iam", "tagKeyType"), ("iam", "tagValueType"), ("lambda", "TagKey"),
    ("lambda", "TagValue")])
def test_the_tag_rule_is_the_one_in_botocores_models(service, shape):
    pattern = regex.compile(_model_pattern(service, shape))
    differ = [c for c in SAMPLE
              if bool(pattern.fullmatch(c)) != spec_mod.tag_text_ok(c)]
    assert differ == []


@pytest.mark.parametrize("value", ["R&D", "a,b", "o'brien", "x;y", "50%", "(web)"])
def test_tag_values_iam_refuses_are_refused_at_plan_time_naming_the_tag(clients, value):
    problems = validate({"group_name": "web", "tags": {"team": value}})
    assert [p.field for p in problems] == ["tags.team"]
    assert "IAM and Lambda" in problems[0].message
    with pytest.raises(ClientError, match="regular expression pattern"):  # as AWS would
        clients("iam").create_role(RoleName="probe", AssumeRolePolicyDocument="{}",
                                   Tags=[{"Key": "team", "Value": value}])


def test_tags_the_rule_accepts_reach_every_resource(clients, group):
    tags = {"équipe": "web été", "cost-center": "a_b.c:d/e=f+g-h@i"}
    assert validate({"group_name": "web", "tags": tags}) == []
    outs = backup.create(clients, props(tags=tags))
    function_tags = clients("lambda").list_tags(Resource=outs["function_arn"])["Tags"]
    assert {k: function_tags[k] for k in tags} == tags


# --- issue 10: one backup per launch template -------------------------------------------

def test_a_second_backup_of_the_template_is_refused_naming_both(clients, group):
    first = backup.create(clients, props(owner="proj/dev/web-backup"))
    with pytest.raises(ProvisionError) as refused:
        backup.create(clients, props(backup_name="other", owner="proj/dev/other"))
    assert first["backup_id"] in str(refused.value) and group.template_id in str(refused.value)
    assert "proj/dev/web-backup" in str(refused.value)
    assert [n for n in rules(clients)] == [Names(first["backup_id"]).ami_rule]


def test_a_replacement_of_the_same_resource_takes_the_claim_over(clients, group):
    owner = "proj/dev/web-backup"
    old = backup.create(clients, props(owner=owner))
    new = backup.create(clients, props(owner=owner))  # --replace: create before delete
    holder = json.loads(clients("ssm").get_parameter(
        Name=template_claim_parameter(group.template_id))["Parameter"]["Value"])
    assert holder == {"backup_id": new["backup_id"], "owner": owner}
    backup.delete(clients, old["backup_id"], props(), old["recorded_version"],
                  old["launch_template_id"])
    assert claims(clients) == [template_claim_parameter(group.template_id)]  # still the new's
    backup.delete(clients, new["backup_id"], props(), new["recorded_version"],
                  new["launch_template_id"])
    assert claims(clients) == []


def test_another_group_on_the_template_is_refused_naming_both(clients, group):
    clients("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="web-canary", MinSize=0, MaxSize=1, DesiredCapacity=0,
        LaunchTemplate={"LaunchTemplateId": group.template_id, "Version": "$Default"},
        AvailabilityZones=["us-east-1a"])
    with pytest.raises(ProvisionError, match="web-canary") as refused:
        backup.create(clients, props())
    assert "'web'" in str(refused.value)
    assert claims(clients) == [] and rules(clients) == []


def test_many_groups_are_paginated(clients, group):
    for n in range(60):  # DescribeAutoScalingGroups pages by 50
        clients("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=f"other-{n:02d}", MinSize=0, MaxSize=1, DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateId": group.template_id if n == 59 else
                            create_group(clients, "spare", size=0).template_id,
                            "Version": "$Default"},
            AvailabilityZones=["us-east-1a"])
    with pytest.raises(ProvisionError, match="other-59"):
        backup.create(clients, props())


def test_mixed_instances_overrides_with_their_own_template_are_refused(clients, group):
    graviton = create_group(clients, "arm", size=0)
    clients("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="mixed", MinSize=0, MaxSize=2, DesiredCapacity=0,
        AvailabilityZones=["us-east-1a"],
        MixedInstancesPolicy={"LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": create_group(
                clients, "x86", size=0).template_id, "Version": "$Default"},
            "Overrides": [{"InstanceType": "t3.small"}, {
                "InstanceType": "t4g.small", "LaunchTemplateSpecification": {
                    "LaunchTemplateId": graviton.template_id, "Version": "$Default"}}]}})
    with pytest.raises(ProvisionError, match="arm64") as refused:
        backup.create(clients, props(group_name="mixed"))
    assert graviton.template_id in str(refused.value)


def _move_group(clients: Clients, group: DemoGroup) -> str:
    moved = create_group(clients, "web2", size=0)
    clients("autoscaling").delete_auto_scaling_group(AutoScalingGroupName="web2",
                                                     ForceDelete=True)
    clients("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=group.group_name,
        LaunchTemplate={"LaunchTemplateId": moved.template_id, "Version": "$Default"})
    return moved.template_id


def test_a_group_moved_to_another_template_is_seen_and_the_update_rescopes(clients, group):
    outs = backup.create(clients, props())
    new_template = _move_group(clients, group)
    assert backup.template_moved(clients, outs)  # preview
    refreshed = backup.read(clients, outs["backup_id"], outs)
    assert refreshed is not None and refreshed["group_template_id"] == new_template  # refresh
    updated = backup.update(clients, props(), outs["backup_id"], refreshed)
    assert updated["launch_template_id"] == new_template and not backup.template_moved(
        clients, updated)
    document = json.dumps(clients("iam").get_role_policy(
        RoleName=Names(outs["backup_id"]).runner_role, PolicyName="amibackup")["PolicyDocument"])
    assert new_template in document and group.template_id not in document
    assert claims(clients) == [template_claim_parameter(new_template)]


def test_destroy_with_the_group_gone_repoints_the_recorded_template(clients, group):
    outs = backup.create(clients, props())
    clients("ec2").create_launch_template_version(  # as if a run promoted a backup
        LaunchTemplateId=group.template_id, SourceVersion="1",
        LaunchTemplateData={"ImageId": _backup_image(clients, group, outs["backup_id"])})
    clients("ec2").modify_launch_template(LaunchTemplateId=group.template_id, DefaultVersion="2")
    clients("autoscaling").delete_auto_scaling_group(AutoScalingGroupName="web", ForceDelete=True)
    result = backup.delete(clients, outs["backup_id"], props(), outs["recorded_version"],
                           outs["launch_template_id"])
    assert default_image(clients("ec2"), group.template_id) == group.base_image
    assert result.restored_image == group.base_image and claims(clients) == []


def test_teardown_warnings_come_back_in_the_delete_result(clients, group):
    outs = backup.create(clients, props())
    image = _backup_image(clients, group, outs["backup_id"])
    clients("ec2").create_launch_template_version(
        LaunchTemplateId=group.template_id, SourceVersion="1",
        LaunchTemplateData={"ImageId": image})
    clients("ec2").modify_launch_template(LaunchTemplateId=group.template_id, DefaultVersion="2")
    clients("ec2").deregister_image(ImageId=group.base_image)  # nothing else to go back to
    result = backup.delete(clients, outs["backup_id"], props(), outs["recorded_version"],
                           outs["launch_template_id"])
    assert result.kept == [image] and any(image in w for w in result.warnings)


def _backup_image(clients: Clients, group: DemoGroup, backup_id: str) -> str:
    """An image of this backup, as the runner makes it: tagged, and in the backup's record."""
    instance = clients("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[group.group_name])["AutoScalingGroups"][0]["Instances"][0]
    tags = [{"Key": "amibackup:backup", "Value": backup_id}]
    image = str(clients("ec2").create_image(
        InstanceId=instance["InstanceId"], Name=f"amibackup-{backup_id}-t", NoReboot=True,
        TagSpecifications=[{"ResourceType": k, "Tags": tags} for k in ("image", "snapshot")]
    )["ImageId"])
    name = Names(backup_id).record_parameter
    seal = of_backup(clients("kms"), backup_id)  # as its runner signs it
    owned = record.read(clients("ssm"), name, seal).started(
        "t", instance["InstanceId"], datetime.now(UTC)).made(image, "t")
    record.write(clients("ssm"), name, owned, seal)
    return image


# --- through the provider process (gRPC), as the engine drives it -----------------------

def test_through_the_provider_a_moved_group_shows_in_preview_refresh_and_up(provider, aws,
                                                                          group, endpoint):
    news, failures = provider.check({"backup_name": "web-backup", "group_name": "web",
                                     "owner": "proj/dev/web-backup"})
    assert failures == []
    id_, outs = provider.create(news)
    assert (outs["reserved_concurrency"], outs["warnings"]) == (1, [])
    assert outs["ami_rule_arn"] and outs["alarm_names"] == []
    some = 2  # DiffResponse.DIFF_SOME (the dynamic provider reports no key names)
    assert provider.diff(id_, outs, news).changes != some  # nothing moved: no change
    new_template = _move_group(aws, group)
    # The next `pulumi preview` is a new command, so a new provider process (a process
    # lists the groups once and answers every Diff of its command from that listing).
    with provider_process({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}) as later:
        diff = later.diff(id_, outs, news)
    assert diff.changes == some and diff.replaces == []  # preview sees it: an update
    _, refreshed = provider.read(id_, outs)
    assert refreshed["group_template_id"] == new_template  # refresh sees it
    updated = provider.update(id_, refreshed, news)
    assert updated["launch_template_id"] == new_template
    assert provider.diff(id_, updated, news).changes != some
    provider.delete(id_, updated)
    assert rules(aws) == [] and claims(aws) == [] and alarm_names(aws) == []
