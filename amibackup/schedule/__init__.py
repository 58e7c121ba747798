"""Backup schedules: presets, cron -> EventBridge Scheduler conversion, checks and previews.

This is the pure functional core for schedules (stdlib + croniter only, no AWS) so that
configuration can be validated and previewed offline, before anything is deployed.

Two expression forms are accepted from users:

* standard 5-field cron, e.g. ``*/15 * * * 1-5`` (what most people know), which is
  converted to EventBridge form, keeping its exact meaning or refusing;
* EventBridge Scheduler's own ``cron(min hour dom month dow year)`` and
  ``rate(N unit)`` forms, which are validated and passed through, normalised.

Times are wall-clock times in the schedule's IANA timezone (EventBridge Scheduler's
``ScheduleExpressionTimezone``); run times and descriptions follow the Scheduler's
daylight-saving rules. Interval checks ignore daylight-saving shifts.

Where each concern lives:

* ``model``: ScheduleError, Schedule, PRESETS, FREQUENCIES, MIN_INTERVAL;
* ``fields``: the cron field model, tokens and their EventBridge text;
* ``standard``: 5-field cron -> EventBridge converter;
* ``eventbridge``: the cron(...) and rate(...) parsers; ``parse``: the front door;
* ``zones``: timezone check and daylight-saving rules; ``days``: calendar and minimum
  interval; ``runs``: next run times; ``describe``: descriptions; ``resolve``: the policy.

Only ``resolve``, ``next_runs`` and ``describe`` may read the clock, and only when no
``now``/``start`` is given; the memoised functions take every moment as an argument.
"""

from amibackup.schedule.days import min_interval
from amibackup.schedule.describe import describe
from amibackup.schedule.model import (
    FREQUENCIES,
    MAX_EXPRESSION,
    MIN_INTERVAL,
    PRESETS,
    Schedule,
    ScheduleError,
)
from amibackup.schedule.parse import to_eventbridge
from amibackup.schedule.resolve import resolve
from amibackup.schedule.runs import next_runs
from amibackup.schedule.zones import check_timezone

__all__ = [
    "FREQUENCIES",
    "MAX_EXPRESSION",
    "MIN_INTERVAL",
    "PRESETS",
    "Schedule",
    "ScheduleError",
    "check_timezone",
    "describe",
    "min_interval",
    "next_runs",
    "resolve",
    "to_eventbridge",
]
