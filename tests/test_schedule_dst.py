"""Daylight saving: run times and descriptions follow EventBridge Scheduler's rules.

"When the time shifts forward in Spring, your schedule invocation gets skipped if the cron
expression falls on a non-existent date and time. When the time shifts back in the Fall,
your schedule runs only once and doesn't repeat its invocation."
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#daylist-savings-time)

2024 transitions used: America/New_York 10 March 02:00 -> 03:00 and 3 November
02:00 -> 01:00; Europe/Dublin 31 March 01:00 -> 02:00 and 27 October 02:00 -> 01:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from amibackup.schedule import ScheduleError, describe, next_runs, resolve, runs

NEW_YORK = ZoneInfo("America/New_York")
DUBLIN = ZoneInfo("Europe/Dublin")


def _utc(runs: list[datetime]) -> list[datetime]:
    return [r.astimezone(UTC) for r in runs]


def test_spring_forward_skips_the_time_that_does_not_exist() -> None:
    runs = next_runs("30 2 * * *", 3, "America/New_York", datetime(2024, 3, 9, 12, 0))
    assert [r.date().isoformat() for r in runs] == ["2024-03-11", "2024-03-12", "2024-03-13"]
    assert all(r.strftime("%H:%M") == "02:30" for r in runs)


def test_fall_back_runs_an_ambiguous_time_once_at_its_first_instant() -> None:
    runs = next_runs("30 1 * * *", 3, "America/New_York", datetime(2024, 11, 2, 12, 0))
    assert _utc(runs) == [
        datetime(2024, 11, 3, 5, 30, tzinfo=UTC),  # 01:30 EDT, before clocks go back
        datetime(2024, 11, 4, 6, 30, tzinfo=UTC),  # 01:30 EST
        datetime(2024, 11, 5, 6, 30, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("start", "expected_utc"),
    [
        # 31 March: 01:30 does not exist in Dublin; next is 1 April 01:30 IST = 00:30 UTC
        (datetime(2024, 3, 30, 12, 0), [datetime(2024, 4, 1, 0, 30, tzinfo=UTC)]),
        # 27 October: 01:30 happens twice; it runs once, at 01:30 IST = 00:30 UTC
        (datetime(2024, 10, 26, 12, 0), [datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
                                          datetime(2024, 10, 28, 1, 30, tzinfo=UTC)]),
    ],
)
def test_dublin_transition_days(start: datetime, expected_utc: list[datetime]) -> None:
    runs = next_runs("30 1 * * 0-6", len(expected_utc), "Europe/Dublin", start)
    assert _utc(runs) == expected_utc


def test_hourly_across_fall_back_never_repeats_a_wall_time() -> None:
    runs = next_runs("cron(0 * * * ? *)", 5, "America/New_York", datetime(2024, 11, 2, 23, 30))
    assert [r.strftime("%H:%M") for r in runs] == ["00:00", "01:00", "02:00", "03:00", "04:00"]
    # 01:00 EDT -> 02:00 EST is two hours of elapsed time: the repeated 01:00 did not run
    assert [b - a for a, b in pairwise(_utc(runs))] == [timedelta(hours=h) for h in (1, 2, 1, 1)]


def test_hourly_across_spring_forward_has_no_two_oclock() -> None:
    runs = next_runs("cron(0 * * * ? *)", 3, "America/New_York", datetime(2024, 3, 10, 0, 30))
    assert [r.strftime("%H:%M") for r in runs] == ["01:00", "03:00", "04:00"]
    assert [b - a for a, b in pairwise(_utc(runs))] == [timedelta(hours=1)] * 2


def test_start_inside_the_repeated_hour_does_not_run_it_again() -> None:
    second_pass = datetime(2024, 11, 3, 6, 40, tzinfo=UTC)  # 01:40 EST, after 01:50 EDT ran
    runs = next_runs("cron(50 1 * * ? *)", 1, "America/New_York", second_pass)
    assert _utc(runs) == [datetime(2024, 11, 4, 6, 50, tzinfo=UTC)]  # the next day's 01:50 EST
    first_pass = datetime(2024, 11, 3, 5, 40, tzinfo=UTC)  # 01:40 EDT
    assert _utc(next_runs("cron(50 1 * * ? *)", 1, "America/New_York", first_pass)) == [
        datetime(2024, 11, 3, 5, 50, tzinfo=UTC)
    ]


def test_day_by_day_walk_follows_the_same_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path for what croniter lacks (LW) skips and runs once exactly like the croniter path."""
    cases = [("30 2 * * *", datetime(2024, 3, 9, 12, 0)), ("30 1 * * *", datetime(2024, 11, 2, 12))]
    with_croniter = [next_runs(e, 3, "America/New_York", s) for e, s in cases]
    monkeypatch.setattr(runs, "_to_croniter", lambda _c: None)
    assert [next_runs(e, 3, "America/New_York", s) for e, s in cases] == with_croniter
    assert [r.day for r in with_croniter[0]] == [11, 12, 13]
    assert [r.day for r in with_croniter[1]] == [3, 4, 5]


@pytest.mark.parametrize(
    ("expression", "tz", "text"),
    [
        ("30 2 * * *", "America/New_York",
         "at 02:30 every day (America/New_York); on the day clocks go forward, 02:30 is skipped"),
        ("30 1 * * *", "America/New_York",
         "at 01:30 every day (America/New_York); on the day clocks go back, 01:30 runs once"),
        ("30 1 * * 0", "Europe/Dublin",
         ("at 01:30 every Sunday (Europe/Dublin); on the day clocks go forward, 01:30 is skipped;"
         " on the day clocks go back, 01:30 runs once")),
        ("0,30 1 * * *", "Europe/Dublin",
         ("at 01:00 and 01:30 every day (Europe/Dublin); on the day clocks go forward, the runs "
         "at 01:00 and 01:30 are skipped; on the day clocks go back, the runs at 01:00 and 01:30"
         " run once")),
        # clocks change on Sundays there: a weekday schedule is never affected
        ("30 2 * * 1-5", "America/New_York", "at 02:30 on Mon-Fri (America/New_York)"),
        ("30 2 * * 1-5", "Europe/Dublin", "at 02:30 on Mon-Fri (Europe/Dublin)"),
        ("30 9 * * *", "America/New_York", "at 09:30 every day (America/New_York)"),
        ("30 2 * * *", "UTC", "at 02:30 every day (UTC)"),
        ("rate(1 hour)", "America/New_York", "every hour"),
    ],
)
def test_describe_says_what_daylight_saving_changes(expression: str, tz: str, text: str) -> None:
    assert describe(expression, tz, datetime(2024, 6, 1, tzinfo=UTC)) == text


def test_description_of_a_resolved_schedule_carries_the_note() -> None:
    s = resolve("custom", "30 2 * * *", "America/New_York", now=datetime(2024, 6, 1, tzinfo=UTC))
    assert s.description.endswith("on the day clocks go forward, 02:30 is skipped")


def test_resolve_reads_the_moment_it_is_given_even_when_memoised() -> None:
    """resolve is partly memoised: a later `now` must still see that the schedule has ended."""
    only_2030 = "cron(0 0 1 1 ? 2030)"
    before = datetime(2029, 6, 1, tzinfo=UTC)
    assert resolve("custom", only_2030, now=before).expression == only_2030
    assert resolve("custom", only_2030, now=before).expression == only_2030  # cached path
    with pytest.raises(ScheduleError, match="never runs from now on"):
        resolve("custom", only_2030, now=datetime(2030, 6, 1, tzinfo=UTC))
