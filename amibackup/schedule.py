"""Backup schedules: presets, cron -> EventBridge Scheduler conversion, checks and previews.

This is the pure functional core for schedules (stdlib + croniter only, no AWS) so that
configuration can be validated and previewed offline, before anything is deployed.

Two expression forms are accepted from users:

* standard 5-field cron, e.g. ``*/15 * * * 1-5`` (what most people know), which is
  converted to EventBridge form, keeping its exact meaning or refusing;
* EventBridge Scheduler's own ``cron(min hour dom month dow year)`` and
  ``rate(N unit)`` forms, which are validated and passed through with normalised spacing.

Times are wall-clock times in the schedule's IANA timezone (EventBridge Scheduler's
``ScheduleExpressionTimezone``). Interval checks ignore daylight-saving shifts.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadDateError, croniter

__all__ = [
    "FREQUENCIES",
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

PRESETS: dict[str, str] = {
    "continuous": "rate(10 minutes)",
    "hourly": "cron(0 * * * ? *)",
    "daily": "cron(0 0 * * ? *)",
    "weekly": "cron(0 0 ? * SUN *)",
}
FREQUENCIES = ("continuous", "hourly", "daily", "weekly", "custom")
# The fastest preset ("continuous"): AMI creation takes minutes, faster is pointless and costly.
MIN_INTERVAL = timedelta(minutes=10)

# Standard cron macros mapped to the EventBridge expression with the same meaning.
_MACROS: dict[str, str] = {
    "@hourly": PRESETS["hourly"],
    "@daily": PRESETS["daily"],
    "@midnight": PRESETS["daily"],
    "@weekly": PRESETS["weekly"],
    "@monthly": "cron(0 0 1 * ? *)",
    "@yearly": "cron(0 0 1 1 ? *)",
    "@annually": "cron(0 0 1 1 ? *)",
}

_MONTH_NAMES = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_RATE_UNITS = {"minute": 1, "hour": 60, "day": 1440}
_FIELDS_HELP = "minutes hours day-of-month month day-of-week year"


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message says why and how to fix it."""


@dataclass(frozen=True)
class Schedule:
    """A validated schedule, ready for EventBridge Scheduler."""

    expression: str
    timezone: str = "UTC"
    description: str = ""


# --------------------------------------------------------------------------- fields


@dataclass(frozen=True)
class _Field:
    """Bounds and names of one cron field (numbering depends on the dialect)."""

    name: str
    lo: int
    hi: int
    names: dict[str, int]
    star_hi: int  # highest value '*' and 'a/step' reach (7 in standard dow is a Sunday alias)


_MINUTE = _Field("minute", 0, 59, {}, 59)
_HOUR = _Field("hour", 0, 23, {}, 23)
_DOM = _Field("day-of-month", 1, 31, {}, 31)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES, 12)
_STD_DOW = _Field("day-of-week", 0, 7, {n: i for i, n in enumerate(_DAY_NAMES)}, 6)
_EB_DOW = _Field("day-of-week", 1, 7, {n: i + 1 for i, n in enumerate(_DAY_NAMES)}, 7)
_YEAR = _Field("year", 1970, 2199, {}, 2199)

_NAMES_RE = re.compile("|".join((*_MONTH_NAMES, *_DAY_NAMES)))
_TOKEN_RE = re.compile(r"^(\*|[0-9]+|[A-Z]+)(?:-([0-9]+|[A-Z]+))?(?:/([0-9]+))?$")


@dataclass(frozen=True)
class _Token:
    """One comma-separated item of a cron field: '*', 'a', 'a-b', each optionally '/step'."""

    start: int | None  # None means '*'
    end: int | None
    step: int | None
    named: bool  # every endpoint was written as a name (MON, JAN, ...)
    mixed: bool  # names and numbers mixed, e.g. MON-5


