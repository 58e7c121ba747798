"""Issue 18 item 10: every AWS limit a run depends on is checked at plan time or made to fit.

On the strict local AWS (CreateImage's name and description rules, Lambda's 4 KB of
environment variables, IAM/Lambda tag rules), through the provider's gRPC hooks and the
runner as deployed (the schedule's target invoked as Lambda would).
"""

from __future__ import annotations

from typing import Any

import pytest

from amibackup.names import (
    DESCRIPTION_MAX,
    STEM_MAX,
    TAG_KEPT,
    TAG_OWNER,
    image_description,
    image_name,
    new_backup_id,
)
from amibackup.runner.clients import Clients
from amibackup.runner.config import ENV_VAR, ENVIRONMENT_LIMIT, environment_size
from amibackup.spec import MAX_TAGS
from devkit.scenarios import (
    T0,
    DemoGroup,
    base_image,
    fire_schedule,
    images_made,
    template_data,
)
from tests.support.harness import ProviderClient


def inputs(group_name: str = "web", **overrides: object) -> dict[str, object]:
    return {"backup_name": "web-backup", "group_name": group_name, "frequency": "hourly",
            "retention": 3.0, **overrides}


# Forty tags that pass every per-tag rule, but not Lambda's 4 KB together.
BIG_TAGS = {f"k{n:02d}{'k' * 100}": "v" * 200 for n in range(MAX_TAGS)}


def role_tags(aws: Clients, role: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in aws("iam").list_role_tags(RoleName=role)["Tags"]}


def function_environment(aws: Clients, name: str) -> dict[str, str]:
    config = aws("lambda").get_function_configuration(FunctionName=name)
    return dict(config["Environment"]["Variables"])


def test_check_refuses_tags_that_overflow_the_functions_environment(provider: ProviderClient):
    _, failures = provider.check(inputs(tags=BIG_TAGS))
    [(field, reason)] = failures
    assert field == "tags"
    assert f"Lambda allows {ENVIRONMENT_LIMIT} bytes" in reason and "Shorten or remove" in reason
    fitting = dict(list(BIG_TAGS.items())[:5])
    assert provider.check(inputs(tags=fitting))[1] == []


def test_an_update_that_cannot_fit_changes_nothing(provider: ProviderClient, aws, group):
    """Past Check (values unknown at preview): refused before the roles are re-tagged."""
    news, _ = provider.check(inputs(tags={"team": "web"}))
    id_, outs = provider.create(news)
    roles = {r: role_tags(aws, r) for r in (f"amibackup-{id_}-run", f"amibackup-{id_}-sch")}
    environment = function_environment(aws, outs["function_name"])
    with pytest.raises(Exception, match="tags: the runner's job carries your tags"):
        provider.update(id_, outs, {**news, "tags": BIG_TAGS})
    assert {r: role_tags(aws, r) for r in roles} == roles
    assert function_environment(aws, outs["function_name"]) == environment
    provider.delete(id_, outs)


def long_named_group(aws: Clients, length: int = 200) -> DemoGroup:
    """A group whose name is as long as AWS allows it to be, near enough (255 max)."""
    ec2 = aws("ec2")
    name = ("web-" * 64)[:length]
    image = base_image(ec2, "long-base")
    template_id = ec2.create_launch_template(
        LaunchTemplateName="long-lt",
        LaunchTemplateData=template_data(image, "long"))["LaunchTemplate"]["LaunchTemplateId"]
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    aws("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=2, DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Default"},
        AvailabilityZones=[zone])
    return DemoGroup(name, template_id, "long-lt", image)


def test_a_long_group_name_still_makes_images(provider: ProviderClient, aws):
    """CreateImage refuses descriptions over 255 characters: the group name is shortened."""
    group = long_named_group(aws)
    news, failures = provider.check(inputs(group.group_name, backup_name=group.group_name))
    assert failures == []
    id_, outs = provider.create(news)
    summary = fire_schedule(aws, id_, T0)
    assert summary["created"] and summary["failed"] == []
    image = aws("ec2").describe_images(ImageIds=[summary["created"]])["Images"][0]
    assert len(image["Description"]) <= DESCRIPTION_MAX and image["Description"].endswith(
        f"..., run {summary['run']}")
    provider.delete(id_, outs)


def test_an_owner_with_any_characters_is_tagged_as_tags_allow(provider: ProviderClient, aws,
                                                              group):
    """Pulumi resource names may hold any character; IAM and Lambda tag values may not."""
    owner = "shop/prod/web, backup & co " + "x" * 300
    news, failures = provider.check(inputs(owner=owner))
    assert failures == []
    id_, outs = provider.create(news)
    tagged = aws("lambda").list_tags(Resource=outs["function_arn"])["Tags"][TAG_OWNER]
    assert tagged.startswith("shop/prod/web- backup - co x") and len(tagged) == 256
    assert role_tags(aws, f"amibackup-{id_}-run")[TAG_OWNER] == tagged
    provider.delete(id_, outs)


def test_the_most_tags_allowed_fit_every_resource_they_land_on(provider: ProviderClient, aws,
                                                                group):
    """50 tags per image, snapshot, role and function, amibackup's own included."""
    tags = {f"t{n}": "v" for n in range(MAX_TAGS)}
    news, failures = provider.check(inputs(tags=tags))
    assert failures == []
    id_, outs = provider.create(news)
    [image_id] = images_made(aws, id_, 1)
    ec2 = aws("ec2")
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    snap_tags = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["Tags"]
    counts = {"image": len(image["Tags"]) + 1,  # + amibackup:kept, should teardown keep it
              "snapshot": len(snap_tags),
              "function": len(aws("lambda").list_tags(Resource=outs["function_arn"])["Tags"]),
              "runner role": len(role_tags(aws, f"amibackup-{id_}-run")),
              "scheduler role": len(role_tags(aws, f"amibackup-{id_}-sch"))}
    assert all(count <= 50 for count in counts.values()), counts
    assert TAG_KEPT not in {t["Key"] for t in image["Tags"]}
    provider.delete(id_, outs)


def test_names_and_descriptions_fit_for_any_input() -> None:
    """Pure: the longest backup id and group name still give a valid AMI name and description."""
    backup_id = new_backup_id("r" * 300)
    assert len(backup_id) == STEM_MAX + 9
    run = "20261101T0100Z"
    for group in ("w", "w" * 166, "w" * 167, "g" * 255):
        description = image_description(backup_id, group, run)
        assert len(description) <= DESCRIPTION_MAX and description.endswith(f", run {run}")
        assert group in description or "..." in description
    assert 3 <= len(image_name(backup_id, run)) <= 128


def test_the_plan_time_bound_covers_the_deployed_environment(provider: ProviderClient, aws,
                                                             group):
    """What Check lets through fits once deployed: the largest accepted tags, measured."""
    tags: dict[str, Any] = {}
    for n in range(MAX_TAGS):  # grow until Check refuses, then keep the last accepted set
        candidate = {**tags, f"k{n:02d}{'k' * 60}": "v" * 40}
        if provider.check(inputs(tags=candidate))[1]:
            break
        tags = candidate
    news, _ = provider.check(inputs(tags=tags))
    id_, outs = provider.create(news)
    deployed = function_environment(aws, outs["function_name"])
    assert ENV_VAR in deployed and environment_size(deployed) <= ENVIRONMENT_LIMIT
    provider.delete(id_, outs)
