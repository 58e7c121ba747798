"""EventBridge Scheduler's own forms, cron(min hour dom month dow year) and rate(N unit), parsed.

The result keeps the value sets needed to reason about runs; its text is canonical and is
what the product sends to AWS (see fields.eventbridge_text for what gets rewritten).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from amibackup.schedule.fields import (
    DOM,
    EB_DOW,
    HOUR,
    MINUTE,
    MONTH,
    NAMES_RE,
    YEAR,
    Field,
    plain_field,
    value,
)
from amibackup.schedule.model import ScheduleError

FIELDS_HELP = "minutes hours day-of-month month day-of-week year"
RATE_UNITS = {"minute": 1, "hour": 60, "day": 1440}


@dataclass(frozen=True)
class Cron:
    """A validated EventBridge cron expression, with the value sets needed to reason about it."""

    fields: tuple[str, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: frozenset[int] | None  # None = any year
    dom: frozenset[int] | str | None  # None = '?'; 'L', 'LW' or 'nW'
    # None = '?'; else EventBridge numbers 1=SUN..7=SAT, or 'L', 'nL', 'n#k'
    dow: frozenset[int] | str | None

    @property
    def expression(self) -> str:
        return f"cron({' '.join(self.fields)})"

    @property
    def every_day(self) -> bool:
        """True when every day of the allowed months/years runs (no day restriction)."""
        if self.dom is None:
            return self.dow == frozenset(range(1, 8))
        return self.dom == frozenset(range(1, 32)) and self.dow is None


@dataclass(frozen=True)
class Rate:
    value: int
    unit: str  # singular: minute, hour, day

    @property
    def expression(self) -> str:
        return f"rate({self.value} {self.unit}{'' if self.value == 1 else 's'})"

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.value * RATE_UNITS[self.unit])


def _eb_plain(text: str, f: Field, where: str) -> tuple[str, set[int]]:
    return plain_field(text, f, where, standard=False)


def _check_shape(parts: list[str], where: str) -> None:
    """Six fields, exactly one '?' day field, only cron characters, '?' alone in a day field."""
    if len(parts) != 6:
        hint = ""
        if len(parts) == 5:
            hint = (
                " It looks like standard 5-field cron: pass it without cron(...) to have it "
                f"converted, e.g. '{' '.join(parts)}'."
            )
        raise ScheduleError(
            f"{where}: EventBridge cron needs 6 fields ({FIELDS_HELP}), got {len(parts)}.{hint}"
        )
    dom, dow = parts[2], parts[4]
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(
            f"{where}: exactly one of day-of-month and day-of-week must be '?' in EventBridge cron "
            f"(got '{dom}' and '{dow}'). E.g. cron(0 0 * * ? *) for every day, cron(0 0 ? * MON *) "
            "for Mondays."
        )
    for part, fname in zip(parts, FIELDS_HELP.split(), strict=True):
        if not re.fullmatch(r"[0-9A-Z*,/?#-]+", part):
            raise ScheduleError(
                f"{where}: the {fname} field '{part}' contains characters EventBridge cron doesn't "
                "allow."
            )
        if "?" in part and (fname not in ("day-of-month", "day-of-week") or part != "?"):
            raise ScheduleError(
                f"{where}: '?' is only allowed alone, in day-of-month or day-of-week."
            )


def _day_of_month(dom: str, where: str) -> tuple[str, frozenset[int] | str | None]:
    """EventBridge text and meaning of a day-of-month field: '?', L, LW, nW or plain values."""
    if dom == "?":
        return "?", None
    if dom in ("L", "LW"):
        return dom, dom
    if m := re.fullmatch(r"([0-9]+)W", dom):
        n = int(m.group(1))
        if not 1 <= n <= 31:
            raise ScheduleError(f"{where}: '{dom}' needs a day-of-month 1-31 before W.")
        return f"{n}W", f"{n}W"
    if re.search(r"[LW#]", dom):
        raise ScheduleError(
            f"{where}: day-of-month '{dom}' is not supported; L, LW and nW (e.g. 15W) must be used "
            "alone."
        )
    text, values = _eb_plain(dom, DOM, where)
    return text, frozenset(values)


def _day_of_week(dow: str, where: str) -> tuple[str, frozenset[int] | str | None]:
    """EventBridge text and meaning of a day-of-week field: '?', L, nL, n#k or plain values."""
    if dow == "?":
        return "?", None
    if dow == "L":
        return "L", "L"
    if m := re.fullmatch(r"([0-9]+|[A-Z]{3})(L|#([0-9]+))", dow):
        day, _ = value(m.group(1), EB_DOW, where)
        if m.group(3) is None:
            return f"{day}L", f"{day}L"
        k = int(m.group(3))
        if not 1 <= k <= 5:
            raise ScheduleError(f"{where}: '{dow}': the week number after '#' must be 1-5.")
        return f"{day}#{k}", f"{day}#{k}"
    if re.search(r"[L#]", NAMES_RE.sub("", dow)):
        raise ScheduleError(
            f"{where}: day-of-week '{dow}' is not supported; L, nL (e.g. 6L) and n#k (e.g. 2#1) "
            "must be used alone."
        )
    text, values = _eb_plain(dow, EB_DOW, where)
    return text, frozenset(values)


def parse_cron(inner: str, original: str) -> Cron:
    """Parse the inside of cron(...): validate every field and keep its canonical text."""
    where = f"'{original}'"
    parts = inner.upper().split()
    _check_shape(parts, where)
    minute, hour, dom, month, dow, year = parts
    f_min, mins = _eb_plain(minute, MINUTE, where)
    f_hour, hours = _eb_plain(hour, HOUR, where)
    f_month, months = _eb_plain(month, MONTH, where)
    years: frozenset[int] | None = None
    f_year = "*"
    if year != "*":
        f_year, year_values = _eb_plain(year, YEAR, where)
        years = frozenset(year_values)
    f_dom, dom_spec = _day_of_month(dom, where)
    f_dow, dow_spec = _day_of_week(dow, where)
    return Cron(
        fields=(f_min, f_hour, f_dom, f_month, f_dow, f_year),
        minutes=tuple(sorted(mins)),
        hours=tuple(sorted(hours)),
        months=frozenset(months),
        years=years,
        dom=dom_spec,
        dow=dow_spec,
    )


def parse_rate(inner: str, original: str) -> Rate:
    """Parse the inside of rate(...): a positive whole number and a unit, singular iff 1."""
    parts = inner.lower().split()
    usage = "use rate(N minutes|hours|days), e.g. rate(10 minutes) or rate(1 hour)"
    if len(parts) != 2 or not parts[0].isdigit():
        raise ScheduleError(f"'{original}': not a valid rate expression; {usage}.")
    count, unit = int(parts[0]), parts[1]
    singular = unit.removesuffix("s")
    if singular not in RATE_UNITS:
        raise ScheduleError(f"'{original}': unknown unit '{unit}'; {usage}.")
    if count < 1:
        raise ScheduleError(
            f"'{original}': the rate value must be a positive whole number; {usage}."
        )
    if count == 1 and unit != singular:
        raise ScheduleError(
            f"'{original}': with a value of 1 the unit must be singular: rate(1 {singular})."
        )
    if count > 1 and unit == singular:
        raise ScheduleError(
            f"'{original}': with a value above 1 the unit must be plural: rate({count} "
            f"{singular}s)."
        )
    return Rate(count, singular)
