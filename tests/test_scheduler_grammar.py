"""The strict local AWS's EventBridge Scheduler grammar, and the product's expressions against it.

The grammar (devkit/localaws/scheduler_grammar.py) encodes AWS's documented rules; every
expression the product can send must pass it, including the 5-field conversions.
"""

from __future__ import annotations

import random

import pytest

from amibackup.schedule import PRESETS, ScheduleError, resolve, to_eventbridge
from devkit.localaws.scheduler_grammar import expression_error, why_invalid
from tests.test_schedule import CONVERSIONS, CONVERTIBLE

VALID = [
    "rate(1 minute)",
    "rate(10 minutes)",
    "rate(1 hour)",
    "rate(12 hours)",
    "rate(1 day)",
    "rate(7 days)",
    "at(2030-01-31T23:59:59)",
    "at(2028-02-29T00:00:00)",
    "cron(0 10 * * ? *)",
    "cron(15 12 * * ? *)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(0 8 1 * ? *)",
    "cron(0/15 * * * ? *)",
    "cron(0/10 * ? * MON-FRI *)",
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0 9 ? * 2#1 *)",
    "cron(0 9 ? * 3#5 *)",
    "cron(0 9 ? * 6L *)",
    "cron(0 9 ? * L *)",
    "cron(0 9 L * ? *)",
    "cron(0 9 LW * ? *)",
    "cron(0 9 15W * ? *)",
    "cron(0 9 1,15 JAN,JUL ? 2030-2035)",
    "cron(0 9 1 1/3 ? *)",
    "cron(0 9 ? * SUN,SAT 2030/2)",
    "cron(0,30 6-22/2 ? * 2,4,6 *)",
    "cron(59 23 31 12 ? 2199)",
    "cron(0/59 0/23 1/31 1/12 ? *)",
]