def _value(text: str, f: _Field, where: str) -> tuple[int, bool]:
    """Parse a number or name of field f; return (value, was_name)."""
    if text.isdigit():
        v = int(text)
        if not f.lo <= v <= f.hi:
            raise ScheduleError(
                f"{where}: {f.name} value {v} is out of range; allowed {f.lo}-{f.hi}"
                + (
                    f" or names {min(f.names, key=f.names.__getitem__)}"
                    f"-{max(f.names, key=f.names.__getitem__)}"
                    if f.names
                    else ""
                )
                + "."
            )
        return v, False
    if text in f.names:
        return f.names[text], True
    hint = f" (use {', '.join(f.names)})" if f.names else " (use numbers)"
    raise ScheduleError(f"{where}: '{text}' is not a valid {f.name} value{hint}.")


def _parse_token(tok: str, f: _Field, where: str) -> _Token:
    """Parse one list item, validating values and steps (wrap-around ranges are left to callers)."""
    m = _TOKEN_RE.match(tok)
    if not m:
        raise ScheduleError(
            f"{where}: '{tok}' is not valid in the {f.name} field; use a value, a range a-b, a "
            "list a,b, '*', or a step like */15 or a-b/2."
        )
    a, b, s = m.groups()
    if a == "*" and b is not None:
        raise ScheduleError(
            f"{where}: '{tok}' is not valid in the {f.name} field ('*' can't start a range)."
        )
    start = end = None
    named: list[bool] = []
    if a != "*":
        start, n = _value(a, f, where)
        named.append(n)
    if b is not None:
        end, n = _value(b, f, where)
        named.append(n)
    step = None
    if s is not None:
        step = int(s)
        if step < 1:
            raise ScheduleError(f"{where}: step '/{s}' in the {f.name} field must be 1 or more.")
    return _Token(start, end, step, bool(named) and all(named), any(named) and not all(named))


def _token_values(t: _Token, f: _Field) -> list[int]:
    """Values a (non wrap-around) token selects, in field numbering."""
    if t.start is None:
        lo, hi = f.lo, f.star_hi
    elif t.end is None:
        lo, hi = t.start, (f.star_hi if t.step is not None else t.start)
    else:
        lo, hi = t.start, t.end
    return list(range(lo, hi + 1, t.step or 1))


def _token_text(t: _Token, f: _Field, star_step_start: bool = False) -> str:
    """Render a token canonically (names upper-cased; mixed name/number ranges as numbers)."""
    rev = {v: k for k, v in f.names.items()}

    def show(v: int) -> str:
        return rev[v] if t.named and v in rev else str(v)

    if t.start is None:
        base = str(f.lo) if (t.step is not None and star_step_start) else "*"
    else:
        base = show(t.start) + (f"-{show(t.end)}" if t.end is not None else "")
    return base + (f"/{t.step}" if t.step is not None else "")


