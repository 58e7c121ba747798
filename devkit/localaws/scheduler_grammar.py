"""PLACEHOLDER for helper "schedule"'s EventBridge Scheduler grammar (the lead replaces it).

Only the interface and a few rules of EventBridge Scheduler's documented grammar ("Schedule
types on EventBridge Scheduler"): `rate(value unit)`, `at(yyyy-mm-ddThh:mm:ss)` and
`cron(minutes hours day-of-month month day-of-week year)` with `?` in exactly one of the day
fields, and no `/` in day-of-week (its wildcards are `, - * ? L #`).
"""

from __future__ import annotations

import re

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_AT = re.compile(r"at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)")
_DAY_OF_WEEK = re.compile(r"[0-9A-Za-z,\-*?L#]+")


def expression_error(expression: str) -> str | None:
    """Why EventBridge Scheduler refuses `expression`, or None when it accepts it."""
    if _RATE.fullmatch(expression) or _AT.fullmatch(expression):
        return None
    if not (expression.startswith("cron(") and expression.endswith(")")):
        return f"Invalid Schedule Expression {expression}."
    fields = expression[5:-1].split()
    if len(fields) != 6:
        return f"Invalid Schedule Expression {expression}."
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        return f"Invalid Schedule Expression {expression}."
    if not _DAY_OF_WEEK.fullmatch(day_of_week):
        return f"Invalid Schedule Expression {expression}."
    return None
