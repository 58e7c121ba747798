"""EventBridge Scheduler's ScheduleExpression grammar, as AWS documents it (pure, stdlib only).

moto accepts any ScheduleExpression ("every tuesday" included); AWS answers
``ValidationException``. The local AWS's CreateSchedule/UpdateSchedule call
:func:`expression_error` so that an expression AWS would refuse fails locally too.

Sources (the rules below cite them by number):

1. EventBridge Scheduler User Guide, "Schedule types in EventBridge Scheduler"
   https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
   - rate-based: ``rate(value unit)``, value a positive number, unit minutes | hours | days;
   - cron-based: ``cron(minutes hours day-of-month month day-of-week year)``, six fields
     separated by white space, with this table of values and wildcards:

     ============  ===================  ===============
     field         values               wildcards
     ============  ===================  ===============
     minutes       0-59                 , - * /
     hours         0-23                 , - * /
     day-of-month  1-31                 , - * ? / L W
     month         1-12 or JAN-DEC      , - * /
     day-of-week   1-7 or SUN-SAT       , - * ? L #
     year          1970-2199            , - * /
     ============  ===================  ===============

     You can't specify day-of-month and day-of-week in the same expression: if one holds a
     value or ``*``, the other must be ``?``. With ``#`` only one expression is allowed in
     day-of-week (``3#1,6#3`` is invalid). ``L`` is the last day of the month/week; ``nW``
     the weekday nearest day n; ``n#k`` the k-th day n of the month.
   - one-time: ``at(yyyy-mm-ddThh:mm:ss)``.
2. EventBridge Scheduler API Reference, CreateSchedule, ``ScheduleExpression``: length
   1-256; the same three forms, with rate units ``minute | minutes | hour | hours | day | days``
   https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html
3. The cron dialect descends from Quartz's CronExpression. Where the documents are silent
   this follows Quartz: ``*/n`` is ``*`` with a step; a step is at most 59 (minutes), 23
   (hours), 31 (day-of-month), 12 (month); ``L``/``LW``/``nW``/``nL`` stand alone, never in
   a list; names are case-insensitive; ``LW`` is the last weekday of the month; a range
   may wrap around (``FRI-MON``); the year's step is not limited.

The message of a refusal starts with AWS's own text (``Invalid Schedule Expression
<expression>.``) and then says which rule was broken, for whoever reads the test failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

MAX_LENGTH = 256  # source 2

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_RATE_UNITS = ("minute", "hour", "day")


@dataclass(frozen=True)
class _Field:
    """One cron field's allowed values and wildcards (source 1), and its largest step (3)."""

    name: str
    lo: int
    hi: int
    names: tuple[str, ...]  # names for lo, lo+1, ... (empty: numbers only)
    wildcards: str
    max_step: int | None  # largest '/step' (0: no '/' at all); None: any


_FIELDS = (
    _Field("minutes", 0, 59, (), ",-*/", 59),
    _Field("hours", 0, 23, (), ",-*/", 23),
    _Field("day-of-month", 1, 31, (), ",-*?/LW", 31),
    _Field("month", 1, 12, _MONTHS, ",-*/", 12),
    _Field("day-of-week", 1, 7, _DAYS, ",-*?L#", 0),
    _Field("year", 1970, 2199, (), ",-*/", None),
)
_ITEM_RE = re.compile(r"(\*|[0-9]+|[A-Z]+)(?:-([0-9]+|[A-Z]+))?(?:/([0-9]+))?")


def expression_error(expression: str) -> str | None:
    """None if EventBridge Scheduler accepts `expression`, else its ValidationException text."""
    reason = why_invalid(expression)
    if reason is None:
        return None
    return f"Invalid Schedule Expression {expression}. ({reason})"


def why_invalid(expression: str) -> str | None:
    """Which documented rule `expression` breaks, or None if it breaks none."""
    if not isinstance(expression, str) or not 1 <= len(expression) <= MAX_LENGTH:
        return f"a schedule expression is 1 to {MAX_LENGTH} characters"
    m = re.fullmatch(r"(cron|rate|at)\((.*)\)", expression, flags=re.DOTALL)
    if m is None:
        return "use at(yyyy-mm-ddThh:mm:ss), rate(value unit) or cron(fields)"
    kind, inner = m.groups()
    if kind == "at":
        return _at_error(inner)
    if kind == "rate":
        return _rate_error(inner)
    return _cron_error(inner)


