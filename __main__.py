"""The amibackup Pulumi program: backups declared from stack config.

Each entry of `amibackup:backups` backs up either an existing group (`group_name`)
or a group declared right here with pulumi_aws (`group`: a launch template and an
Auto Scaling group whose name the backup then follows). See stacks/ and README.md.
"""

from __future__ import annotations

from typing import Any

import pulumi

from amibackup import AmiAutoBackup
from amibackup.schema import INPUT_KEYS

BACKUP_KEYS = tuple(k for k in INPUT_KEYS if k != "group_name")  # group_name: see below


def import_pulumi_aws(entry: str) -> Any:
    """pulumi_aws, an optional extra: only an entry with `group:` needs it."""
    try:
        import pulumi_aws
    except ImportError as err:
        raise ImportError(
            f"amibackup:backups entry {entry!r} declares a group (group:), which needs "
            "pulumi_aws: pip install 'amibackup[example]', or back up an existing group "
            "with group_name: instead") from err
    return pulumi_aws


def declare_group(name: str, group: dict[str, Any]) -> pulumi.Output[str]:
    """A launch template and an Auto Scaling group that launches its default version."""
    aws = import_pulumi_aws(name)

    template = aws.ec2.LaunchTemplate(
        f"{name}-lt",
        image_id=group["image_id"],
        instance_type=group.get("instance_type", "t3.micro"),
        update_default_version=True,
        tags=group.get("tags"),
        # After creation the backup owns the image: its new versions are not drift.
        opts=pulumi.ResourceOptions(ignore_changes=["imageId", "defaultVersion",
                                                    "latestVersion"]),
    )
    size = int(group.get("size", 2))
    asg = aws.autoscaling.Group(
        f"{name}-asg",
        min_size=int(group.get("min_size", size)),
        max_size=int(group.get("max_size", max(size, 1) * 2)),
        desired_capacity=size,
        availability_zones=group.get("availability_zones"),
        vpc_zone_identifiers=group.get("subnet_ids"),
        # $Default: the group launches whatever version the backup makes the default.
        launch_template=aws.autoscaling.GroupLaunchTemplateArgs(id=template.id,
                                                                version="$Default"),
    )
    return asg.name


def declare_backups(entries: list[dict[str, Any]]) -> dict[str, AmiAutoBackup]:
    backups: dict[str, AmiAutoBackup] = {}
    for entry in entries:
        name = entry["name"]
        if "group" in entry:
            group_name: Any = declare_group(name, entry["group"])
        else:
            group_name = entry.get("group_name")
        options = {k: entry[k] for k in BACKUP_KEYS if k in entry}
        backup = AmiAutoBackup(name, group_name=group_name, **options)
        backups[name] = backup
        pulumi.export(name, {
            "backup_id": backup.backup_id,
            "group_name": group_name,
            "schedule_expression": backup.schedule_expression,
            "schedule_description": backup.schedule_description,
            "schedule_arn": backup.schedule_arn,
            "schedule_state": backup.schedule_state,
            "function_arn": backup.function_arn,
            "role_arn": backup.role_arn,
            "latest_image_id": backup.latest_image_id,
            "image_ids": backup.image_ids,
        })
    return backups


backups = declare_backups(pulumi.Config("amibackup").require_object("backups"))
