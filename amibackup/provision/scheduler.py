"""The EventBridge Scheduler schedule whose target input is the runner's whole job."""

from __future__ import annotations

import json
from typing import Any

from amibackup.names import SCHEDULE_PREFIX
from amibackup.provision.errors import ignore_missing, until_propagated
from amibackup.provision.lambda_fn import job_of

GROUP = "default"
# Scheduler substitutes this with the run's scheduled time: it names the run's image.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
FLEXIBLE_TIME_WINDOW: dict[str, Any] = {"Mode": "OFF"}
# A retried delivery of the same run carries the same scheduled time, so it cannot make a
# second image; 10 minutes is the shortest schedule period.
RETRY_POLICY = {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600}


def delivery_window_seconds() -> int:
    """How late after its scheduled time Scheduler may still deliver a run: the flexible
    window plus the retry policy's event age. The runner refuses older scheduled times."""
    flexible = int(FLEXIBLE_TIME_WINDOW.get("MaximumWindowInMinutes", 0)) * 60 \
        if FLEXIBLE_TIME_WINDOW["Mode"] == "FLEXIBLE" else 0
    return flexible + int(RETRY_POLICY["MaximumEventAgeInSeconds"])


def schedule_input() -> str:
    """The target's Input: the run's scheduled time alone (the job is the function's own)."""
    return json.dumps({"scheduled_time": SCHEDULED_TIME})


def schedule_request(name: str, expression: str, timezone: str, enabled: bool,
                     function_arn: str, role_arn: str, description: str) -> dict[str, Any]:
    return {
        "Name": name, "GroupName": GROUP, "ScheduleExpression": expression,
        "ScheduleExpressionTimezone": timezone, "State": "ENABLED" if enabled else "DISABLED",
        "FlexibleTimeWindow": dict(FLEXIBLE_TIME_WINDOW),
        "Description": description[:512],
        "Target": {
            "Arn": function_arn, "RoleArn": role_arn,
            "Input": schedule_input(),
            "RetryPolicy": dict(RETRY_POLICY),
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


def backups_of_group(scheduler: Any, lam: Any, group_name: str) -> list[str]:
    """Names of amibackup schedules in this region whose runner backs up `group_name`
    (by the deployed job of the function the schedule invokes)."""
    found = []
    for page in scheduler.get_paginator("list_schedules").paginate(NamePrefix=SCHEDULE_PREFIX):
        for item in page["Schedules"]:
            detail = get_schedule(scheduler, item["Name"])
            function = (detail or {}).get("Target", {}).get("Arn")
            job = job_of(lam, function) if function else None
            if job and job.get("group_name") == group_name:
                found.append(item["Name"])
    return found