def _compress(values: set[int] | frozenset[int]) -> str:
    """Sorted values as a compact list, runs of 3+ written as ranges: {1,2,3,5} -> '1-3,5'."""
    out: list[str] = []
    vals = sorted(values)
    i = 0
    while i < len(vals):
        j = i
        while j + 1 < len(vals) and vals[j + 1] == vals[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{vals[i]}-{vals[j]}")
        else:
            out.extend(str(v) for v in vals[i : j + 1])
        i = j + 1
    return ",".join(out)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --------------------------------------------------------------------------- standard cron


def _plain_field(text: str, f: _Field, where: str, standard: bool) -> tuple[str, set[int]]:
    """One field of values, ranges, lists and steps, as EventBridge text and its values.

    `standard`: the input is 5-field cron (`*/n` becomes `lo/n`, duplicates are dropped).
    """
    out: list[str] = []
    values: set[int] = set()
    for tok in text.split(","):
        t = _parse_token(tok, f, where)
        if t.start is not None and t.end is not None and t.start > t.end:
            raise ScheduleError(
                f"{where}: range '{tok}' in the {f.name} field runs backwards; EventBridge ranges "
                "must go from low to high. Split it into two parts joined by a comma, e.g. "
                f"'{t.start}-{f.hi},{f.lo}-{t.end}'."
            )
        if t.mixed:
            t = _Token(t.start, t.end, t.step, False, False)
        out.append(_token_text(t, f, star_step_start=standard))
        values.update(_token_values(t, f))
    return ",".join(_dedupe(out) if standard else out), values


def _std_field(text: str, f: _Field, where: str) -> tuple[str, set[int]]:
    return _plain_field(text, f, where, standard=True)


def _std_dow(text: str, where: str) -> tuple[str, set[int]]:
    """Convert a standard day-of-week field (0/7=Sun..6=Sat) to EventBridge (1=SUN..7=SAT).

    Plain numeric tokens are shifted (1-5 -> 2-6, 1-5/2 -> 2-6/2), pure name tokens pass
    through upper-cased; anything that can't be shifted as-is (steps on '*', ranges ending
    on 7, wrap-arounds like FRI-SUN, mixed names) is expanded to an explicit day list, so
    the meaning is always kept. Returns the EventBridge text and the standard day set (0-6).
    """
    f = _STD_DOW
    out: list[str] = []
    days: set[int] = set()
    for tok in text.split(","):
        t = _parse_token(tok, f, where)
        wraps = t.start is not None and t.end is not None and t.start > t.end
        if wraps:
            if t.step is not None:
                raise ScheduleError(
                    f"{where}: day-of-week '{tok}' combines a wrap-around range with a step, which "
                    "is ambiguous; list the days explicitly, e.g. '5,0'."
                )
            assert t.start is not None and t.end is not None
            vals = [*range(t.start, 7), *range(t.end + 1)]  # croniter's wrap-around meaning
        else:
            vals = _token_values(t, f)
        std_days = {v % 7 for v in vals}
        days |= std_days
        if t.named and not wraps and not (t.step is not None and t.end is None):
            out.append(_token_text(t, f))  # SUN..SAT mean the same in both dialects
        elif (
            not t.named
            and not t.mixed
            and t.start is not None
            and t.start <= 6
            and not wraps
            and ((t.end is None and t.step is None) or (t.end is not None and t.end <= 6))
        ):
            shifted = _Token(
                t.start + 1, None if t.end is None else t.end + 1, t.step, False, False
            )
            out.append(_token_text(shifted, _EB_DOW))
        elif t.start == 7 and t.end is None and t.step is None:
            out.append("1")
        else:
            out.append(_compress({d + 1 for d in std_days}))
    return ",".join(_dedupe(out)), days


def _croniter_sets(expr: str) -> list[set[int] | None]:
    """Per-field value sets as croniter understands them (None = every value)."""
    fields, _ = croniter.expand(expr)
    out: list[set[int] | None] = []
    for vals in fields:
        out.append(None if vals == ["*"] else {int(v) for v in vals})
    return out


def _std_to_eventbridge(expr: str) -> str:
    where = f"cron '{expr}'"
    parts = expr.upper().split()
    if len(parts) != 5:
        extra = ""
        if len(parts) == 6:
            extra = (
                " If you meant EventBridge's 6-field form (minutes hours day-of-month month "
                "day-of-week year), write it inside cron(...)."
            )
        raise ScheduleError(
            f"{where}: expected 5 fields (minute hour day-of-month month day-of-week), got "
            f"{len(parts)}.{extra}"
        )
    for part, fname in zip(parts, ("minute", "hour", "day-of-month", "month", "day-of-week")):
        # letters left once names are removed, so that the L in JUL or the W in WED don't count
        letters = set(re.findall(r"[A-Z]+", _NAMES_RE.sub(" ", part)))
        eventbridge_only = sorted(letters & {"L", "W", "LW"}) + (["#"] if "#" in part else [])
        if eventbridge_only:
            raise ScheduleError(
                f"{where}: '{eventbridge_only[0]}' in the {fname} field is not standard cron. EventBridge "
                "supports L, W and # only in its own form: write the whole schedule as "
                "cron(...), e.g. cron(0 0 L * ? *) for the last day of every month."
            )
        if "H" in letters:
            raise ScheduleError(
                f"{where}: hashed 'H' values are not supported; use explicit numbers."
            )
        if "?" in part and (fname not in ("day-of-month", "day-of-week") or part != "?"):
            raise ScheduleError(
                f"{where}: '?' is only allowed alone, in day-of-month or day-of-week."
            )
    minute, hour, dom, month, dow = parts
    dom = "*" if dom == "?" else dom
    dow = "*" if dow == "?" else dow

    eb_min, mins = _std_field(minute, _MINUTE, where)
    eb_hour, hours = _std_field(hour, _HOUR, where)
    eb_dom, doms = _std_field(dom, _DOM, where)
    eb_month, months = _std_field(month, _MONTH, where)
    eb_dow, dows = _std_dow(dow, where)

    if dom != "*" and dow != "*":
        raise ScheduleError(
            f"{where}: both day-of-month ('{dom}') and day-of-week ('{dow}') are restricted. "
            "Standard cron then runs on days matching EITHER one, and EventBridge can't express "
            "'day-of-month OR day-of-week'. Restrict only one of them (set the other to '*'), or "
            "split it into two backups."
        )

    # Cross-check with croniter so that we never convert something it reads differently.
    normal = f"{minute} {hour} {dom} {month} {dow}"
    if not croniter.is_valid(normal):
        raise ScheduleError(
            f"{where}: not a valid cron expression (minute hour day-of-month month day-of-week)."
        )
    ours: list[set[int]] = [mins, hours, doms, months, dows]
    full = [set(range(60)), set(range(24)), set(range(1, 32)), set(range(1, 13)), set(range(7))]
    for name, mine, theirs, everything in zip(
        ("minute", "hour", "day-of-month", "month", "day-of-week"),
        ours,
        _croniter_sets(normal),
        full,
    ):
        if mine != (everything if theirs is None else theirs):
            raise ScheduleError(
                f"{where}: the {name} field is ambiguous (cron implementations read it "
                "differently); list the values explicitly instead (for days of the week: 0=Sunday "
                "... 6=Saturday)."
            )

    if dow == "*":
        eb_dow = "?"
    else:
        eb_dom = "?"
    return f"cron({eb_min} {eb_hour} {eb_dom} {eb_month} {eb_dow} *)"


# --------------------------------------------------------------------------- EventBridge cron


@dataclass(frozen=True)
class _Cron:
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


def _eb_plain(text: str, f: _Field, where: str) -> tuple[str, set[int]]:
    return _plain_field(text, f, where, standard=False)


def _parse_eb_cron(inner: str, original: str) -> _Cron:
    where = f"'{original}'"
    parts = inner.upper().split()
    if len(parts) != 6:
        hint = ""
        if len(parts) == 5:
            hint = (
                " It looks like standard 5-field cron: pass it without cron(...) to have it "
                f"converted, e.g. '{' '.join(parts)}'."
            )
        raise ScheduleError(
            f"{where}: EventBridge cron needs 6 fields ({_FIELDS_HELP}), got {len(parts)}.{hint}"
        )
    minute, hour, dom, month, dow, year = parts
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(
            f"{where}: exactly one of day-of-month and day-of-week must be '?' in EventBridge cron "
            f"(got '{dom}' and '{dow}'). E.g. cron(0 0 * * ? *) for every day, cron(0 0 ? * MON *) "
            "for Mondays."
        )
    for part, fname in zip(parts, _FIELDS_HELP.split()):
        if not re.fullmatch(r"[0-9A-Z*,/?#-]+", part):
            raise ScheduleError(
                f"{where}: the {fname} field '{part}' contains characters EventBridge cron doesn't "
                "allow."
            )
        if "?" in part and (fname not in ("day-of-month", "day-of-week") or part != "?"):
            raise ScheduleError(
                f"{where}: '?' is only allowed alone, in day-of-month or day-of-week."
            )

    f_min, mins = _eb_plain(minute, _MINUTE, where)
    f_hour, hours = _eb_plain(hour, _HOUR, where)
    f_month, months = _eb_plain(month, _MONTH, where)
    if year == "*":
        f_year, years = "*", None
    else:
        f_year, yvals = _eb_plain(year, _YEAR, where)
        years = frozenset(yvals)

    dom_spec: frozenset[int] | str | None
    if dom == "?":
        f_dom, dom_spec = "?", None
    elif dom in ("L", "LW"):
        f_dom, dom_spec = dom, dom
    elif m := re.fullmatch(r"([0-9]+)W", dom):
        n = int(m.group(1))
        if not 1 <= n <= 31:
            raise ScheduleError(f"{where}: '{dom}' needs a day-of-month 1-31 before W.")
        f_dom = dom_spec = f"{n}W"
    elif re.search(r"[LW#]", dom):
        raise ScheduleError(
            f"{where}: day-of-month '{dom}' is not supported; L, LW and nW (e.g. 15W) must be used "
            "alone."
        )
    else:
        f_dom, dvals = _eb_plain(dom, _DOM, where)
        dom_spec = frozenset(dvals)

    dow_spec: frozenset[int] | str | None
    if dow == "?":
        f_dow, dow_spec = "?", None
    elif dow == "L":
        f_dow, dow_spec = "L", "L"
    elif m := re.fullmatch(r"([0-9]+|[A-Z]{3})(L|#([0-9]+))", dow):
        day, _ = _value(m.group(1), _EB_DOW, where)
        if m.group(3) is not None:
            k = int(m.group(3))
            if not 1 <= k <= 5:
                raise ScheduleError(f"{where}: '{dow}': the week number after '#' must be 1-5.")
            f_dow = dow_spec = f"{day}#{k}"
        else:
            f_dow = dow_spec = f"{day}L"
    elif re.search(r"[L#]", _NAMES_RE.sub("", dow)):
        raise ScheduleError(
            f"{where}: day-of-week '{dow}' is not supported; L, nL (e.g. 6L) and n#k (e.g. 2#1) "
            "must be used alone."
        )
    else:
        f_dow, wvals = _eb_plain(dow, _EB_DOW, where)
        dow_spec = frozenset(wvals)

    return _Cron(
        fields=(f_min, f_hour, f_dom, f_month, f_dow, f_year),
        minutes=tuple(sorted(mins)),
        hours=tuple(sorted(hours)),
        months=frozenset(months),
        years=years,
        dom=dom_spec,
        dow=dow_spec,
    )


# --------------------------------------------------------------------------- rate


@dataclass(frozen=True)
class _Rate:
    value: int
    unit: str  # singular: minute, hour, day

    @property
    def expression(self) -> str:
        return f"rate({self.value} {self.unit}{'' if self.value == 1 else 's'})"

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=self.value * _RATE_UNITS[self.unit])


