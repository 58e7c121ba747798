"""The launch template has two owners: the program declares it, the backup adds versions.

The program (README's pattern) ignores `imageId`, `defaultVersion` and `latestVersion`
and keeps `update_default_version=True`. When it later edits the template, pulumi_aws
writes a whole new version from the program's data (the image it last knew: the base
image, since `imageId` is ignored) and makes it the default. This shows the backup is
not left stuck and the program's edit is never lost.
"""

from __future__ import annotations

from datetime import timedelta

from devkit.scenarios import T0, default_image, images_made


def test_a_program_edit_of_the_template_is_kept_and_backups_resume(provider, aws, group):
    ec2 = aws("ec2")
    news, _ = provider.check({"backup_name": "web-backup", "group_name": "web",
                              "owner": "amibackup/test/web-backup"})
    id_, outs = provider.create(news)
    made = images_made(aws, id_, 2)
    assert default_image(ec2, group.template_id) == made[-1]

    # `pulumi up` of a program that changed the instance type, as pulumi_aws does it.
    edit = ec2.create_launch_template_version(
        LaunchTemplateId=group.template_id,
        LaunchTemplateData={"ImageId": group.base_image, "InstanceType": "t3.small"},
    )["LaunchTemplateVersion"]["VersionNumber"]
    ec2.modify_launch_template(LaunchTemplateId=group.template_id, DefaultVersion=str(edit))

    # The next run backs up as usual and promotes on top of the program's version.
    (resumed,) = images_made(aws, id_, 1, start=T0 + timedelta(hours=3))
    assert resumed is not None and default_image(ec2, group.template_id) == resumed
    default = ec2.describe_launch_template_versions(
        LaunchTemplateId=group.template_id, Versions=["$Default"])["LaunchTemplateVersions"][0]
    assert default["LaunchTemplateData"]["InstanceType"] == "t3.small"  # the edit is kept
    assert default["VersionNumber"] == edit + 1

    provider.delete(id_, outs)
    assert default_image(ec2, group.template_id) == group.base_image
