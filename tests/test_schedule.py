"""Tests for amibackup.schedule: presets, cron conversion, interval policy, previews (no AWS)."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from amibackup.schedule import (
    FREQUENCIES,
    MIN_INTERVAL,
    PRESETS,
    Schedule,
    ScheduleError,
    check_timezone,
    describe,
    min_interval,
    next_runs,
    resolve,
    runs,
    to_eventbridge,
)

UTC = ZoneInfo("UTC")
WEDNESDAY = datetime(2024, 1, 3, 12, 3, 30, tzinfo=UTC)  # a Wednesday, mid-day, odd seconds


# --------------------------------------------------------------------------- presets


def test_constants() -> None:
    assert PRESETS == {
        "continuous": "rate(10 minutes)",
        "hourly": "cron(0 * * * ? *)",
        "daily": "cron(0 0 * * ? *)",
        "weekly": "cron(0 0 ? * SUN *)",
    }
    assert FREQUENCIES == ("continuous", "hourly", "daily", "weekly", "custom")
    assert MIN_INTERVAL == timedelta(minutes=10)
    assert issubclass(ScheduleError, ValueError)


@pytest.mark.parametrize(
    ("frequency", "interval", "description"),
    [
        ("continuous", timedelta(minutes=10), "every 10 minutes"),
        ("hourly", timedelta(hours=1), "at minute 0 of every hour (UTC)"),
        ("daily", timedelta(days=1), "at 00:00 every day (UTC)"),
        ("weekly", timedelta(days=7), "at 00:00 every Sunday (UTC)"),
    ],
)
def test_presets_resolve(frequency: str, interval: timedelta, description: str) -> None:
    s = resolve(frequency)
    assert s == Schedule(PRESETS[frequency], "UTC", description)
    assert to_eventbridge(s.expression) == s.expression  # presets are already canonical
    assert min_interval(s.expression) == interval
    assert describe(s.expression) == description


def test_preset_weekly_next_runs_from_wednesday() -> None:
    runs = next_runs(PRESETS["weekly"], 3, start=WEDNESDAY)
    assert runs == [
        datetime(2024, 1, 7, tzinfo=UTC),
        datetime(2024, 1, 14, tzinfo=UTC),
        datetime(2024, 1, 21, tzinfo=UTC),
    ]
    assert all(r.strftime("%a %H:%M") == "Sun 00:00" for r in runs)


def test_preset_hourly_next_runs_at_minute_zero() -> None:
    runs = next_runs(PRESETS["hourly"], 4, start=WEDNESDAY)
    assert runs == [datetime(2024, 1, 3, h, 0, tzinfo=UTC) for h in (13, 14, 15, 16)]


def test_preset_daily_next_runs_at_midnight() -> None:
    runs = next_runs(PRESETS["daily"], 2, start=WEDNESDAY)
    assert runs == [datetime(2024, 1, 4, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC)]


def test_preset_continuous_every_ten_minutes_from_start_truncated() -> None:
    runs = next_runs(PRESETS["continuous"], 3, start=WEDNESDAY)
    assert runs == [datetime(2024, 1, 3, 12, m, tzinfo=UTC) for m in (13, 23, 33)]
    assert all(b - a == timedelta(minutes=10) for a, b in pairwise(runs))


# --------------------------------------------------------------------------- conversion table

CONVERSIONS: list[tuple[str, str]] = [
    # dow number shifting (standard 0=Sun..6=Sat -> EventBridge 1=SUN..7=SAT)
    ("30 9 * * 1-5", "cron(30 9 ? * 2-6 *)"),
    ("0 0 * * 1", "cron(0 0 ? * 2 *)"),
    ("0 0 * * 0", "cron(0 0 ? * 1 *)"),
    ("0 0 * * 7", "cron(0 0 ? * 1 *)"),
    ("0 0 * * 0,7", "cron(0 0 ? * 1 *)"),
    ("0 0 * * 0,6", "cron(0 0 ? * 1,7 *)"),
    ("0 0 * * 6-7", "cron(0 0 ? * 1,7 *)"),
    ("0 0 * * 0-6", "cron(0 0 ? * 1-7 *)"),
    ("0 0 * * 0-7", "cron(0 0 ? * 1-7 *)"),
    ("0 0 * * 5-0", "cron(0 0 ? * 1,6,7 *)"),  # wrap-around, as croniter reads it
    ("0 0 * * 1,3,5", "cron(0 0 ? * 2,4,6 *)"),
    # steps
    # EventBridge allows no '/' in day-of-week: steps become the days they mean
    ("0 0 * * 1-5/2", "cron(0 0 ? * 2,4,6 *)"),
    ("0 0 * * 0-5/2", "cron(0 0 ? * 1,3,5 *)"),
    ("0 0 * * mon-fri/2", "cron(0 0 ? * 2,4,6 *)"),
    ("cron(0 0 ? * MON-FRI/2 *)", "cron(0 0 ? * 2,4,6 *)"),
    ("cron(0 0 ? * */2 *)", "cron(0 0 ? * 1,3,5,7 *)"),
    # a step wider than its field (refused by EventBridge) becomes the one value it selects
    ("5/60 */24 * * *", "cron(5 0 * * ? *)"),
    ("cron(*/30 0/24 1/40 */13 ? 2030/300)", "cron(0/30 0 1 1 ? 2030)"),
    ("0 0 * * */2", "cron(0 0 ? * 1,3,5,7 *)"),
    ("0 0 * * 1-7/2", "cron(0 0 ? * 1,2,4,6 *)"),
    ("*/15 * * * 1-5", "cron(0/15 * ? * 2-6 *)"),
    ("0 */6 * * *", "cron(0 0/6 * * ? *)"),
    ("0 0 1 */3 *", "cron(0 0 1 1/3 ? *)"),
    # names, case-insensitive, upper-cased; mixed name/number ranges become numbers
    ("0 0 * * mon-fri", "cron(0 0 ? * MON-FRI *)"),
    ("0 0 * * Sun", "cron(0 0 ? * SUN *)"),
    ("0 0 * * sat-sun", "cron(0 0 ? * 1,7 *)"),
    ("0 0 * * MON-5", "cron(0 0 ? * 2-6 *)"),
    ("0 2 * jan,jul *", "cron(0 2 * JAN,JUL ? *)"),
    # '?' placement
    ("15 3 1,15 * *", "cron(15 3 1,15 * ? *)"),
    ("0 0 * * *", "cron(0 0 * * ? *)"),
    ("0 0 ? * 1", "cron(0 0 ? * 2 *)"),
    ("0,30 8-18 * * 1-5", "cron(0,30 8-18 ? * 2-6 *)"),
    ("*/10 * * * *", "cron(0/10 * * * ? *)"),
    ("  0   3  *  *  * ", "cron(0 3 * * ? *)"),
    # macros map to the presets' meaning
    ("@daily", PRESETS["daily"]),
    ("@weekly", PRESETS["weekly"]),
    ("@hourly", PRESETS["hourly"]),
    ("@monthly", "cron(0 0 1 * ? *)"),
    # EventBridge passthrough, spacing and case normalised
    ("cron(0 0 ? * SUN *)", "cron(0 0 ? * SUN *)"),
    ("CRON( 0  12  L * ? * )", "cron(0 12 L * ? *)"),
    ("cron(0 8 15W * ? *)", "cron(0 8 15W * ? *)"),
    ("cron(0 8 LW * ? *)", "cron(0 8 LW * ? *)"),
    ("cron(0 18 ? * 6L *)", "cron(0 18 ? * 6L *)"),
    ("cron(0 18 ? * mon#1 2030-2035)", "cron(0 18 ? * 2#1 2030-2035)"),
    ("cron(0/15 * ? * mon-fri *)", "cron(0/15 * ? * MON-FRI *)"),
    ("rate(10 minutes)", "rate(10 minutes)"),
    ("rate( 1  hour )", "rate(1 hour)"),
    ("RATE(2 Days)", "rate(2 days)"),
]

REFUSALS: list[tuple[str, str]] = [
    # day-of-month OR day-of-week can't be expressed
    ("0 0 1 * 1", "EventBridge can't express 'day-of-month OR day-of-week'"),
    ("0 0 1-7 * mon", "split it into two backups"),
    # too frequent
    ("*/5 * * * *", "every 5 minutes; the minimum is 10 minutes"),
    ("0,5 * * * *", "every 5 minutes"),
    ("0,55 * * * *", "every 5 minutes"),  # 55 -> next hour's 0
    ("0,55 0,23 * * *", "every 5 minutes"),  # 23:55 -> next day's 00:00
    ("* * * * *", "every 1 minute"),
    ("rate(5 minutes)", "the minimum is 10 minutes"),
    ("cron(0/9 * * * ? *)", "every 6 minutes"),  # :54 -> next hour's :00
    # invalid standard cron
    ("0 0 * * 8", "day-of-week value 8 is out of range"),
    ("60 * * * *", "minute value 60 is out of range"),
    ("0 24 * * *", "hour value 24 is out of range"),
    ("0 0 0 * *", "day-of-month value 0 is out of range"),
    ("0 0 * 13 *", "month value 13 is out of range"),
    ("0 0 * * funday", "'FUNDAY' is not a valid day-of-week value"),
    ("0 0 * *", "expected 5 fields"),
    ("0 0 * * * *", "inside cron(...)"),
    ("*/0 * * * *", "must be 1 or more"),
    ("50-10 * * * *", "runs backwards"),
    ("0 0 * * 5-0/2", "list the days explicitly"),
    ("0 0 * * 7-7", "ambiguous"),  # croniter reads it as every day, standard cron as Sunday
    ("0 0 L * *", "write the whole schedule as cron(...)"),
    ("0 0 * * 5#2", "not standard cron"),
    ("H 0 * * *", "hashed 'H'"),
    ("@reboot", "unsupported cron macro"),
    # EventBridge cron refusals
    ("cron(0 0 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
    ("cron(0 0 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
    ("cron(0 0 * * ?)", "needs 6 fields"),
    ("cron(0 0 ? * 0 *)", "day-of-week value 0 is out of range; allowed 1-7"),
    ("cron(0 0 ? * 8 *)", "day-of-week value 8 is out of range"),
    ("cron(0 0 1 * ? 1969)", "year value 1969 is out of range"),
    ("cron(0 0 32 * ? *)", "day-of-month value 32 is out of range"),
    ("cron(0 0 ? * FRI-MON *)", "runs backwards"),
    ("cron(0 0 ? * 2#6 *)", "must be 1-5"),
    ("cron(0 0 L,15 * ? *)", "must be used alone"),
    ("cron(0 0 * * ? *", "missing closing parenthesis"),
    ("cron(0 0 31 2 ? *)", "never runs"),
    ("cron(0 0 1 1 ? 2000)", "never runs"),
    # rate refusals
    ("rate(1 minutes)", "must be singular: rate(1 minute)"),
    ("rate(2 hour)", "must be plural: rate(2 hours)"),
    ("rate(0 minutes)", "positive"),
    ("rate(10 weeks)", "unknown unit 'weeks'"),
    ("rate(ten minutes)", "not a valid rate expression"),
    ("at(2030-01-01T00:00:00)", "one-time at(...)"),
]


@pytest.mark.parametrize(("cron", "expected"), CONVERSIONS)
def test_conversion(cron: str, expected: str) -> None:
    assert resolve("custom", cron).expression == expected
    assert to_eventbridge(cron) == expected
    assert to_eventbridge(expected) == expected  # output is a fixed point


@pytest.mark.parametrize(("cron", "message"), REFUSALS)
def test_refusal(cron: str, message: str) -> None:
    with pytest.raises(ScheduleError) as err:
        resolve("custom", cron)
    assert message in str(err.value)


@pytest.mark.parametrize("blank", ["", "   "])
def test_empty_expression(blank: str) -> None:
    with pytest.raises(ScheduleError, match="empty schedule expression"):
        to_eventbridge(blank)


def test_table_is_big_enough() -> None:
    assert len(CONVERSIONS) + len(REFUSALS) >= 25


def test_to_eventbridge_checks_syntax_only() -> None:
    """The 10-minute policy is resolve()'s job; conversion alone accepts fast crons."""
    assert to_eventbridge("*/5 * * * *") == "cron(0/5 * * * ? *)"
    assert min_interval("*/5 * * * *") == timedelta(minutes=5)


