"""Issue 18 items 1 and 2: teardown restores what groups launch, on every template it touched.

Through the provider's hooks over gRPC (as the engine drives them) and the runner as
deployed (the schedule's target invoked as Lambda would), on the strict local AWS.
"""

from __future__ import annotations

from typing import Any

from amibackup.names import TAG_KEPT
from amibackup.provision import backup
from amibackup.runner.clients import Clients
from amibackup.runner.cycle import backup_images
from amibackup.schema import BackupSpec
from amibackup.spec import normalise
from devkit.scenarios import DemoGroup, Leftovers, images_made, leftovers, template_data
from tests.support.harness import ProviderClient


def inputs(**overrides: object) -> dict[str, object]:
    return {"backup_name": "web-backup", "group_name": "web", "frequency": "hourly",
            "retention": 3.0, **overrides}


def checked(provider: ProviderClient, **overrides: object) -> dict[str, object]:
    news, failures = provider.check(inputs(**overrides))
    assert failures == []
    return news


def version(ec2: Any, template_id: str, which: str) -> dict[str, Any]:
    return dict(ec2.describe_launch_template_versions(
        LaunchTemplateId=template_id, Versions=[which])["LaunchTemplateVersions"][0])


def image_of(ec2: Any, template_id: str, which: str) -> str:
    return str(version(ec2, template_id, which)["LaunchTemplateData"]["ImageId"])


def live(ec2: Any, image_id: str) -> bool:
    found = ec2.describe_images(ImageIds=[image_id])["Images"]
    return bool(found) and found[0]["State"] == "available"


def on_latest(aws: Clients, group: DemoGroup) -> None:
    aws("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=group.group_name,
        LaunchTemplate={"LaunchTemplateId": group.template_id, "Version": "$Latest"})


def test_destroy_of_a_latest_group_leaves_latest_on_a_live_image(provider, aws, group):
    """Item 1: promotions on a `$Latest` group never move the default; teardown must make a
    new latest (a copy of the launched version, only the image changed)."""
    ec2 = aws("ec2")
    on_latest(aws, group)
    # A colleague's newer version (bigger instances) that the group launches.
    ec2.create_launch_template_version(LaunchTemplateId=group.template_id, SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.large"})
    id_, outs = provider.create(checked(provider))
    made = images_made(aws, id_, 2)
    assert image_of(ec2, group.template_id, "$Latest") == made[-1]
    assert version(ec2, group.template_id, "$Default")["VersionNumber"] == 1  # never moved
    provider.delete(id_, outs)
    latest = version(ec2, group.template_id, "$Latest")
    assert latest["LaunchTemplateData"]["ImageId"] == group.base_image
    assert live(ec2, group.base_image)
    assert latest["LaunchTemplateData"]["InstanceType"] == "t3.large"  # a copy of it
    assert latest["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] == "required"
    assert image_of(ec2, group.template_id, "$Default") == group.base_image
    assert leftovers(aws, id_) == Leftovers()


def test_destroy_restores_latest_when_only_the_default_launched_a_backup(provider, aws, group):
    """A new default also becomes the latest: the latest an operator made is copied back on
    top, so a `$Latest` group keeps launching exactly what it did."""
    ec2 = aws("ec2")
    id_, outs = provider.create(checked(provider))
    made = images_made(aws, id_, 1)
    assert image_of(ec2, group.template_id, "$Default") == made[0]
    golden = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template_version(LaunchTemplateId=group.template_id, SourceVersion="1",
                                       LaunchTemplateData={"ImageId": golden,
                                                           "InstanceType": "t3.large"})
    on_latest(aws, group)
    provider.delete(id_, outs)
    latest = version(ec2, group.template_id, "$Latest")["LaunchTemplateData"]
    assert (latest["ImageId"], latest["InstanceType"]) == (golden, "t3.large")
    default = version(ec2, group.template_id, "$Default")["LaunchTemplateData"]
    # The default copies the old default; its image is the operator's newer choice.
    assert (default["ImageId"], default["InstanceType"]) == (golden, "t3.micro")
    assert leftovers(aws, id_) == Leftovers()


def moved_to_copy(aws: Clients, group: DemoGroup, image: str, with_base: bool) -> str:
    """The operator moves the group to a new template launching `image` (a copy of the old
    template's data); `with_base`: the new template's first version has the base AMI."""
    ec2 = aws("ec2")
    first = group.base_image if with_base else image
    template_id = ec2.create_launch_template(
        LaunchTemplateName="web-lt-2",
        LaunchTemplateData=template_data(first, "web"))["LaunchTemplate"]["LaunchTemplateId"]
    if with_base:
        ec2.create_launch_template_version(LaunchTemplateId=template_id, SourceVersion="1",
                                           LaunchTemplateData={"ImageId": image})
        ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="2")
    aws("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=group.group_name,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Default"})
    return str(template_id)


def test_destroy_after_the_group_moved_restores_both_templates(provider, aws, group):
    """Item 2: the recorded template and the group's current one both launch a live image."""
    ec2 = aws("ec2")
    id_, outs = provider.create(checked(provider))
    made = images_made(aws, id_, 2)
    moved = moved_to_copy(aws, group, str(made[0]), with_base=True)
    provider.delete(id_, outs)  # no `pulumi up` in between: state names the old template
    for template in (group.template_id, moved):
        for which in ("$Default", "$Latest"):
            assert image_of(ec2, template, which) == group.base_image, (template, which)
    assert leftovers(aws, id_) == Leftovers()


def test_destroy_never_deregisters_what_a_moved_template_launches(provider, aws, group):
    """The new template has no image outside the backup: its backup is kept, tagged why."""
    ec2 = aws("ec2")
    id_, outs = provider.create(checked(provider))
    made = images_made(aws, id_, 2)
    moved = moved_to_copy(aws, group, str(made[0]), with_base=False)
    provider.delete(id_, outs)
    assert image_of(ec2, group.template_id, "$Default") == group.base_image
    assert image_of(ec2, moved, "$Default") == made[0] and live(ec2, str(made[0]))
    [kept] = backup_images(ec2, id_)
    assert kept.image_id == made[0] and moved in kept.tags[TAG_KEPT]
    assert not live(ec2, str(made[1]))


def test_kept_images_are_in_the_teardown_warnings(aws, group):
    """The reason reaches the user: teardown's warnings (the provider says each one)."""
    spec = BackupSpec.from_props(normalise(inputs()))
    outs = backup.create(aws, spec)
    made = images_made(aws, outs["backup_id"], 1)
    moved_to_copy(aws, group, str(made[0]), with_base=False)
    result = backup.delete(aws, outs["backup_id"], spec, outs["recorded_version"],
                           outs["launch_template_id"])
    assert result.kept == [made[0]]
    assert [w for w in result.warnings if w.startswith(f"kept {made[0]}: launch template")]
