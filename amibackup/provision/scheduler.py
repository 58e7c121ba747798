"""The EventBridge Scheduler schedule whose target input is the runner's whole job."""

from __future__ import annotations

import json
from typing import Any

from amibackup.names import SCHEDULE_PREFIX
from amibackup.provision.errors import ignore_missing, until_propagated

GROUP = "default"
# Scheduler substitutes this with the run's scheduled time: it names the run's image.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


def schedule_request(name: str, expression: str, timezone: str, enabled: bool,
                     function_arn: str, role_arn: str, job: dict[str, Any]) -> dict[str, Any]:
    return {
        "Name": name, "GroupName": GROUP, "ScheduleExpression": expression,
        "ScheduleExpressionTimezone": timezone, "State": "ENABLED" if enabled else "DISABLED",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Description": f"amibackup {job['backup_id']} of group {job['group_name']}",
        "Target": {
            "Arn": function_arn, "RoleArn": role_arn,
            "Input": json.dumps({**job, "scheduled_time": SCHEDULED_TIME}, sort_keys=True),
            # A retried delivery of the same run carries the same scheduled time, so it
            # cannot make a second image; 10 minutes is the shortest schedule period.
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
        },
    }


def put_schedule(scheduler: Any, request: dict[str, Any], create: bool) -> str:
    call = scheduler.create_schedule if create else scheduler.update_schedule
    out = until_propagated(lambda: call(**request), ("ValidationException",), "role")
    return str(out["ScheduleArn"])


def get_schedule(scheduler: Any, name: str) -> dict[str, Any] | None:
    return ignore_missing(lambda: scheduler.get_schedule(Name=name, GroupName=GROUP))


def delete_schedule(scheduler: Any, name: str) -> None:
    ignore_missing(lambda: scheduler.delete_schedule(Name=name, GroupName=GROUP))


def backups_of_group(scheduler: Any, group_name: str) -> list[str]:
    """Names of amibackup schedules in this region whose job backs up `group_name`."""
    found = []
    for page in scheduler.get_paginator("list_schedules").paginate(NamePrefix=SCHEDULE_PREFIX):
        for item in page["Schedules"]:
            detail = get_schedule(scheduler, item["Name"])
            job = json.loads((detail or {}).get("Target", {}).get("Input") or "{}")
            if job.get("group_name") == group_name:
                found.append(item["Name"])
    return found
