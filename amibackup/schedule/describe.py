"""One human line for a schedule, true to how EventBridge Scheduler runs it (daylight saving too)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from amibackup.schedule.days import matches_day
from amibackup.schedule.eventbridge import Cron, Rate
from amibackup.schedule.parse import parse
from amibackup.schedule.zones import check_timezone, exists, is_ambiguous, transition_days

_DAY_LONG = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_DAY_SHORT = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def _describe_days(dows: frozenset[int]) -> str:
    days = sorted(dows)  # EventBridge 1=SUN..7=SAT
    if len(days) == 1:
        return f"every {_DAY_LONG[days[0] - 1]}"
    if days == list(range(days[0], days[-1] + 1)) and len(days) >= 3:
        return f"on {_DAY_SHORT[days[0] - 1]}-{_DAY_SHORT[days[-1] - 1]}"
    return "on " + ", ".join(_DAY_SHORT[d - 1] for d in days)


def _days_text(c: Cron) -> str | None:
    """Which days, in words; None when the shape has no plain wording."""
    if c.years is not None or c.months != frozenset(range(1, 13)):
        return None
    if c.every_day:
        return "every day"
    if c.dom is None and isinstance(c.dow, frozenset):
        return _describe_days(c.dow)
    if isinstance(c.dom, frozenset) and len(c.dom) <= 3:
        return "on day " + " and ".join(str(d) for d in sorted(c.dom)) + " of every month"
    if c.dom == "L":
        return "on the last day of every month"
    return None


def _plain_text(c: Cron, timezone: str) -> str | None:
    """Common shapes in plain English; None for anything else."""
    days = _days_text(c)
    if days is None:
        return None
    suffix = f" ({timezone})"
    mins, hours = c.minutes, c.hours
    if hours == tuple(range(24)):
        if len(mins) == 1:
            when = f"at minute {mins[0]} of every hour"
        else:
            step = mins[1] - mins[0]
            if not (mins[0] < step and 60 % step == 0 and mins == tuple(range(mins[0], 60, step))):
                return None
            when = f"every {step} minutes" + (f" from minute {mins[0]}" if mins[0] else "")
        return when + ("" if days == "every day" else f" {days}") + suffix
    times = [f"{h:02d}:{m:02d}" for h in hours for m in mins]
    if len(times) > 4:
        return None
    return f"at {_and_list(times)} {days}{suffix}"


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _times_text(times: list[str]) -> str:
    if len(times) == 1:
        return times[0]
    if len(times) > 4:
        return f"the {len(times)} runs from {times[0]} to {times[-1]}"
    return "the runs at " + _and_list(times)


def dst_note(c: Cron, timezone: str, year: int) -> str:
    """What daylight saving changes for this cron in this timezone, in words ('' if nothing).

    Looks at the zone's clock changes over the 28 years from `year` (every weekday/leap-year
    combination) and at the run times on the change days the cron runs on.
    """
    tz = ZoneInfo(timezone)
    skipped: set[str] = set()
    once: set[str] = set()
    for day in transition_days(timezone, year):
        if not matches_day(c, day):
            continue
        for h in c.hours:
            for m in c.minutes:
                wall = datetime(day.year, day.month, day.day, h, m)
                if not exists(wall, tz):
                    skipped.add(f"{h:02d}:{m:02d}")
                elif is_ambiguous(wall, tz):
                    once.add(f"{h:02d}:{m:02d}")
    notes = []
    if skipped:
        times = sorted(skipped)
        verb = "is" if len(times) == 1 else "are"
        notes.append(f"on the day clocks go forward, {_times_text(times)} {verb} skipped")
    if once:
        times = sorted(once)
        notes.append(f"on the day clocks go back, {_times_text(times)} run{'s' * (len(times) == 1)}"
                     " once")
    return "".join(f"; {n}" for n in notes)


def describe(expression: str, timezone: str = "UTC", now: datetime | None = None) -> str:
    """One human line for a schedule, e.g. 'at 09:30 on Mon-Fri (Europe/Paris)'.

    Common shapes get plain English; anything else is shown honestly as the expression and
    its timezone rather than a guess. When daylight saving skips a run time or repeats it,
    a note says what EventBridge Scheduler does then (skips it; runs it once). The zone's
    clock changes are read from `now`'s year on (default: the current year, a clock read).
    """
    parsed = parse(expression)
    if isinstance(parsed, Rate):
        return "every " + (parsed.unit if parsed.value == 1 else f"{parsed.value} {parsed.unit}s")
    check_timezone(timezone)
    year = (now if now is not None else datetime.now(UTC)).year
    text = _plain_text(parsed, timezone) or f"{parsed.expression} in {timezone}"
    return text + dst_note(parsed, timezone, year)