INVALID = [
    ("", "1 to 256 characters"),
    ("x" * 257, "1 to 256 characters"),
    ("every tuesday", "use at(yyyy-mm-ddThh:mm:ss)"),
    ("0 9 * * *", "use at(yyyy-mm-ddThh:mm:ss)"),
    ("CRON(0 9 * * ? *)", "use at(yyyy-mm-ddThh:mm:ss)"),
    ("rate(0 minutes)", "positive whole number"),
    ("rate(1 minutes)", "singular for a value of 1"),
    ("rate(5 minute)", "singular for a value of 1"),
    ("rate(2 weeks)", "minute | minutes | hour"),
    ("rate(five minutes)", "rate(value unit)"),
    ("rate(5  minutes)", "rate(value unit)"),
    ("at(2030-02-30T00:00:00)", "not a real date"),
    ("at(2030-01-01 00:00:00)", "at(yyyy-mm-ddThh:mm:ss)"),
    ("at(2030-01-01T24:00:00)", "not a real date"),
    ("cron(0 9 * * ?)", "six fields"),
    ("cron(0 0 9 * * ? *)", "six fields"),
    ("cron( 0 9 * * ? *)", "six fields"),
    ("cron(0 9 * * * *)", "exactly one of day-of-month and day-of-week"),
    ("cron(0 9 ? * ? *)", "exactly one of day-of-month and day-of-week"),
    ("cron(60 9 * * ? *)", "minutes '60'"),
    ("cron(0 24 * * ? *)", "hours '24'"),
    ("cron(0 9 0 * ? *)", "day-of-month '0'"),
    ("cron(0 9 32 * ? *)", "day-of-month '32'"),
    ("cron(0 9 1 13 ? *)", "month '13'"),
    ("cron(0 9 ? * 0 *)", "day-of-week '0'"),
    ("cron(0 9 ? * 8 *)", "day-of-week '8'"),
    ("cron(0 9 1 * ? 1969)", "year '1969'"),
    ("cron(0 9 1 * ? 2200)", "year '2200'"),
    # the wildcards each field allows
    ("cron(0 9 ? * 1-6/2 *)", "'/' is not allowed here"),
    ("cron(0 9 ? * */2 *)", "'/' is not allowed here"),
    ("cron(0 9 ? * MON/2 *)", "'/' is not allowed here"),
    ("cron(? 9 * * ? *)", "'?' is not allowed here"),
    ("cron(0 9 * ? ? *)", "'?' is not allowed here"),
    ("cron(L 9 * * ? *)", "'L' is not a value 0-59"),
    ("cron(0 9 * JAN#1 ? *)", "'#' is not allowed here"),
    ("cron(0 9 1#1 * ? *)", "'#' is not allowed here"),
    ("cron(0 9 ? * MONW *)", "'MONW' is not a value 1-7 or SUN-SAT"),
    ("cron(0 9 ? * L,MON *)", "L, nL and n#k stand alone"),
    ("cron(0 9 * * ? L)", "'L' is not a value 1970-2199"),
    ("cron(0 9 *,? * ? *)", "'?' stands alone"),
    ("cron(0 9 ? MON * *)", "'MON' is not a value 1-12 or JAN-DEC"),
    ("cron(0 9 ? * JAN *)", "'JAN' is not a value 1-7 or SUN-SAT"),
    ("cron(0 9 ? * JUL *)", "'JUL' is not a value 1-7 or SUN-SAT"),
    # the documented special forms
    ("cron(0 9 ? * 3#1,6#3 *)", "only one expression with #"),
    ("cron(0 9 ? * 2#6 *)", "week number after '#' is 1-5"),
    ("cron(0 9 ? * 8#1 *)", "'8' is not a day"),
    ("cron(0 9 L,15 * ? *)", "L, LW and nW stand alone"),
    ("cron(0 9 32W * ? *)", "nW needs a day 1-31"),
    ("cron(0 9 1-5W * ? *)", "L, LW and nW stand alone"),
    # steps (Quartz's limits, which AWS inherits: cron(*/60 ...) is refused)
    ("cron(*/60 * * * ? *)", "step after '/' is 1-59"),
    ("cron(0 0/24 * * ? *)", "step after '/' is 1-23"),
    ("cron(0 9 1/32 * ? *)", "step after '/' is 1-31"),
    ("cron(0 9 1 1/13 ? *)", "step after '/' is 1-12"),
    ("cron(0/0 9 * * ? *)", "step after '/' is 1-59"),
    ("cron(*-5 9 * * ? *)", "'*' cannot start a range"),
    ("cron(0 9 1,,2 * ? *)", "not a value, range, list"),
]


@pytest.mark.parametrize("expression", VALID)
def test_valid(expression: str) -> None:
    assert why_invalid(expression) is None
    assert expression_error(expression) is None


@pytest.mark.parametrize(("expression", "rule"), INVALID)
def test_invalid(expression: str, rule: str) -> None:
    message = expression_error(expression)
    assert message is not None
    assert message.startswith(f"Invalid Schedule Expression {expression}.")  # AWS's own text
    assert rule in message


def test_todays_day_of_week_step_is_refused_and_the_conversion_passes() -> None:
    """Issue 9 item 2: '0-5/2' used to become '1-6/2', which EventBridge refuses."""
    assert expression_error("cron(0 0 ? * 1-6/2 *)") is not None  # what main emitted
    converted = to_eventbridge("0 0 * * 0-5/2")
    assert converted == "cron(0 0 ? * 1,3,5 *)"
    assert expression_error(converted) is None


@pytest.mark.parametrize("expression", sorted(PRESETS.values()))
def test_presets_pass(expression: str) -> None:
    assert expression_error(expression) is None
    assert expression_error(resolve(next(k for k, v in PRESETS.items() if v == expression))
                            .expression) is None


@pytest.mark.parametrize(("given", "expected"), CONVERSIONS)
def test_every_conversion_in_the_table_passes(given: str, expected: str) -> None:
    assert expression_error(to_eventbridge(given)) is None
    assert expression_error(expected) is None


@pytest.mark.parametrize("given", [*CONVERTIBLE, "@monthly", "@yearly", "@midnight"])
def test_every_convertible_cron_passes(given: str) -> None:
    assert expression_error(to_eventbridge(given)) is None