def _parse_rate(inner: str, original: str) -> _Rate:
    parts = inner.lower().split()
    usage = "use rate(N minutes|hours|days), e.g. rate(10 minutes) or rate(1 hour)"
    if len(parts) != 2 or not parts[0].isdigit():
        raise ScheduleError(f"'{original}': not a valid rate expression; {usage}.")
    value, unit = int(parts[0]), parts[1]
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNITS:
        raise ScheduleError(f"'{original}': unknown unit '{unit}'; {usage}.")
    if value < 1:
        raise ScheduleError(
            f"'{original}': the rate value must be a positive whole number; {usage}."
        )
    if value == 1 and unit != singular:
        raise ScheduleError(
            f"'{original}': with a value of 1 the unit must be singular: rate(1 {singular})."
        )
    if value > 1 and unit == singular:
        raise ScheduleError(
            f"'{original}': with a value above 1 the unit must be plural: rate({value} "
            f"{singular}s)."
        )
    return _Rate(value, singular)


# --------------------------------------------------------------------------- parsing front door


def _parse(expr: str) -> _Cron | _Rate:
    """Parse any accepted form into a validated EventBridge cron or rate."""
    if not isinstance(expr, str):
        raise ScheduleError(f"schedule expression must be a string, got {type(expr).__name__}.")
    if not expr.strip():
        raise ScheduleError(
            "empty schedule expression; give a cron like '0 3 * * *', or cron(...) / rate(...)."
        )
    return _parse_text(expr)