# --------------------------------------------------------------------------- meaning preserved

CONVERTIBLE = [
    "*/15 * * * 1-5",
    "0 0 * * 0",
    "0 0 * * 7",
    "0 12 * * 0,6",
    "0 0 * * 6-7",
    "0 0 * * 5-0",
    "0 0 * * */2",
    "0 0 * * */3",
    "0 0 * * 1-5/2",
    "0 0 * * 1-7/2",
    "0 0 * * 0-7",
    "0 0 * * 3/2",
    "0 0 * * mon-fri",
    "0 0 * * sat-sun",
    "0 0 * * MON-5",
    "30 9 * * 1-5",
    "0 */6 * * *",
    "0,30 8-18 * * 1-5",
    "15 3 1,15 * *",
    "0 0 1 */3 *",
    "0 2 * jan,jul *",
    "0 2 * NOV-DEC 0",
    "0 0 29 2 *",
    "45 23 * * 6",
    "0 0 ? * 1",
]


@pytest.mark.parametrize("cron", CONVERTIBLE)
@pytest.mark.parametrize(
    ("tz", "start"),
    [
        ("UTC", datetime(2024, 1, 3, 12, 3)),
        ("Europe/Paris", datetime(2024, 3, 20, 1, 0)),  # crosses the March DST change
        ("America/New_York", datetime(2023, 10, 30, 0, 0)),  # crosses the November one
    ],
)
def test_conversion_preserves_meaning(cron: str, tz: str, start: datetime) -> None:
    aware = start.replace(tzinfo=ZoneInfo(tz))
    it = croniter(cron, aware)
    original = [it.get_next(datetime) for _ in range(50)]
    converted = next_runs(to_eventbridge(cron), 50, tz, aware)
    assert converted == original


