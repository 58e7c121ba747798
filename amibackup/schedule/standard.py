"""Standard 5-field cron (minute hour day-of-month month day-of-week) -> EventBridge cron.

The meaning is kept exactly or the expression is refused: day-of-week is renumbered
(0/7=Sun..6=Sat -> 1=SUN..7=SAT), '?' is placed, and every field is cross-checked against
croniter so that nothing is converted that cron implementations read differently.
"""

from __future__ import annotations

import re

from amibackup.schedule.fields import (
    DOM,
    EB_DOW,
    HOUR,
    MINUTE,
    MONTH,
    NAMES_RE,
    STD_DOW,
    Token,
    compress,
    dedupe,
    parse_token,
    plain_field,
    token_text,
    token_values,
)
from amibackup.schedule.model import ScheduleError

_FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")


def _dow_days(t: Token, tok: str, where: str) -> tuple[list[int], bool]:
    """Standard values (0-7) a day-of-week token selects, and whether it wraps around."""
    wraps = t.start is not None and t.end is not None and t.start > t.end
    if not wraps:
        return token_values(t, STD_DOW), False
    if t.step is not None:
        raise ScheduleError(
            f"{where}: day-of-week '{tok}' combines a wrap-around range with a step, which "
            "is ambiguous; list the days explicitly, e.g. '5,0'."
        )
    assert t.start is not None and t.end is not None
    return [*range(t.start, 7), *range(t.end + 1)], True  # croniter's wrap-around meaning


def _dow_text(t: Token, std_days: set[int], wraps: bool) -> str:
    """EventBridge text for one standard day-of-week token.

    Names pass through (SUN..SAT mean the same in both dialects); plain numbers within 0-6
    are shifted by one; everything else (steps, which EventBridge refuses in this field,
    wrap-arounds, 7 inside ranges, mixed names) becomes an explicit list of days.
    """
    if t.step is None and not wraps:
        if t.named:
            return token_text(t, STD_DOW)
        in_week = t.start is not None and t.start <= 6 and (t.end is None or t.end <= 6)
        if not t.mixed and in_week:
            assert t.start is not None
            shifted = Token(t.start + 1, None if t.end is None else t.end + 1, None, False, False)
            return token_text(shifted, EB_DOW)
    return compress({d + 1 for d in std_days})


def std_dow(text: str, where: str) -> tuple[str, set[int]]:
    """Convert a standard day-of-week field to EventBridge; return its text and days (0-6)."""
    out: list[str] = []
    days: set[int] = set()
    for tok in text.split(","):
        t = parse_token(tok, STD_DOW, where)
        values, wraps = _dow_days(t, tok, where)
        std_days = {v % 7 for v in values}
        days |= std_days
        out.append(_dow_text(t, std_days, wraps))
    return ",".join(dedupe(out)), days


def _croniter_sets(expr: str) -> list[set[int] | None]:
    """Per-field value sets as croniter understands them (None = every value)."""
    from croniter import croniter  # here: the runner imports this package without croniter

    fields, _ = croniter.expand(expr)
    out: list[set[int] | None] = []
    for vals in fields:
        out.append(None if vals == ["*"] else {int(v) for v in vals})
    return out


def _check_standard_syntax(parts: list[str], where: str) -> None:
    """Five fields, and none of the EventBridge-only or vendor-specific characters."""
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
    for part, fname in zip(parts, _FIELD_NAMES, strict=True):
        # letters left once names are removed, so that the L in JUL or the W in WED don't count
        letters = set(re.findall(r"[A-Z]+", NAMES_RE.sub(" ", part)))
        eventbridge_only = sorted(letters & {"L", "W", "LW"}) + (["#"] if "#" in part else [])
        if eventbridge_only:
            raise ScheduleError(
                f"{where}: '{eventbridge_only[0]}' in the {fname} field is not standard cron. "
                "EventBridge supports L, W and # only in its own form: write the whole schedule "
                "as cron(...), e.g. cron(0 0 L * ? *) for the last day of every month."
            )
        if "H" in letters:
            raise ScheduleError(
                f"{where}: hashed 'H' values are not supported; use explicit numbers."
            )
        if "?" in part and (fname not in ("day-of-month", "day-of-week") or part != "?"):
            raise ScheduleError(
                f"{where}: '?' is only allowed alone, in day-of-month or day-of-week."
            )


def _cross_check(normal: str, ours: list[set[int]], where: str) -> None:
    """Refuse a field that croniter reads differently from us (so its meaning is unclear)."""
    from croniter import croniter

    if not croniter.is_valid(normal):
        raise ScheduleError(
            f"{where}: not a valid cron expression (minute hour day-of-month month day-of-week)."
        )
    full = [set(range(60)), set(range(24)), set(range(1, 32)), set(range(1, 13)), set(range(7))]
    for name, mine, theirs, everything in zip(
        _FIELD_NAMES, ours, _croniter_sets(normal), full, strict=True
    ):
        if mine != (everything if theirs is None else theirs):
            raise ScheduleError(
                f"{where}: the {name} field is ambiguous (cron implementations read it "
                "differently); list the values explicitly instead (for days of the week: 0=Sunday "
                "... 6=Saturday)."
            )


def std_to_eventbridge(expr: str) -> str:
    """The EventBridge cron(...) text with the same meaning as a 5-field cron, or ScheduleError."""
    where = f"cron '{expr}'"
    parts = expr.upper().split()
    _check_standard_syntax(parts, where)
    minute, hour, dom, month, dow = parts
    dom = "*" if dom == "?" else dom
    dow = "*" if dow == "?" else dow

    eb_min, mins = plain_field(minute, MINUTE, where, standard=True)
    eb_hour, hours = plain_field(hour, HOUR, where, standard=True)
    eb_dom, doms = plain_field(dom, DOM, where, standard=True)
    eb_month, months = plain_field(month, MONTH, where, standard=True)
    eb_dow, dows = std_dow(dow, where)

    if dom != "*" and dow != "*":
        raise ScheduleError(
            f"{where}: both day-of-month ('{dom}') and day-of-week ('{dow}') are restricted. "
            "Standard cron then runs on days matching EITHER one, and EventBridge can't express "
            "'day-of-month OR day-of-week'. Restrict only one of them (set the other to '*'), or "
            "split it into two backups."
        )
    _cross_check(f"{minute} {hour} {dom} {month} {dow}", [mins, hours, doms, months, dows], where)
    if dow == "*":
        eb_dow = "?"
    else:
        eb_dom = "?"
    return f"cron({eb_min} {eb_hour} {eb_dom} {eb_month} {eb_dow} *)"