MAX_EXPRESSION = 256  # EventBridge's limit on ScheduleExpression


@lru_cache(maxsize=256)
def _parse_text(expr: str) -> _Cron | _Rate:
    text = " ".join(expr.split())
    if len(text) > MAX_EXPRESSION:
        raise ScheduleError(f"is {len(text)} characters long; a schedule expression has at most "
                            f"{MAX_EXPRESSION}: write a shorter cron such as \"30 2 * * *\"")
    low = text.lower()
    if low.startswith("@"):
        if low in _MACROS:
            return _parse(_MACROS[low])
        raise ScheduleError(
            f"'{text}': unsupported cron macro; use one of {', '.join(_MACROS)} or a 5-field cron "
            "expression."
        )
    m = re.fullmatch(r"(cron|rate|at)\s*\((.*)\)", text, flags=re.IGNORECASE)
    if m:
        kind, inner = m.group(1).lower(), m.group(2)
        if kind == "at":
            raise ScheduleError(
                f"'{text}': one-time at(...) schedules aren't supported; backups need a recurring "
                "cron(...) or rate(...)."
            )
        return _parse_rate(inner, text) if kind == "rate" else _parse_eb_cron(inner, text)
    if re.match(r"(cron|rate|at)\s*\(", low):
        raise ScheduleError(f"'{text}': missing closing parenthesis ')'.")
    return _parse_eb_cron(_std_to_eventbridge(text)[5:-1], text)