@pytest.mark.parametrize(
    ("expression", "days"),
    [
        ("cron(0 0 ? * 1 *)", {"Sun"}),
        ("cron(0 0 ? * 2-6 *)", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("cron(0 0 ? * 7 *)", {"Sat"}),
        ("cron(0 0 ? * SUN,SAT *)", {"Sun", "Sat"}),
        ("cron(0 0 ? * */2 *)", {"Sun", "Tue", "Thu", "Sat"}),
    ],
)
def test_eventbridge_day_numbering(expression: str, days: set[str]) -> None:
    """Pins next_runs to EventBridge's numbering (1=SUN), independently of the conversion code."""
    runs = next_runs(expression, 21, start=WEDNESDAY)
    assert {r.strftime("%a") for r in runs} == days


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 8 L * ? *)",
        "cron(0 8 15W * ? *)",
        "cron(0 8 1W * ? *)",
        "cron(0 8 31W * ? *)",
        "cron(0 18 ? * 6L *)",
        "cron(0 18 ? * 2#1 *)",
        "cron(0 18 ? * 3#5 *)",
        "cron(0 18 ? * L *)",
        "cron(0,30 6 ? * MON-FRI *)",
        "cron(0 0 29 2 ? *)",
        "cron(0 0 1 1/3 ? 2024-2030)",
    ],
)
def test_day_by_day_evaluator_agrees_with_croniter(
    expression: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The calendar logic behind min_interval (and LW previews) matches croniter."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with_croniter = next_runs(expression, 40, start=start)
    monkeypatch.setattr(runs, "_to_croniter", lambda _c: None)
    assert next_runs(expression, 40, start=start) == with_croniter


def test_last_weekday_of_month() -> None:
    runs = next_runs("cron(0 0 LW * ? *)", 3, start=datetime(2024, 1, 1))
    # 2024-03-31 is a Sunday, so the last weekday is Friday the 29th
    assert [r.date().isoformat() for r in runs] == ["2024-01-31", "2024-02-29", "2024-03-29"]


# --------------------------------------------------------------------------- min_interval


@pytest.mark.parametrize(
    ("expression", "gap"),
    [
        ("rate(10 minutes)", timedelta(minutes=10)),
        ("rate(1 day)", timedelta(days=1)),
        ("*/10 * * * *", timedelta(minutes=10)),
        ("0,5 * * * *", timedelta(minutes=5)),
        ("0,55 * * * *", timedelta(minutes=5)),
        ("0,55 0,23 * * *", timedelta(minutes=5)),
        ("0,55 0,23 * * 1", timedelta(minutes=55)),  # Mondays only: no 23:55 -> 00:00 next day
        ("0 9,17 * * 1-5", timedelta(hours=8)),
        ("0 0 * * 1-5/2", timedelta(days=2)),
        ("0 0 1 * *", timedelta(days=28)),
        ("cron(0 0 L * ? *)", timedelta(days=28)),
        ("cron(0 0 29 2 ? *)", timedelta(days=4 * 365 + 1)),
        ("cron(0 0 1 1 ? 2030)", timedelta.max),  # runs once
        ("cron(0 0 31 2 ? *)", timedelta.max),  # never runs
    ],
)
def test_min_interval(expression: str, gap: timedelta) -> None:
    assert min_interval(expression) == gap


# --------------------------------------------------------------------------- next_runs details


def test_next_runs_is_strictly_after_start() -> None:
    start = datetime(2024, 1, 7, tzinfo=UTC)  # exactly a weekly run
    assert next_runs(PRESETS["weekly"], 1, start=start) == [datetime(2024, 1, 14, tzinfo=UTC)]


def test_next_runs_in_timezone() -> None:
    paris = ZoneInfo("Europe/Paris")
    runs = next_runs("30 9 * * 1-5", 2, "Europe/Paris", WEDNESDAY)  # 12:03 UTC = 13:03 Paris
    assert runs == [
        datetime(2024, 1, 4, 9, 30, tzinfo=paris),
        datetime(2024, 1, 5, 9, 30, tzinfo=paris),
    ]
    assert all(r.tzinfo == paris for r in runs)
    assert runs[0].astimezone(UTC).hour == 8


def test_next_runs_naive_start_is_local_wall_clock() -> None:
    runs = next_runs(PRESETS["daily"], 1, "Asia/Tokyo", datetime(2024, 1, 3, 23, 0))
    assert runs == [datetime(2024, 1, 4, 0, 0, tzinfo=ZoneInfo("Asia/Tokyo"))]


def test_next_runs_default_start_is_now() -> None:
    before = datetime.now(UTC)
    runs = next_runs(PRESETS["continuous"], 2)
    assert before < runs[0] <= before + timedelta(minutes=10)
    assert runs[1] - runs[0] == timedelta(minutes=10)


def test_next_runs_rate_counts_elapsed_time_across_dst() -> None:
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2024, 3, 31, 1, 30, tzinfo=paris)  # clocks jump 02:00 -> 03:00
    runs = next_runs("rate(1 hour)", 2, "Europe/Paris", start)
    assert [r.strftime("%H:%M") for r in runs] == ["03:30", "04:30"]


