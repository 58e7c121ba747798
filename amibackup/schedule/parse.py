"""The front door for expressions: macros, cron(...), rate(...) and 5-field cron, parsed once."""

from __future__ import annotations

import re
from functools import lru_cache

from amibackup.schedule.eventbridge import Cron, Rate, parse_cron, parse_rate
from amibackup.schedule.model import MAX_EXPRESSION, PRESETS, ScheduleError
from amibackup.schedule.standard import std_to_eventbridge

# Standard cron macros mapped to the EventBridge expression with the same meaning.
MACROS: dict[str, str] = {
    "@hourly": PRESETS["hourly"],
    "@daily": PRESETS["daily"],
    "@midnight": PRESETS["daily"],
    "@weekly": PRESETS["weekly"],
    "@monthly": "cron(0 0 1 * ? *)",
    "@yearly": "cron(0 0 1 1 ? *)",
    "@annually": "cron(0 0 1 1 ? *)",
}


def parse(expr: str) -> Cron | Rate:
    """Parse any accepted form into a validated EventBridge cron or rate."""
    if not isinstance(expr, str):
        raise ScheduleError(f"schedule expression must be a string, got {type(expr).__name__}.")
    if not expr.strip():
        raise ScheduleError(
            "empty schedule expression; give a cron like '0 3 * * *', or cron(...) / rate(...)."
        )
    return _parse_text(expr)


@lru_cache(maxsize=256)
def _parse_text(expr: str) -> Cron | Rate:
    """Pure and memoised: the same text always parses to the same result."""
    text = " ".join(expr.split())
    if len(text) > MAX_EXPRESSION:
        raise ScheduleError(f"is {len(text)} characters long; a schedule expression has at most "
                            f"{MAX_EXPRESSION}: write a shorter cron such as \"30 2 * * *\"")
    low = text.lower()
    if low.startswith("@"):
        if low in MACROS:
            return parse(MACROS[low])
        raise ScheduleError(
            f"'{text}': unsupported cron macro; use one of {', '.join(MACROS)} or a 5-field cron "
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
        return parse_rate(inner, text) if kind == "rate" else parse_cron(inner, text)
    if re.match(r"(cron|rate|at)\s*\(", low):
        raise ScheduleError(f"'{text}': missing closing parenthesis ')'.")
    return parse_cron(std_to_eventbridge(text)[5:-1], text)


def to_eventbridge(expr: str) -> str:
    """Return the EventBridge Scheduler form of a 5-field cron, cron(...) or rate(...) expression.

    Standard cron is converted with its exact meaning (day-of-week renumbered, '?' placed)
    or refused with a ScheduleError; EventBridge forms are validated and normalised (a
    day-of-week step, which EventBridge refuses, becomes the list of days it means).
    This checks syntax only: the minimum-interval policy is enforced by resolve().
    """
    return parse(expr).expression
