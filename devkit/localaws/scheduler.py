"""EventBridge Scheduler: expressions, names and tags refused as AWS refuses them.

AWS rules (moto checks none of them):

- CreateSchedule and UpdateSchedule refuse a ScheduleExpression outside Scheduler's grammar
  ("Schedule types on EventBridge Scheduler": rate, at and six-field cron, with the wildcards
  each field allows) with ValidationException. The grammar itself is
  `scheduler_grammar.expression_error`.
- Schedule and schedule-group names follow the model's `[0-9a-zA-Z-_.]+` (1 to 64), and
  schedule-group tags the model's lengths and count (see naming.py: read from botocore).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from moto.scheduler.exceptions import ValidationException
from moto.scheduler.models import EventBridgeSchedulerBackend

from devkit.localaws import scheduler_grammar
from devkit.localaws.layers import Patch
from devkit.localaws.naming import refuse, violations

Backend = EventBridgeSchedulerBackend
_plain: dict[str, Callable[..., Any]] = {name: getattr(Backend, name) for name in (
    "create_schedule", "update_schedule", "create_schedule_group", "tag_resource")}


def _check_schedule(operation: str, name: str, group_name: str | None,
                    schedule_expression: str) -> None:
    """The checks AWS makes on a schedule before it stores anything."""
    refuse(violations("scheduler", operation, {"Name": unquote(name), "GroupName": group_name}),
           ValidationException)
    error = scheduler_grammar.expression_error(schedule_expression)
    if error is not None:
        raise ValidationException(error)


def create_schedule(self: Backend, **kwargs: Any) -> Any:
    _check_schedule("CreateSchedule", kwargs["name"], kwargs.get("group_name"),
                    kwargs["schedule_expression"])
    return _plain["create_schedule"](self, **kwargs)


def update_schedule(self: Backend, **kwargs: Any) -> Any:
    _check_schedule("UpdateSchedule", kwargs["name"], kwargs.get("group_name"),
                    kwargs["schedule_expression"])
    return _plain["update_schedule"](self, **kwargs)


def create_schedule_group(self: Backend, name: str, tags: list[dict[str, str]]) -> Any:
    refuse(violations("scheduler", "CreateScheduleGroup", {"Name": name, "Tags": tags}),
           ValidationException)
    return _plain["create_schedule_group"](self, name, tags)


def tag_resource(self: Backend, resource_arn: str, tags: list[dict[str, str]]) -> None:
    refuse(violations("scheduler", "TagResource", {"Tags": tags}), ValidationException)
    _plain["tag_resource"](self, resource_arn, tags)


def patches() -> list[Patch]:
    return [Patch(Backend, name, replacement) for name, replacement in (
        ("create_schedule", create_schedule), ("update_schedule", update_schedule),
        ("create_schedule_group", create_schedule_group), ("tag_resource", tag_resource))]