def _at_error(inner: str) -> str | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", inner):
        return "a one-time schedule is at(yyyy-mm-ddThh:mm:ss)"
    try:
        datetime.strptime(inner, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return f"at({inner}) is not a real date and time"
    return None


def _rate_error(inner: str) -> str | None:
    m = re.fullmatch(r"([0-9]+) ([a-z]+)", inner)
    if m is None:
        return "a rate is rate(value unit), e.g. rate(5 minutes)"
    value, unit = int(m.group(1)), m.group(2)
    if value < 1:
        return "the rate value must be a positive whole number"
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNITS:
        return "the rate unit is minute | minutes | hour | hours | day | days"
    if (value == 1) != (unit == singular):
        return f"the unit is singular for a value of 1 and plural otherwise, not {value} {unit}"
    return None


def _cron_error(inner: str) -> str | None:
    parts = inner.split() if inner == inner.strip() else []
    if len(parts) != 6:
        return "a cron expression has six fields separated by white space"
    dom, dow = parts[2].upper(), parts[4].upper()
    if (dom == "?") == (dow == "?"):
        return "exactly one of day-of-month and day-of-week must be '?'"
    for text, field in zip(parts, _FIELDS, strict=True):
        problem = _field_error(text.upper(), field)
        if problem is not None:
            return f"{field.name} '{text}': {problem}"
    return None


def _field_error(text: str, f: _Field) -> str | None:
    """Check one field against its row of the table (source 1) and the rules of source 3."""
    used = set(re.sub(r"[0-9A-Z]", "", text))
    refused = sorted(used - set(f.wildcards))
    if refused:
        return f"'{refused[0]}' is not allowed here (allowed: {' '.join(f.wildcards)})"
    if "?" in text:
        return None if text == "?" else "'?' stands alone"
    special = _special_error(text, f)
    if special != "":
        return special
    for item in text.split(","):
        problem = _item_error(item, f)
        if problem is not None:
            return problem
    return None


def _special_error(text: str, f: _Field) -> str | None:
    """L, LW, nW (day-of-month) and L, nL, n#k (day-of-week): '' when the field has none."""
    if not _has_special(text, f):
        return ""
    if f.name == "day-of-month":
        m = re.fullmatch(r"L|LW|([0-9]+)W", text)
        if m is None:
            return "L, LW and nW stand alone (e.g. L, 15W)"
        if m.group(1) is not None and not 1 <= int(m.group(1)) <= 31:
            return "nW needs a day 1-31"
        return None
    m = re.fullmatch(r"L|([0-9]+|[A-Z]{3})(L|#([0-9]+))", text)
    if m is None:
        return "L, nL and n#k stand alone (e.g. 6L, 2#1; only one expression with #)"
    if m.group(1) is not None and _value(m.group(1), f) is None:
        return f"'{m.group(1)}' is not a day 1-7 or SUN-SAT"
    if m.group(3) is not None and not 1 <= int(m.group(3)) <= 5:
        return "the week number after '#' is 1-5"
    return None


def _has_special(text: str, f: _Field) -> bool:
    """Does the field use L, W or # (the day fields' special forms)?"""
    if f.name == "day-of-month":
        return bool(re.search("[LW]", text))
    if f.name == "day-of-week":
        items = text.split(",")
        return "#" in text or any(re.fullmatch(r"([0-9]+|[A-Z]{3})?L", i) for i in items)
    return False


def _value(text: str, f: _Field) -> int | None:
    """A number or name of field f, or None if it is neither (or out of range)."""
    if text.isdigit():
        return int(text) if f.lo <= int(text) <= f.hi else None
    return f.lo + f.names.index(text) if text in f.names else None


def _item_error(item: str, f: _Field) -> str | None:
    """'*', 'a', 'a-b', each optionally '/step' (source 1, with Quartz's step limits)."""
    m = _ITEM_RE.fullmatch(item)
    if m is None:
        return f"'{item}' is not a value, range, list, '*' or step"
    start, end, step = m.groups()
    if start == "*" and end is not None:
        return "'*' cannot start a range"
    for v in (start, end):
        if v not in (None, "*") and _value(v, f) is None:
            names = f" or {f.names[0]}-{f.names[-1]}" if f.names else ""
            return f"'{v}' is not a value {f.lo}-{f.hi}{names}"
    if step is not None:
        if f.max_step == 0:
            return "'/' is not allowed here"
        if int(step) < 1 or (f.max_step is not None and int(step) > f.max_step):
            return f"the step after '/' is 1-{f.max_step or 'any'}"
    return None
