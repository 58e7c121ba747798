"""Timezones: the IANA name check, and how EventBridge Scheduler maps wall-clock times to instants.

EventBridge Scheduler evaluates a cron expression in the schedule's timezone and adjusts for
daylight saving time: "When the time shifts forward in Spring, your schedule invocation gets
skipped if the cron expression falls on a non-existent date and time. When the time shifts
back in the Fall, your schedule runs only once and doesn't repeat its invocation."
(EventBridge Scheduler User Guide, "Schedule types", section "Daylight savings time on
EventBridge Scheduler": https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
#daylist-savings-time ; also https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst).
The guide does not say which of the two instants of an ambiguous time is used; this module
uses the first, the one that comes before the repeat. rate(...) counts elapsed time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from amibackup.schedule.model import ScheduleError


def check_timezone(name: str) -> None:
    """Raise ScheduleError unless name is a valid IANA timezone (as EventBridge requires)."""
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError("timezone is empty; use an IANA name such as 'UTC' or 'Europe/Paris'.")
    try:
        ZoneInfo(name)
        return
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    hint = ""
    matches = [tz for tz in available_timezones() if tz.lower() == name.strip().lower()]
    if matches:
        hint = f" Did you mean '{matches[0]}'? (names are case-sensitive)"
    raise ScheduleError(
        f"unknown timezone '{name}'; use an IANA name such as 'UTC', 'Europe/Paris' or "
        f"'America/New_York'.{hint}"
    )


def exists(wall: datetime, tz: ZoneInfo) -> bool:
    """Does this naive wall-clock time happen at all in tz (False inside a spring-forward gap)?"""
    aware = wall.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


def is_ambiguous(wall: datetime, tz: ZoneInfo) -> bool:
    """Does this wall-clock time happen twice in tz (inside a fall-back overlap)?"""
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    return exists(wall, tz) and first.utcoffset() != second.utcoffset()


def run_instant(wall: datetime, tz: ZoneInfo) -> datetime | None:
    """When EventBridge Scheduler runs a cron's wall-clock time: None if the time does not
    exist that day (skipped), else the first instant it names (an ambiguous time runs once)."""
    if not exists(wall, tz):
        return None
    return wall.replace(tzinfo=tz, fold=0)


@lru_cache(maxsize=64)
def transition_days(timezone: str, first_year: int, years: int = 28) -> tuple[date, ...]:
    """Local dates in [first_year, first_year + years) on which tz's UTC offset changes.

    Pure (the years are arguments); 28 years hold every weekday/leap-year combination.
    """
    tz = ZoneInfo(timezone)

    def offset_at_midnight(day: date) -> timedelta | None:
        return datetime(day.year, day.month, day.day, tzinfo=tz).utcoffset()

    out: list[date] = []
    week = timedelta(days=7)
    d = date(first_year, 1, 1)
    end = date(first_year + years, 1, 1)
    while d < end:  # a week at a time; zones change their clocks weeks apart at most
        if offset_at_midnight(d) != offset_at_midnight(d + week):
            for k in range(7):
                day = d + timedelta(days=k)
                if day < end and offset_at_midnight(day) != offset_at_midnight(
                    day + timedelta(days=1)
                ):
                    out.append(day)
        d += week
    return tuple(out)