def test_next_runs_year_bounded() -> None:
    runs = next_runs("cron(0 0 1 1 ? 2030-2031)", 5, start=WEDNESDAY)
    assert runs == [datetime(2030, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)]


def test_next_runs_count() -> None:
    assert next_runs(PRESETS["daily"], 0, start=WEDNESDAY) == []
    with pytest.raises(ScheduleError, match="count must be 0 or more"):
        next_runs(PRESETS["daily"], -1)


# --------------------------------------------------------------------------- timezones


@pytest.mark.parametrize("name", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
def test_valid_timezones(name: str) -> None:
    check_timezone(name)
    assert resolve("daily", timezone=name).timezone == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Mars/Olympus_Mons", "unknown timezone 'Mars/Olympus_Mons'"),
        ("utc", "Did you mean 'UTC'?"),
        ("europe/paris", "Did you mean 'Europe/Paris'?"),
        ("../../etc/passwd", "use an IANA name"),
        ("", "timezone is empty"),
        ("America", "unknown timezone"),
    ],
)
def test_invalid_timezones(name: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("?", r"\?").replace(".", r"\.")):
        check_timezone(name)
    with pytest.raises(ScheduleError):
        resolve("daily", timezone=name)
    with pytest.raises(ScheduleError):
        next_runs(PRESETS["daily"], 1, name)