# --------------------------------------------------------------------------- public API


def to_eventbridge(expr: str) -> str:
    """Return the EventBridge Scheduler form of a 5-field cron, cron(...) or rate(...) expression.

    Standard cron is converted with its exact meaning (day-of-week renumbered, '?' placed)
    or refused with a ScheduleError; EventBridge forms are validated and normalised.
    This checks syntax only: the minimum-interval policy is enforced by resolve().
    """
    return _parse(expr).expression


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


def _matches_day(c: _Cron, d: date) -> bool:
    """Does an EventBridge cron run on this calendar day (any time)?"""
    if c.years is not None and d.year not in c.years:
        return False
    if d.month not in c.months:
        return False
    last = calendar.monthrange(d.year, d.month)[1]
    eb_dow = (d.weekday() + 1) % 7 + 1  # Python Mon=0 -> EventBridge MON=2
    if c.dom is not None:
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
    assert c.dow is not None
    if isinstance(c.dow, frozenset):
        return eb_dow in c.dow
    if c.dow == "L":
        return eb_dow == 7
    if c.dow.endswith("L"):
        return eb_dow == int(c.dow[:-1]) and d.day + 7 > last
    day, k = (int(x) for x in c.dow.split("#"))
    return eb_dow == day and (d.day - 1) // 7 + 1 == k


def _firing_days_gap(c: _Cron) -> int | None:
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
        if _matches_day(c, d):
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
    parsed = _parse(expression)
    if isinstance(parsed, _Rate):
        return parsed.interval
    times = sorted(h * 60 + m for h in parsed.hours for m in parsed.minutes)
    gaps = [b - a for a, b in pairwise(times)]
    day_gap = _firing_days_gap(parsed)
    if day_gap is not None:
        gaps.append(day_gap * 1440 + times[0] - times[-1])
    return timedelta(minutes=min(gaps)) if gaps else timedelta.max


