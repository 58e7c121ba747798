"""User configuration (frequency, optional cron, timezone) -> a validated Schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from amibackup.schedule.days import interval_lower_bound, min_interval
from amibackup.schedule.describe import describe
from amibackup.schedule.model import FREQUENCIES, MIN_INTERVAL, PRESETS, Schedule, ScheduleError
from amibackup.schedule.parse import to_eventbridge
from amibackup.schedule.runs import next_runs
from amibackup.schedule.zones import check_timezone


def _expression(frequency: str, cron: str | None) -> str:
    """The EventBridge expression a frequency (and, for 'custom', its cron) stands for."""
    freq = frequency.strip().lower() if isinstance(frequency, str) else frequency
    if freq not in FREQUENCIES:
        raise ScheduleError(
            f"unknown frequency '{frequency}'; choose one of: {', '.join(FREQUENCIES)}."
        )
    if isinstance(cron, str) and not cron.strip():
        cron = None
    if freq == "custom":
        if cron is None:
            raise ScheduleError(
                "frequency 'custom' needs a cron expression, e.g. '30 2 * * *' (02:30 every day) "
                "or 'cron(30 2 * * ? *)'."
            )
        return to_eventbridge(cron)
    if cron is not None:
        raise ScheduleError(
            f"a cron expression ('{cron}') was given with frequency '{freq}', which would "
            "ignore it; set frequency to 'custom' to use the cron, or remove the cron."
        )
    return PRESETS[freq]


@lru_cache(maxsize=1024)
def _checked(frequency: str, cron: str | None, timezone: str, year: int) -> Schedule:
    """Pure and memoised: everything about a schedule that does not depend on the moment.

    `year` is where the description starts looking at the zone's clock changes.
    """
    expression = _expression(frequency, cron)
    check_timezone(timezone)
    gap = interval_lower_bound(expression)
    if gap < MIN_INTERVAL:
        gap = min_interval(expression)  # exact, for the message (and to be sure)
    if gap < MIN_INTERVAL:
        raise ScheduleError(
            f"schedule '{cron or expression}' runs as often as every {_fmt_gap(gap)}; the minimum "
            f"is {_fmt_gap(MIN_INTERVAL)} (the 'continuous' preset). Use frequency 'continuous' or "
            "a slower schedule, e.g. '*/10 * * * *'."
        )
    return Schedule(
        expression=expression,
        timezone=timezone,
        description=describe(expression, timezone, datetime(year, 1, 1, tzinfo=UTC)),
    )


def resolve(
    frequency: str, cron: str | None = None, timezone: str = "UTC", now: datetime | None = None
) -> Schedule:
    """Turn user configuration (frequency, optional cron, timezone) into a validated Schedule.

    Refuses unknown frequencies, a cron given with a preset (it would be silently ignored),
    invalid timezones, anything faster than MIN_INTERVAL, and schedules that never run
    after `now` (default: the current time, read here and only here; a naive `now` is
    wall-clock time in `timezone`, as in next_runs).
    """
    moment = now if now is not None else datetime.now(UTC)
    schedule = _checked(frequency, cron, timezone, moment.year)
    if not next_runs(schedule.expression, 1, timezone, moment):
        raise ScheduleError(
            f"schedule '{cron or schedule.expression}' never runs from now on (e.g. 30 February, "
            "or only past years); fix its day, month or year fields."
        )
    return schedule


def _fmt_gap(gap: timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    if minutes % 1440 == 0:
        n, unit = minutes // 1440, "day"
    elif minutes % 60 == 0:
        n, unit = minutes // 60, "hour"
    else:
        n, unit = minutes, "minute"
    return f"{n} {unit}{'' if n == 1 else 's'}"
