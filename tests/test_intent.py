"""Issue 10 items 1-7 on the strict local AWS: the runner never acts against the operator.

Each test plays the runner's cycle (or its Lambda handler) against moto with the AWS
layers on (SourceVersion honoured, response-only fields in describes, ResolveAlias).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from moto.autoscaling.models import InstanceState
from moto.backends import get_backend

from amibackup.names import template_claim_parameter
from amibackup.runner.clients import Clients
from amibackup.runner.cycle import Summary, backup_images, run_cycle
from amibackup.runner.handler import handler
from devkit.scenarios import (
    T0,
    DemoGroup,
    create_group,
    default_image,
    deployed,
    hourly_job,
    on_time,
    roll_group,
)

ACCOUNT, REGION = "123456789012", "us-east-1"


def run(clients: Clients, group: DemoGroup, n: int, backup: str = "b1", **kw: Any) -> Summary:
    job = hourly_job(n, group.group_name, backup, 3, **kw)
    return run_cycle(job, clients, now=T0 + timedelta(hours=n, seconds=5))


def version(ec2: Any, template_id: str, which: str) -> dict[str, Any]:
    return dict(ec2.describe_launch_template_versions(
        LaunchTemplateId=template_id, Versions=[which])["LaunchTemplateVersions"][0])


def image_exists(ec2: Any, image_id: str) -> bool:
    return bool(ec2.describe_images(ImageIds=[image_id])["Images"])


def source_image(ec2: Any, image_id: str) -> str:
    tags = ec2.describe_images(ImageIds=[image_id])["Images"][0]["Tags"]
    return next(t["Value"] for t in tags if t["Key"] == "amibackup:source-image")


def new_version(ec2: Any, template_id: str, data: dict[str, Any], source: str = "$Default",
                make_default: bool = True) -> int:
    """An operator's new version, as with the AWS CLI: SourceVersion plus what changes."""
    number = int(ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion=source,
        LaunchTemplateData=data)["LaunchTemplateVersion"]["VersionNumber"])
    if make_default:
        ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(number))
    return number


# ------------------------------------------------------------ 1. rollback to an older backup

@pytest.mark.parametrize("how", ["new-version", "default-moved-back"])
def test_rollback_to_oldest_backup_is_neither_overwritten_nor_pruned(clients, group, how):
    ec2 = clients("ec2")
    made = [run(clients, group, n).created for n in range(3)]
    assert default_image(ec2, group.template_id) == made[2]
    time.sleep(1.1)  # the operator acts a second later than the last backup
    if how == "new-version":
        new_version(ec2, group.template_id, {"ImageId": made[0]})
    else:  # versions: 1 base, 2..4 the three promotions; the oldest backup is version 2
        ec2.modify_launch_template(LaunchTemplateId=group.template_id, DefaultVersion="2")
    assert default_image(ec2, group.template_id) == made[0]

    waiting = run(clients, group, 3)
    assert waiting.created is None and waiting.promoted is None and waiting.pruned == []
    assert any("manual change" in r and made[0] in r for r in waiting.skipped)
    assert default_image(ec2, group.template_id) == made[0]
    assert image_exists(ec2, made[0])

    # Backups resume once an instance runs the chosen image; it stays (instances use it).
    assert {i["ImageId"] for i in roll_group(clients, group.group_name)} == {made[0]}
    resumed = run(clients, group, 4)
    assert resumed.created and resumed.promoted == resumed.created
    assert source_image(ec2, resumed.created) == made[0]
    assert made[0] in resumed.protected and image_exists(ec2, made[0])


# ------------------------------------------------------------ 2. $Latest groups

def latest_group(clients: Clients) -> DemoGroup:
    group = create_group(clients, "web", size=2)
    clients("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=group.group_name,
        LaunchTemplate={"LaunchTemplateId": group.template_id, "Version": "$Latest"})
    return group