# --------------------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("expression", "tz", "text"),
    [
        ("30 9 * * 1-5", "Europe/Paris", "at 09:30 on Mon-Fri (Europe/Paris)"),
        ("0 9,17 * * *", "UTC", "at 09:00 and 17:00 every day (UTC)"),
        ("*/15 * * * 1-5", "UTC", "every 15 minutes on Mon-Fri (UTC)"),
        ("0 3 1 * *", "UTC", "at 03:00 on day 1 of every month (UTC)"),
        ("0 0 * * 0,6", "UTC", "at 00:00 on Sun, Sat (UTC)"),
        ("cron(0 0 L * ? *)", "UTC", "at 00:00 on the last day of every month (UTC)"),
        ("rate(1 hour)", "UTC", "every hour"),
        ("rate(2 days)", "UTC", "every 2 days"),
        ("cron(0 18 ? * 6L *)", "Europe/Paris", "cron(0 18 ? * 6L *) in Europe/Paris"),
        ("0 2 * jan,jul *", "UTC", "cron(0 2 * JAN,JUL ? *) in UTC"),
    ],
)
def test_describe(expression: str, tz: str, text: str) -> None:
    assert describe(expression, tz) == text


# --------------------------------------------------------------------------- resolve


def test_resolve_custom() -> None:
    s = resolve("custom", "30 9 * * 1-5", "Europe/Paris")
    assert s == Schedule(
        "cron(30 9 ? * 2-6 *)", "Europe/Paris", "at 09:30 on Mon-Fri (Europe/Paris)"
    )


def test_resolve_frequency_is_case_insensitive_and_blank_cron_is_none() -> None:
    assert resolve(" Weekly ", "  ").expression == PRESETS["weekly"]


@pytest.mark.parametrize(
    ("frequency", "cron", "message"),
    [
        ("monthly", None, "unknown frequency 'monthly'; choose one of: continuous, hourly"),
        ("custom", None, "frequency 'custom' needs a cron expression"),
        ("daily", "0 3 * * *", "set frequency to 'custom'"),
    ],
)
def test_resolve_refusals(frequency: str, cron: str | None, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        resolve(frequency, cron)


def test_schedule_is_frozen() -> None:
    s = resolve("daily")
    with pytest.raises(AttributeError):
        s.expression = "rate(1 minute)"  # type: ignore[misc]