def _random_item(rng: random.Random, lo: int, hi: int, names: list[str]) -> str:
    """One list item of a cron field: value, name, range, or a step on '*', a value or a range."""
    def val() -> str:
        v = rng.randint(lo, hi)
        return names[v - lo] if names and rng.random() < 0.3 and v - lo < len(names) else str(v)

    a, b = sorted((rng.randint(lo, hi), rng.randint(lo, hi)))
    step = rng.choice([1, 2, 3, 5, 7, 15, 30, 45, 59, 60, 90])
    return rng.choice([
        "*", val(), f"{a}-{b}", f"*/{step}", f"{val()}/{step}", f"{a}-{b}/{step}", val(),
    ])


def _random_field(rng: random.Random, lo: int, hi: int, names: list[str] | None = None) -> str:
    items = [_random_item(rng, lo, hi, names or []) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
    return "*" if "*" in items and len(items) > 1 else ",".join(items)


def _random_standard_cron(rng: random.Random) -> str:
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
    dom = _random_field(rng, 1, 31) if rng.random() < 0.4 else "*"
    dow = _random_field(rng, 0, 7, days) if rng.random() < 0.6 else "*"
    return " ".join([_random_field(rng, 0, 59), _random_field(rng, 0, 23), dom,
                     _random_field(rng, 1, 12, months) if rng.random() < 0.5 else "*", dow])


def _sweep(count: int, seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Convert `count` random 5-field crons; return ([(cron, output)], [(cron, refused output)])."""
    rng = random.Random(seed)
    converted: list[tuple[str, str]] = []
    refused: list[tuple[str, str]] = []
    for _ in range(count):
        cron = _random_standard_cron(rng)
        try:
            expression = to_eventbridge(cron)
        except ScheduleError:
            continue  # refused by the product, with a message: never sent
        converted.append((cron, expression))
        if expression_error(expression) is not None:
            refused.append((cron, expression))
    return converted, refused


def test_generated_sweep_of_five_field_crons_all_pass() -> None:
    converted, refused = _sweep(3000, seed=20261128)
    assert len(converted) > 1000  # the sweep really exercised the converter:
    assert sum("/" in cron.split()[4] for cron, _ in converted) > 100  # day-of-week steps
    assert sum("/60" in cron or "/90" in cron for cron, _ in converted) > 100  # oversized steps
    assert sum("/" in sent.split()[0] for _, sent in converted) > 100  # steps kept where allowed
    assert refused == []


def test_generated_sweep_through_resolve_all_pass() -> None:
    rng = random.Random(9)
    resolved = 0
    for _ in range(400):
        cron = _random_standard_cron(rng)
        try:
            schedule = resolve("custom", cron)
        except ScheduleError:
            continue
        resolved += 1
        assert expression_error(schedule.expression) is None, (cron, schedule.expression)
    assert resolved > 50


def _random_eventbridge_cron(rng: random.Random) -> str:
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
    special_dom = rng.choice(["L", "LW", f"{rng.randint(1, 31)}W"])
    special_dow = rng.choice(["L", f"{rng.randint(1, 7)}L", f"{rng.choice(days)}#{rng.randint(1, 5)}"])
    if rng.random() < 0.5:
        dom = special_dom if rng.random() < 0.2 else _random_field(rng, 1, 31)
        dow = "?"
    else:
        dom, dow = "?", special_dow if rng.random() < 0.2 else _random_field(rng, 1, 7, days)
    year = _random_field(rng, 2024, 2199) if rng.random() < 0.3 else "*"
    return (f"cron({_random_field(rng, 0, 59)} {_random_field(rng, 0, 23)} {dom} "
            f"{_random_field(rng, 1, 12, months)} {dow} {year})")


def test_generated_eventbridge_forms_are_normalised_to_pass() -> None:
    """cron(...) given by a user is sent in a form AWS takes (e.g. a day-of-week step as days)."""
    rng = random.Random(7)
    checked = 0
    for _ in range(1500):
        expression = _random_eventbridge_cron(rng)
        try:
            sent = to_eventbridge(expression)
        except ScheduleError:
            continue
        checked += 1
        assert expression_error(sent) is None, (expression, sent)
    assert checked > 300