def _interval_lower_bound(expression: str) -> timedelta:
    """A cheap lower bound of min_interval: run days assumed consecutive (no day scan)."""
    parsed = _parse(expression)
    if isinstance(parsed, _Rate):
        return parsed.interval
    times = sorted(h * 60 + m for h in parsed.hours for m in parsed.minutes)
    gaps = [b - a for a, b in pairwise(times)] + [1440 + times[0] - times[-1]]
    return timedelta(minutes=min(gaps))


def _to_croniter(c: _Cron) -> str | None:
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


def _cron_runs(c: _Cron, count: int, tz: ZoneInfo, start: datetime) -> list[datetime]:
    expr = _to_croniter(c)
    allowed = c.years
    years = sorted(allowed) if allowed is not None else None
    out: list[datetime] = []

    def jump_from(t: datetime) -> datetime | None:
        """Where to search from so as to skip years the cron excludes (None: no years left)."""
        if allowed is None or t.year in allowed:
            return t
        later = [y for y in allowed if y > t.year]
        if not later:
            return None
        return datetime(min(later), 1, 1, tzinfo=tz) - timedelta(microseconds=1)

    if expr is None:  # rare (LW): day by day, over at most one 400-year Gregorian cycle
        d = start.date()
        horizon = date(years[-1], 12, 31) if years else start.date() + timedelta(days=146097)
        while len(out) < count and d <= horizon:
            if _matches_day(c, d):
                for h in c.hours:
                    for m in c.minutes:
                        t = datetime(d.year, d.month, d.day, h, m, tzinfo=tz)
                        if t > start and len(out) < count:
                            out.append(t)
            d += timedelta(days=1)
        return out

    cursor = jump_from(start)
    while cursor is not None and len(out) < count:
        it = croniter(expr, cursor)
        cursor = None
        while len(out) < count:
            try:
                t = it.get_next(datetime).astimezone(tz)
            except CroniterBadDateError:  # croniter found no run for years: none will come
                return out
            if allowed is None or t.year in allowed:
                out.append(t)
            else:
                cursor = jump_from(t)
                break
    return out


def next_runs(
    expression: str, count: int = 5, timezone: str = "UTC", start: datetime | None = None
) -> list[datetime]:
    """The next `count` runs strictly after `start` (default: now), aware, in `timezone`.

    A naive `start` is read as wall-clock time in `timezone`. Cron expressions follow
    croniter's calendar (including its DST handling). rate(N unit) has no fixed clock:
    EventBridge counts from when the schedule is created, so this treats `start`
    (truncated to the minute) as that moment and returns start + N, + 2N, ... units of
    elapsed time. Fewer than `count` runs are returned when a year-bounded cron ends.
    """
    check_timezone(timezone)
    if count < 0:
        raise ScheduleError(f"count must be 0 or more, got {count}.")
    tz = ZoneInfo(timezone)
    if start is None:
        start = datetime.now(tz)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=tz)
    else:
        start = start.astimezone(tz)
    parsed = _parse(expression)
    if isinstance(parsed, _Rate):
        anchor = start.replace(second=0, microsecond=0).astimezone(UTC)
        return [(anchor + parsed.interval * k).astimezone(tz) for k in range(1, count + 1)]
    return _cron_runs(parsed, count, tz, start)


_DAY_LONG = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_DAY_SHORT = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def _describe_days(dows: frozenset[int]) -> str:
    days = sorted(dows)  # EventBridge 1=SUN..7=SAT
    if len(days) == 1:
        return f"every {_DAY_LONG[days[0] - 1]}"
    if days == list(range(days[0], days[-1] + 1)) and len(days) >= 3:
        return f"on {_DAY_SHORT[days[0] - 1]}-{_DAY_SHORT[days[-1] - 1]}"
    return "on " + ", ".join(_DAY_SHORT[d - 1] for d in days)


