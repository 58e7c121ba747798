"""Optional CloudWatch alarms on the runner's EMF metrics (namespace `amibackup`).

Two alarms notify the `alarm_topic_arn` topic: a run reported a failure (`Failed` >= 1),
and no new available backup for two schedule periods (`NewestBackupAgeSeconds` above
twice the period, with missing data breaching: runs that stop reporting are stale too).
Thresholds are plain data computed here (pure), so they are tested without AWS.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from amibackup.names import Names
from amibackup.schedule import next_runs

NAMESPACE = "amibackup"
DIMENSION = "Backup"
FAILED_PERIOD = 300
DAY = 86_400
# CloudWatch: Period x EvaluationPeriods <= 1 day when Period < 1 hour, else <= 7 days.
SHORT_WINDOW, LONG_WINDOW = DAY, 7 * DAY
SAMPLE_RUNS = 200  # enough runs to see a schedule's longest gap (weekends, month ends)


def schedule_period(expression: str, tz: str, start: datetime | None = None) -> int:
    """The schedule's longest gap between runs, in seconds (a weekday cron: the weekend)."""
    anchor = start or datetime(2030, 1, 1, tzinfo=UTC)
    runs = next_runs(expression, SAMPLE_RUNS, tz, anchor)
    gaps = [(b - a).total_seconds() for a, b in pairwise(runs)]
    return int(max(gaps))


def stale_window(period: int) -> tuple[int, int]:
    """(alarm Period, EvaluationPeriods) covering two schedule periods within CloudWatch's
    limits: buckets of one schedule period (at most a day), as many as fit in 2 periods."""
    bucket = min(max(60, math.ceil(period / 60) * 60), DAY)
    limit = (SHORT_WINDOW if bucket < 3600 else LONG_WINDOW) // bucket
    return bucket, max(1, min(math.ceil(2 * period / bucket), limit))


def alarm_requests(names: Names, topic_arn: str, period: int) -> list[dict[str, Any]]:
    """PutMetricAlarm requests of both alarms."""
    common = {"Namespace": NAMESPACE, "AlarmActions": [topic_arn], "OKActions": [topic_arn],
              "Dimensions": [{"Name": DIMENSION, "Value": names.backup_id}]}
    bucket, count = stale_window(period)
    return [
        {**common, "AlarmName": names.failed_alarm, "MetricName": "Failed",
         "AlarmDescription": f"amibackup {names.backup_id}: a run failed (see its log group "
                             f"{names.log_group})",
         "Statistic": "Sum", "Period": FAILED_PERIOD, "EvaluationPeriods": 1,
         "Threshold": 1.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
         "TreatMissingData": "notBreaching"},
        {**common, "AlarmName": names.stale_alarm, "MetricName": "NewestBackupAgeSeconds",
         "AlarmDescription": f"amibackup {names.backup_id}: no new available backup for two "
                             f"schedule periods ({2 * period} s), or runs stopped reporting",
         "Statistic": "Maximum", "Period": bucket, "EvaluationPeriods": count,
         "DatapointsToAlarm": count, "Threshold": float(2 * period),
         "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "breaching"},
    ]


def alarm_names(names: Names) -> list[str]:
    return [names.failed_alarm, names.stale_alarm]


def ensure_alarms(cloudwatch: Any, names: Names, topic_arn: str | None, period: int
                  ) -> list[str]:
    """Both alarms with a topic; none without (removing the input removes them)."""
    if not topic_arn:
        remove_alarms(cloudwatch, names)
        return []
    for request in alarm_requests(names, topic_arn, period):
        cloudwatch.put_metric_alarm(**request)  # creates or overwrites in place
    return alarm_names(names)


def remove_alarms(cloudwatch: Any, names: Names) -> None:
    """Delete the alarms that exist: DeleteAlarms fails whole on a name that does not."""
    found = cloudwatch.describe_alarms(AlarmNames=alarm_names(names))["MetricAlarms"]
    if found:
        cloudwatch.delete_alarms(AlarmNames=[a["AlarmName"] for a in found])
