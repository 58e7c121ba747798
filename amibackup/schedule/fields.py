"""The cron field model shared by both dialects: bounds, names, tokens and their EventBridge text.

EventBridge's grammar limits what each field may hold (no '/' in day-of-week; a step no
larger than the field's span, as in Quartz, its ancestor), so rendering falls back to an
explicit value list whenever a token's own text would be refused. The meaning is kept.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

from amibackup.schedule.model import ScheduleError

MONTH_NAMES = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class Field:
    """Bounds and names of one cron field (numbering depends on the dialect)."""

    name: str
    lo: int
    hi: int
    names: dict[str, int]
    star_hi: int  # highest value '*' and 'a/step' reach (7 in standard dow is a Sunday alias)
    max_step: int  # largest '/step' EventBridge takes here (0: no steps)


MINUTE = Field("minute", 0, 59, {}, 59, 59)
HOUR = Field("hour", 0, 23, {}, 23, 23)
DOM = Field("day-of-month", 1, 31, {}, 31, 31)
MONTH = Field("month", 1, 12, MONTH_NAMES, 12, 12)
STD_DOW = Field("day-of-week", 0, 7, {n: i for i, n in enumerate(DAY_NAMES)}, 6, 0)
EB_DOW = Field("day-of-week", 1, 7, {n: i + 1 for i, n in enumerate(DAY_NAMES)}, 7, 0)
YEAR = Field("year", 1970, 2199, {}, 2199, 2199 - 1970)  # AWS sets no year limit: be safe

NAMES_RE = re.compile("|".join((*MONTH_NAMES, *DAY_NAMES)))
_TOKEN_RE = re.compile(r"^(\*|[0-9]+|[A-Z]+)(?:-([0-9]+|[A-Z]+))?(?:/([0-9]+))?$")


@dataclass(frozen=True)
class Token:
    """One comma-separated item of a cron field: '*', 'a', 'a-b', each optionally '/step'."""

    start: int | None  # None means '*'
    end: int | None
    step: int | None
    named: bool  # every endpoint was written as a name (MON, JAN, ...)
    mixed: bool  # names and numbers mixed, e.g. MON-5


def _range_hint(f: Field) -> str:
    if not f.names:
        return ""
    by_value = f.names.__getitem__
    return f" or names {min(f.names, key=by_value)}-{max(f.names, key=by_value)}"


def value(text: str, f: Field, where: str) -> tuple[int, bool]:
    """Parse a number or name of field f; return (value, was_name)."""
    if text.isdigit():
        v = int(text)
        if not f.lo <= v <= f.hi:
            raise ScheduleError(
                f"{where}: {f.name} value {v} is out of range; allowed {f.lo}-{f.hi}"
                f"{_range_hint(f)}."
            )
        return v, False
    if text in f.names:
        return f.names[text], True
    hint = f" (use {', '.join(f.names)})" if f.names else " (use numbers)"
    raise ScheduleError(f"{where}: '{text}' is not a valid {f.name} value{hint}.")


def parse_token(tok: str, f: Field, where: str) -> Token:
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
        start, n = value(a, f, where)
        named.append(n)
    if b is not None:
        end, n = value(b, f, where)
        named.append(n)
    step = None
    if s is not None:
        step = int(s)
        if step < 1:
            raise ScheduleError(f"{where}: step '/{s}' in the {f.name} field must be 1 or more.")
    return Token(start, end, step, bool(named) and all(named), any(named) and not all(named))


def token_values(t: Token, f: Field) -> list[int]:
    """Values a (non wrap-around) token selects, in field numbering."""
    if t.start is None:
        lo, hi = f.lo, f.star_hi
    elif t.end is None:
        lo, hi = t.start, (f.star_hi if t.step is not None else t.start)
    else:
        lo, hi = t.start, t.end
    return list(range(lo, hi + 1, t.step or 1))


def token_text(t: Token, f: Field) -> str:
    """Render a token canonically ('*/n' as 'lo/n'; names upper-cased; mixed ranges as numbers)."""
    rev = {v: k for k, v in f.names.items()}

    def show(v: int) -> str:
        return rev[v] if t.named and v in rev else str(v)

    if t.start is None:
        base = str(f.lo) if t.step is not None else "*"
    else:
        base = show(t.start) + (f"-{show(t.end)}" if t.end is not None else "")
    return base + (f"/{t.step}" if t.step is not None else "")


def eventbridge_text(t: Token, f: Field) -> str:
    """The token as EventBridge accepts it: its own text, or its values when the step is refused."""
    if t.step is not None and t.step > f.max_step:
        return compress(set(token_values(t, f)))
    return token_text(t, f)


def compress(values: set[int] | frozenset[int]) -> str:
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


def dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def plain_field(text: str, f: Field, where: str, standard: bool) -> tuple[str, set[int]]:
    """One field of values, ranges, lists and steps, as EventBridge text and its values.

    `standard`: the input is 5-field cron (duplicates are dropped).
    """
    out: list[str] = []
    values: set[int] = set()
    for tok in text.split(","):
        t = parse_token(tok, f, where)
        if t.start is not None and t.end is not None and t.start > t.end:
            raise ScheduleError(
                f"{where}: range '{tok}' in the {f.name} field runs backwards; EventBridge ranges "
                "must go from low to high. Split it into two parts joined by a comma, e.g. "
                f"'{t.start}-{f.hi},{f.lo}-{t.end}'."
            )
        if t.mixed:
            t = Token(t.start, t.end, t.step, False, False)
        out.append(eventbridge_text(t, f))
        values.update(token_values(t, f))
    return ",".join(dedupe(out) if standard else out), values
