"""Which calendar days a cron runs on, and the smallest gap between two runs (the policy check)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from itertools import pairwise

from amibackup.schedule.eventbridge import Cron, Rate
from amibackup.schedule.parse import parse


def _weekday_rule(c: Cron, d: date, last: int) -> bool:
    """Does the day-of-week field (L, nL, n#k or a set) select this day?"""
    eb_dow = (d.weekday() + 1) % 7 + 1  # Python Mon=0 -> EventBridge MON=2
    assert c.dow is not None
    if isinstance(c.dow, frozenset):
        return eb_dow in c.dow
    if c.dow == "L":
        return eb_dow == 7
    if c.dow.endswith("L"):
        return eb_dow == int(c.dow[:-1]) and d.day + 7 > last
    day, k = (int(x) for x in c.dow.split("#"))
    return eb_dow == day and (d.day - 1) // 7 + 1 == k


def matches_day(c: Cron, d: date) -> bool:
    """Does an EventBridge cron run on this calendar day (any time)?"""
    if c.years is not None and d.year not in c.years:
        return False
    if d.month not in c.months:
        return False
    last = calendar.monthrange(d.year, d.month)[1]
    if c.dom is None:
        return _weekday_rule(c, d, last)
    if isinstance(c.dom, frozenset):
        return d.day in c.dom
    if c.dom == "L":
        return d.day == last
    # nW past the month's end means its last day (as croniter does), e.g. 31W in April
    target = last if c.dom == "LW" else min(int(c.dom[:-1]), last)
    wd = date(d.year, d.month, target).weekday()
    if wd == 5:  # Saturday -> Friday before, or Monday after if the 1st
        target = target - 1 if target > 1 else target + 2
    elif wd == 6:  # Sunday -> Monday after, or Friday before if the last day
        target = target + 1 if target < last else target - 2
    return d.day == target


def _firing_days_gap(c: Cron) -> int | None:
    """Smallest number of days between two consecutive run days (None if it runs on < 2 days)."""
    if c.every_day:
        return 1
    if c.years is None:
        # 28 years hold every weekday/leap-year combination (the calendar of 1901-2099)
        first, last = date(2000, 1, 1), date(2027, 12, 31)
    else:
        first, last = date(min(c.years), 1, 1), date(max(c.years), 12, 31)
    best: int | None = None
    prev: date | None = None
    d = first
    one = timedelta(days=1)
    while d <= last:
        if matches_day(c, d):
            if prev is not None:
                gap = (d - prev).days
                best = gap if best is None else min(best, gap)
                if best == 1:
                    return 1
            prev = d
        d += one
    return best


def min_interval(expression: str) -> timedelta:
    """Smallest gap between two consecutive runs, in wall-clock time (DST shifts ignored).

    Exact: rate(N unit) is N units; for cron it is the smallest of the gaps between the run
    times within a day and the gap from a day's last run to the next run day's first run
    (run days are enumerated over a full 28-year calendar cycle, or the allowed years).
    Returns timedelta.max for a schedule that runs at most once.
    """
    parsed = parse(expression)
    if isinstance(parsed, Rate):
        return parsed.interval
    times = sorted(h * 60 + m for h in parsed.hours for m in parsed.minutes)
    gaps = [b - a for a, b in pairwise(times)]
    day_gap = _firing_days_gap(parsed)
    if day_gap is not None:
        gaps.append(day_gap * 1440 + times[0] - times[-1])
    return timedelta(minutes=min(gaps)) if gaps else timedelta.max


def interval_lower_bound(expression: str) -> timedelta:
    """A cheap lower bound of min_interval: run days assumed consecutive (no day scan)."""
    parsed = parse(expression)
    if isinstance(parsed, Rate):
        return parsed.interval
    times = sorted(h * 60 + m for h in parsed.hours for m in parsed.minutes)
    gaps = [b - a for a, b in pairwise(times)] + [1440 + times[0] - times[-1]]
    return timedelta(minutes=min(gaps))
