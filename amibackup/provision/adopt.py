"""An existing backup, rebuilt from AWS alone: what `pulumi import` needs.

`describe(clients, backup_id)` returns the inputs a program would declare to get exactly
this backup (group, schedule, retention, reboot, tags, paused, alarm topic, claim owner)
and its outputs, read from the deployed parts: the runner function's job
(`AMIBACKUP_CONFIG`), the schedule, the alarms and the template claim. Nothing is changed.
The two inputs no part holds, `deregister_on_delete` and `persistence` (a plan-time check
of the group's settings only), are read from the function's tags `amibackup:on-delete` and
`amibackup:persistence`; a backup deployed before those tags existed gets their defaults,
with a warning (a wrong `deregister_on_delete` would deregister images at destroy).
"""

from __future__ import annotations

from typing import Any

from amibackup.names import PREFIX, TAG_ON_DELETE, TAG_PERSISTENCE, Names
from amibackup.provision import alarms, claim, events, lambda_fn, scheduler
from amibackup.provision.errors import ProvisionError, ignore_missing
from amibackup.schedule import PRESETS
from amibackup.spec import normalise, persistence_of_text


def schedule_inputs(expression: str, timezone: str) -> dict[str, Any]:
    """frequency (and cron) that resolve to `expression`: a preset's name, else custom."""
    named = [name for name, preset in PRESETS.items() if preset == expression]
    if named:
        return {"frequency": named[0], "timezone": timezone}
    return {"frequency": "custom", "cron": expression, "timezone": timezone}


def _topic(cloudwatch: Any, names: Names) -> str | None:
    found = cloudwatch.describe_alarms(AlarmNames=alarms.alarm_names(names))["MetricAlarms"]
    actions = [a for alarm in found for a in alarm.get("AlarmActions", [])]
    return str(actions[0]) if actions else None


def kept_inputs(function_tags: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """`deregister_on_delete` and `persistence` from the function's tags; warnings for what
    the tags do not tell."""
    on_delete = function_tags.get(TAG_ON_DELETE)
    inputs: dict[str, Any] = {"persistence": persistence_of_text(
        function_tags.get(TAG_PERSISTENCE))}
    if on_delete in ("deregister", "keep"):
        return {**inputs, "deregister_on_delete": on_delete == "deregister"}, []
    why = (f"deregister_on_delete: the runner function has no {TAG_ON_DELETE} tag (deployed "
           "before it was kept, or the tag was changed), so it came back as its default, "
           "true: destroy would deregister the backup's images. Declare deregister_on_delete "
           "explicitly in the program, then `pulumi up`")
    return inputs, [why]


def _concurrency(lam: Any, name: str) -> int | None:
    found = ignore_missing(lambda: lam.get_function_concurrency(FunctionName=name))
    reserved = (found or {}).get("ReservedConcurrentExecutions")
    return int(reserved) if reserved is not None else None


def describe(clients: Any, backup_id: str, default_owner: str | None = None
             ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(inputs, outputs) of the backup `backup_id` in `clients`' region; None when none of
    its parts exists. An `owner` equal to `default_owner` is left out of the inputs."""
    from amibackup.drift import live_parts
    from amibackup.provision import backup

    names = Names(backup_id)
    lam = clients("lambda")
    job = lambda_fn.job_of(lam, names.function)
    schedule = scheduler.get_schedule(clients("scheduler"), names.schedule)
    if job is None or schedule is None:
        if backup.read(clients, backup_id, {}) is None:
            return None
        raise ProvisionError(
            f"backup {backup_id} in {clients.region} is incomplete (its runner function or "
            "schedule is missing): it cannot be imported; delete what is left with the "
            "dynamic resource or by hand")
    inputs: dict[str, Any] = {
        "group_name": job["group_name"],
        **schedule_inputs(schedule["ScheduleExpression"],
                          schedule.get("ScheduleExpressionTimezone") or "UTC"),
        "retention": job.get("retention"), "no_reboot": job.get("no_reboot"),
        "paused": schedule.get("State") == "DISABLED",
        # the runner's job also carries amibackup's own keys (the stack tag): not inputs
        "tags": {k: v for k, v in (job.get("tags") or {}).items()
                 if not k.startswith(f"{PREFIX}:")},
    }
    function = lambda_fn.get_function(lam, names.function) or {}
    kept, warnings = kept_inputs(dict(lam.list_tags(Resource=function["FunctionArn"])
                                      .get("Tags", {})) if function else {})
    inputs.update(kept)
    topic = _topic(clients("cloudwatch"), names)
    if topic:
        inputs["alarm_topic_arn"] = topic
    template_id = job.get("template_id")
    holder = claim.holder(clients("ssm"), str(template_id)) if template_id else None
    if holder and holder["backup_id"] == backup_id and holder["owner"] not in (
            "", default_owner):
        inputs["owner"] = holder["owner"]
    inputs = {k: v for k, v in inputs.items() if v is not None}

    rule = events.get_rule(clients("events"), names) or {}
    found_alarms = clients("cloudwatch").describe_alarms(
        AlarmNames=alarms.alarm_names(names))["MetricAlarms"]
    state = {
        **normalise(inputs), "owner": holder["owner"] if holder else None,
        "backup_name": backup_id.rsplit("-", 1)[0],
        "backup_id": backup_id, "resolved_region": clients.region,
        "schedule_name": names.schedule, "schedule_arn": schedule.get("Arn"),
        "function_name": names.function, "function_arn": function.get("FunctionArn"),
        "role_arn": function.get("Role"),
        "scheduler_role_arn": schedule.get("Target", {}).get("RoleArn"),
        "launch_template_id": template_id,
        "recorded_version": job.get("recorded_version"),
        "reserved_concurrency": _concurrency(lam, names.function),
        "ami_rule_arn": rule.get("Arn"),
        "alarm_names": sorted(a["AlarmName"] for a in found_alarms),
        "warnings": warnings,
    }
    outputs = backup.read(clients, backup_id, state)
    assert outputs is not None  # the function and schedule exist
    return inputs, live_parts(clients, backup_id, outputs)