def test_latest_group_follows_and_keeps_an_operators_newer_version(clients):
    ec2 = clients("ec2")
    group = latest_group(clients)
    first = run(clients, group, 0)
    assert first.promoted == first.created
    assert version(ec2, group.template_id, "$Latest")["LaunchTemplateData"]["ImageId"] == \
        first.created
    assert version(ec2, group.template_id, "$Default")["VersionNumber"] == 1  # left alone
    roll_group(clients, group.group_name)

    # A colleague moves the group to a bigger instance type: a newer version, not the default.
    time.sleep(1.1)
    bigger = new_version(ec2, group.template_id, {"InstanceType": "t3.large"}, "$Latest",
                         make_default=False)
    second = run(clients, group, 1)
    assert second.created and second.promoted == second.created
    promoted = version(ec2, group.template_id, "$Latest")
    assert promoted["VersionNumber"] == bigger + 1
    assert promoted["LaunchTemplateData"]["ImageId"] == second.created
    assert promoted["LaunchTemplateData"]["InstanceType"] == "t3.large"  # copied, not reverted
    assert promoted["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"


def test_latest_group_golden_ami_is_not_reverted(clients):
    ec2 = clients("ec2")
    group = latest_group(clients)
    run(clients, group, 0)
    golden = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    golden_version = new_version(ec2, group.template_id, {"ImageId": golden}, "$Latest",
                                 make_default=False)
    summary = run(clients, group, 1)
    assert summary.created is None and summary.promoted is None
    latest = version(ec2, group.template_id, "$Latest")
    assert (latest["VersionNumber"], latest["LaunchTemplateData"]["ImageId"]) == \
        (golden_version, golden)


# ------------------------------------------------------------ 3. one template, two backups

def test_template_claimed_by_another_backup_fails_the_run_and_touches_nothing(clients, group):
    ec2 = clients("ec2")
    clients("ssm").put_parameter(Name=template_claim_parameter(group.template_id), Type="String",
                                 Value=json.dumps({"backup_id": "other-backup"}))
    summary = run(clients, group, 0)
    assert summary.created is None and summary.promoted is None
    assert any("claimed by backup other-backup" in f for f in summary.failed)
    assert backup_images(ec2, "b1") == [] and default_image(ec2, group.template_id) == \
        group.base_image
    with deployed(hourly_job(5, group.group_name)), \
            pytest.raises(RuntimeError, match="other-backup"):
        event = {"scheduled_time": "2026-11-01T05:00:00Z"}
        with on_time(event):
            handler(event)


def test_claim_by_this_backup_is_fine(clients, group):
    clients("ssm").put_parameter(Name=template_claim_parameter(group.template_id), Type="String",
                                 Value=json.dumps({"backup_id": "b1", "owner": "p/s/web"}))
    summary = run(clients, group, 0)
    assert summary.failed == [] and summary.promoted == summary.created


def test_group_moved_to_another_template_fails_the_run(clients, group):
    summary = run(clients, group, 0, template_id="lt-0123456789abcdef0")
    assert summary.created is None
    assert any("not lt-0123456789abcdef0" in f for f in summary.failed)


# ------------------------------------------------------------ 4. newest backup deregistered

def test_deregistered_newest_backup_is_repaired_at_once_and_backups_resume(clients, group):
    ec2 = clients("ec2")
    made = [run(clients, group, n).created for n in range(3)]
    ec2.deregister_image(ImageId=made[2])
    summary = run(clients, group, 3)
    assert any("repaired" in w and made[2] in w for w in summary.warnings)
    versions = ec2.describe_launch_template_versions(
        LaunchTemplateId=group.template_id)["LaunchTemplateVersions"]
    assert made[1] in {v["LaunchTemplateData"].get("ImageId") for v in versions}  # the repair
    assert summary.created and summary.promoted == summary.created  # and backups resume
    assert default_image(ec2, group.template_id) == summary.created


def test_no_backup_left_repairs_with_the_recorded_image(clients, group):
    ec2 = clients("ec2")
    only = run(clients, group, 0).created
    ec2.deregister_image(ImageId=only)
    summary = run(clients, group, 1, recorded_version=1)
    assert any("repaired" in w and group.base_image in w for w in summary.warnings)
    versions = ec2.describe_launch_template_versions(
        LaunchTemplateId=group.template_id)["LaunchTemplateVersions"]
    repair = max(versions, key=lambda v: v["VersionNumber"] if v["LaunchTemplateData"][
        "ImageId"] == group.base_image else 0)
    assert repair["VersionNumber"] > 2  # a new version, not the default moved back
    # instances run the recorded image, so backups resume from them at once
    assert summary.created and summary.promoted == summary.created
    assert default_image(ec2, group.template_id) == summary.created


def test_no_image_to_repair_with_fails_the_run(clients, group):
    ec2 = clients("ec2")
    only = run(clients, group, 0).created
    ec2.deregister_image(ImageId=only)
    summary = run(clients, group, 1)
    assert summary.created is None
    assert any(only in f and "no longer exists" in f for f in summary.failed)


# ------------------------------------------------------------ 5. mixed instances overrides

class OverrideInstance(InstanceState):
    """An instance Auto Scaling launched for an override that has its own template: AWS
    names that template in the group's Instances[].LaunchTemplate (moto launches every
    instance from the main template, so the test adds it as AWS would have)."""

    def __init__(self, instance: Any, group: Any, template: dict[str, str]) -> None:
        super().__init__(instance, autoscaling_group=group)
        self._template = template

    @property
    def launch_template(self) -> dict[str, str]:
        return self._template


def graviton_group(clients: Clients) -> tuple[DemoGroup, str]:
    """A group whose main template is x86 and whose override's own template is arm64.
    Returns the group and the arm template's id."""
    ec2, asg = clients("ec2"), clients("autoscaling")
    main = create_group(clients, "mixed-base", size=0)
    arm_image = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "architecture", "Values": ["arm64"]}])["Images"][0]["ImageId"]
    arm_lt = ec2.create_launch_template(
        LaunchTemplateName="mixed-arm", LaunchTemplateData={
            "ImageId": arm_image, "InstanceType": "m7g.large"})["LaunchTemplate"]
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="mixed", MinSize=0, MaxSize=4, DesiredCapacity=1,
        AvailabilityZones=[zone], MixedInstancesPolicy={"LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": main.template_id,
                                            "Version": "$Default"},
            "Overrides": [{"InstanceType": "t3.micro"}, {
                "InstanceType": "m7g.large", "LaunchTemplateSpecification": {
                    "LaunchTemplateId": arm_lt["LaunchTemplateId"], "Version": "$Default"}}]}})
    group = DemoGroup("mixed", main.template_id, main.template_name, main.base_image)
    return group, arm_lt["LaunchTemplateId"]


