"""What a schedule is: the error type, the validated result, the presets and the policy floor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

PRESETS: dict[str, str] = {
    "continuous": "rate(10 minutes)",
    "hourly": "cron(0 * * * ? *)",
    "daily": "cron(0 0 * * ? *)",
    "weekly": "cron(0 0 ? * SUN *)",
}
FREQUENCIES = ("continuous", "hourly", "daily", "weekly", "custom")
# The fastest preset ("continuous"): AMI creation takes minutes, faster is pointless and costly.
MIN_INTERVAL = timedelta(minutes=10)
MAX_EXPRESSION = 256  # EventBridge's limit on ScheduleExpression


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message says why and how to fix it."""


@dataclass(frozen=True)
class Schedule:
    """A validated schedule, ready for EventBridge Scheduler."""

    expression: str
    timezone: str = "UTC"
    description: str = ""