def describe(expression: str, timezone: str = "UTC") -> str:
    """One human line for a schedule, e.g. 'at 09:30 on Mon-Fri (Europe/Paris)'.

    Common shapes get plain English; anything else is shown honestly as the
    expression and its timezone rather than a guess.
    """
    parsed = _parse(expression)
    if isinstance(parsed, _Rate):
        return "every " + (parsed.unit if parsed.value == 1 else f"{parsed.value} {parsed.unit}s")
    c = parsed
    fallback = f"{c.expression} in {timezone}"
    if c.years is not None or c.months != frozenset(range(1, 13)):
        return fallback
    if c.every_day:
        days = "every day"
    elif c.dom is None and isinstance(c.dow, frozenset):
        days = _describe_days(c.dow)
    elif isinstance(c.dom, frozenset) and len(c.dom) <= 3:
        days = "on day " + " and ".join(str(d) for d in sorted(c.dom)) + " of every month"
    elif c.dom == "L":
        days = "on the last day of every month"
    else:
        return fallback
    suffix = f" ({timezone})"
    mins, hours = c.minutes, c.hours
    if hours == tuple(range(24)):
        if len(mins) == 1:
            when = f"at minute {mins[0]} of every hour"
        else:
            step = mins[1] - mins[0]
            if mins[0] < step and 60 % step == 0 and mins == tuple(range(mins[0], 60, step)):
                when = f"every {step} minutes" + (f" from minute {mins[0]}" if mins[0] else "")
            else:
                return fallback
        return when + ("" if days == "every day" else f" {days}") + suffix
    times = [f"{h:02d}:{m:02d}" for h in hours for m in mins]
    if len(times) > 4:
        return fallback
    at = times[0] if len(times) == 1 else ", ".join(times[:-1]) + " and " + times[-1]
    return f"at {at} {days}{suffix}"


@lru_cache(maxsize=1024)
def resolve(frequency: str, cron: str | None = None, timezone: str = "UTC") -> Schedule:
    """Turn user configuration (frequency, optional cron, timezone) into a validated Schedule.

    Refuses unknown frequencies, a cron given with a preset (it would be silently ignored),
    invalid timezones, schedules that never run, and anything faster than MIN_INTERVAL.
    """
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
        expression = to_eventbridge(cron)
    else:
        if cron is not None:
            raise ScheduleError(
                f"a cron expression ('{cron}') was given with frequency '{freq}', which would "
                "ignore it; set frequency to 'custom' to use the cron, or remove the cron."
            )
        expression = PRESETS[freq]
    check_timezone(timezone)
    gap = _interval_lower_bound(expression)
    if gap < MIN_INTERVAL:
        gap = min_interval(expression)  # exact, for the message (and to be sure)
    if gap < MIN_INTERVAL:
        raise ScheduleError(
            f"schedule '{cron or expression}' runs as often as every {_fmt_gap(gap)}; the minimum "
            f"is {_fmt_gap(MIN_INTERVAL)} (the 'continuous' preset). Use frequency 'continuous' or "
            "a slower schedule, e.g. '*/10 * * * *'."
        )
    if not next_runs(expression, 1, timezone):
        raise ScheduleError(
            f"schedule '{cron or expression}' never runs from now on (e.g. 30 February, or only "
            "past years); fix its day, month or year fields."
        )
    return Schedule(
        expression=expression, timezone=timezone, description=describe(expression, timezone)
    )


def _fmt_gap(gap: timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    if minutes % 1440 == 0:
        n, unit = minutes // 1440, "day"
    elif minutes % 60 == 0:
        n, unit = minutes // 60, "hour"
    else:
        n, unit = minutes, "minute"
    return f"{n} {unit}{'' if n == 1 else 's'}"
