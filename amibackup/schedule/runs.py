"""The next run times of a schedule, as EventBridge Scheduler would run them.

Cron runs are found as wall-clock times in the schedule's timezone (croniter on naive
times, or a day-by-day walk for what croniter lacks) and then mapped to instants by the
Scheduler's daylight-saving rules (see zones.run_instant). rate(...) counts elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from amibackup.schedule.days import matches_day
from amibackup.schedule.eventbridge import Cron, Rate
from amibackup.schedule.model import ScheduleError
from amibackup.schedule.parse import parse
from amibackup.schedule.zones import check_timezone, run_instant


def _to_croniter(c: Cron) -> str | None:
    """Same meaning as a 5-field croniter expression (year handled apart); None if unsupported."""
    minute, hour, _, month, _, _ = c.fields
    if c.dom is None:
        dom = "*"
    elif isinstance(c.dom, frozenset):
        dom = c.fields[2]
    elif c.dom == "LW":
        return None  # croniter has no 'last weekday of the month'
    else:
        dom = c.dom
    if c.dow is None:
        dow = "*"
    elif isinstance(c.dow, frozenset):
        dow = (
            "*" if c.dow == frozenset(range(1, 8)) else ",".join(str(d - 1) for d in sorted(c.dow))
        )
    elif c.dow == "L":
        dow = "6"  # last day of the week: Saturday
    elif c.dow.endswith("L"):
        dow = f"L{int(c.dow[:-1]) - 1}"
    else:
        day, k = c.dow.split("#")
        dow = f"{int(day) - 1}#{k}"
    return f"{minute} {hour} {dom} {month} {dow}"


def _walk_days(c: Cron, after: datetime) -> Iterator[datetime]:
    """Wall-clock run times after `after`, day by day (over at most one 400-year cycle)."""
    d = after.date()
    horizon = date(max(c.years), 12, 31) if c.years else d + timedelta(days=146097)
    while d <= horizon:
        if matches_day(c, d):
            for h in c.hours:
                for m in c.minutes:
                    t = datetime(d.year, d.month, d.day, h, m)
                    if t > after:
                        yield t
        d += timedelta(days=1)


def _skip_to_allowed_year(c: Cron, t: datetime) -> datetime | None:
    """Where to search from so as to skip years the cron excludes (None: no years left)."""
    if c.years is None or t.year in c.years:
        return t
    later = [y for y in c.years if y > t.year]
    return datetime(min(later), 1, 1) - timedelta(microseconds=1) if later else None


def _with_croniter(c: Cron, expr: str, after: datetime) -> Iterator[datetime]:
    """Wall-clock run times after `after` from croniter, restricted to the cron's years."""
    # Imported here: the runner (standard library + boto3 only) checks firing times with
    # `fires_at`, which needs no croniter.
    from croniter import CroniterBadDateError, croniter

    cursor = _skip_to_allowed_year(c, after)
    while cursor is not None:
        it = croniter(expr, cursor)
        while True:
            try:
                t: datetime = it.get_next(datetime)
            except CroniterBadDateError:  # croniter found no run for years: none will come
                return
            if c.years is None or t.year in c.years:
                yield t
            else:
                cursor = _skip_to_allowed_year(c, t)
                break


def wall_times(c: Cron, after: datetime) -> Iterator[datetime]:
    """Every naive wall-clock time the cron names strictly after naive `after`, in order."""
    expr = _to_croniter(c)
    return _walk_days(c, after) if expr is None else _with_croniter(c, expr, after)


def _cron_runs(c: Cron, count: int, tz: ZoneInfo, start: datetime) -> list[datetime]:
    """The first `count` instants after aware `start` at which EventBridge runs the cron."""
    out: list[datetime] = []
    if count == 0:
        return out
    # Wall times are mapped to instants monotonically (the first instant of an ambiguous
    # time), so starting from start's own wall time misses nothing. Instants are compared
    # in UTC: Python compares two datetimes of one tzinfo by wall time, ignoring `fold`.
    after = start.astimezone(UTC)
    for wall in wall_times(c, start.replace(tzinfo=None, fold=0)):
        instant = run_instant(wall, tz)
        if instant is not None and instant.astimezone(UTC) > after:
            out.append(instant)
            if len(out) == count:
                break
    return out


def next_runs(
    expression: str, count: int = 5, timezone: str = "UTC", start: datetime | None = None
) -> list[datetime]:
    """The next `count` runs strictly after `start` (default: now), aware, in `timezone`.

    A naive `start` is read as wall-clock time in `timezone`. Cron times follow EventBridge
    Scheduler's daylight-saving rules: a local time that does not exist that day (clocks
    spring forward) is skipped, an ambiguous one (clocks fall back) runs once, at its first
    instant. rate(N unit) has no fixed clock: EventBridge counts from when the schedule is
    created, so this treats `start` (truncated to the minute) as that moment and returns
    start + N, + 2N, ... units of elapsed time. Fewer than `count` runs are returned when a
    year-bounded cron ends.
    """
    check_timezone(timezone)
    if count < 0:
        raise ScheduleError(f"count must be 0 or more, got {count}.")
    tz = ZoneInfo(timezone)
    if start is None:
        start = datetime.now(tz)  # the only clock read; pass `start` to avoid it
    elif start.tzinfo is None:
        start = start.replace(tzinfo=tz)
    else:
        start = start.astimezone(tz)
    parsed = parse(expression)
    if isinstance(parsed, Rate):
        anchor = start.replace(second=0, microsecond=0).astimezone(UTC)
        return [(anchor + parsed.interval * k).astimezone(tz) for k in range(1, count + 1)]
    return _cron_runs(parsed, count, tz, start)


def fires_at(expression: str, timezone: str, instant: datetime) -> bool | None:
    """Whether EventBridge Scheduler runs the cron `expression` at `instant` (aware).

    None for rate(...): its runs count from when the schedule was created, which the
    expression alone does not tell. Standard library only (the runner ships this).
    """
    parsed = parse(expression)
    if isinstance(parsed, Rate):
        return None
    tz = ZoneInfo(timezone)
    wall = instant.astimezone(tz).replace(tzinfo=None, fold=0)
    if wall.second or wall.microsecond or wall.hour not in parsed.hours \
            or wall.minute not in parsed.minutes or not matches_day(parsed, wall.date()):
        return False
    first = run_instant(wall, tz)
    return first is not None and first.astimezone(UTC) == instant.astimezone(UTC)
