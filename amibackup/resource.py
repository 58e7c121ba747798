"""`AmiAutoBackup`: the resource users declare next to their Auto Scaling group."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from amibackup.provider import AmiAutoBackupProvider

OUTPUTS = ("backup_id", "resolved_region", "schedule_expression", "schedule_description", "schedule_name",
           "schedule_arn", "schedule_state", "function_name", "function_arn", "role_arn",
           "scheduler_role_arn", "launch_template_id", "recorded_version", "code_sha256",
           "latest_image_id", "image_ids")


class AmiAutoBackup(Resource, module="amibackup", name="AmiAutoBackup"):
    """Scheduled AMI backups of an Auto Scaling group's newest instance.

    The group launches from the newest available backup; the last `retention`
    images (and their snapshots) are kept. See README.md for every input and output.
    """

    backup_id: pulumi.Output[str]
    resolved_region: pulumi.Output[str]
    schedule_expression: pulumi.Output[str]
    schedule_description: pulumi.Output[str]
    schedule_name: pulumi.Output[str]
    schedule_arn: pulumi.Output[str]
    schedule_state: pulumi.Output[str]
    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    scheduler_role_arn: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    recorded_version: pulumi.Output[int]
    code_sha256: pulumi.Output[str]
    latest_image_id: pulumi.Output[str | None]
    image_ids: pulumi.Output[list[str]]

    def __init__(
        self,
        resource_name: str,
        group_name: pulumi.Input[str],
        frequency: pulumi.Input[str] = "hourly",
        cron: pulumi.Input[str] | None = None,
        timezone: pulumi.Input[str] = "UTC",
        retention: pulumi.Input[int] = 3,
        persistence: pulumi.Input[dict[str, Any]] | None = None,
        no_reboot: pulumi.Input[bool] = True,
        paused: pulumi.Input[bool] = False,
        deregister_on_delete: pulumi.Input[bool] = True,
        tags: pulumi.Input[dict[str, str]] | None = None,
        region: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "backup_name": resource_name, "group_name": group_name, "frequency": frequency,
            "cron": cron, "timezone": timezone, "retention": retention,
            "persistence": persistence, "no_reboot": no_reboot, "paused": paused,
            "deregister_on_delete": deregister_on_delete, "tags": tags, "region": region,
            **{name: None for name in OUTPUTS},
        }
        super().__init__(AmiAutoBackupProvider(), resource_name, props, opts)