def launch_override(clients: Clients, arm_template: str) -> str:
    """Auto Scaling launches the newest instance for the Graviton override, from its template."""
    time.sleep(1.1)  # newer than every instance before, to the second
    arm = clients("ec2").run_instances(MinCount=1, MaxCount=1, LaunchTemplate={
        "LaunchTemplateId": arm_template})["Instances"][0]
    moto_group = get_backend("autoscaling")[ACCOUNT][REGION].autoscaling_groups["mixed"]
    moto_instance = get_backend("ec2")[ACCOUNT][REGION].get_instance(arm["InstanceId"])
    moto_group.instance_states.append(OverrideInstance(moto_instance, moto_group, {
        "LaunchTemplateId": arm_template, "LaunchTemplateName": "mixed-arm", "Version": "1"}))
    return str(arm["InstanceId"])


def architecture(ec2: Any, image_id: str) -> str:
    return str(ec2.describe_images(ImageIds=[image_id])["Images"][0]["Architecture"])


@pytest.mark.parametrize("backed_up_before", [False, True])
def test_graviton_override_instance_is_never_the_source(clients, backed_up_before):
    ec2 = clients("ec2")
    group, arm_template = graviton_group(clients)
    if backed_up_before:  # the template already launches one of the backup's images
        assert run(clients, group, 0).promoted
    arm_instance = launch_override(clients, arm_template)
    summary = run(clients, group, 1)
    assert summary.created and summary.source_instance != arm_instance
    assert architecture(ec2, summary.created) == "x86_64"
    assert summary.promoted == summary.created
    assert architecture(ec2, default_image(ec2, group.template_id)) == "x86_64"


# ------------------------------------------------------------ 6. resolve:ssm: aliases

def test_resolve_alias_layer(clients, group):
    ec2 = clients("ec2")
    clients("ssm").put_parameter(Name="/golden/web", Type="String", Value=group.base_image,
                                 DataType="aws:ec2:image")
    new_version(ec2, group.template_id, {"ImageId": "resolve:ssm:/golden/web"})
    raw = ec2.describe_launch_template_versions(LaunchTemplateId=group.template_id,
                                                Versions=["$Default"])
    resolved = ec2.describe_launch_template_versions(LaunchTemplateId=group.template_id,
                                                     Versions=["$Default"], ResolveAlias=True)
    assert raw["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"] == \
        "resolve:ssm:/golden/web"
    assert resolved["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"] == \
        group.base_image


def test_ssm_alias_is_resolved_before_comparing(clients, group):
    ec2 = clients("ec2")
    clients("ssm").put_parameter(Name="/golden/web", Type="String", Value=group.base_image,
                                 DataType="aws:ec2:image")
    alias_version = new_version(ec2, group.template_id, {"ImageId": "resolve:ssm:/golden/web"})
    summary = run(clients, group, 0)
    assert summary.created and summary.promoted == summary.created
    assert source_image(ec2, summary.created) == group.base_image
    promoted = version(ec2, group.template_id, "$Default")
    # Promotion replaces the alias by the backup's AMI id in the new version.
    assert promoted["VersionNumber"] == alias_version + 1
    assert promoted["LaunchTemplateData"]["ImageId"] == summary.created


# ------------------------------------------------------------ 7. group or template gone

def test_deleted_group_is_a_clean_logged_failure_every_run(clients, group, caplog):
    run(clients, group, 0)
    clients("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=group.group_name,
                                                    ForceDelete=True)
    for hour in (1, 2):
        with deployed(hourly_job(hour, group.group_name)), \
                pytest.raises(RuntimeError, match=f"group {group.group_name} not found"):
            event = {"scheduled_time": f"2026-11-01T0{hour}:00:00Z"}
            with on_time(event):
                handler(event)


def test_deleted_template_is_a_clean_logged_failure_every_run(clients, group):
    run(clients, group, 0)
    clients("ec2").delete_launch_template(LaunchTemplateId=group.template_id)
    for n in (1, 2):
        summary = run(clients, group, n)
        assert summary.created is None
        assert any(f"launch template {group.template_id} not found" in f
                   for f in summary.failed)
