"""Drift: the parts of a backup someone deleted or changed by hand since the last `up`.

`live_parts` (refresh) records what is really there in the outputs; `drifted` (diff) is a
pure comparison of those outputs with what the inputs want, so the next `pulumi up`
shows an update and `ensure` puts every part back.
"""

from __future__ import annotations

from typing import Any

from amibackup.names import Names
from amibackup.provision import iam, lambda_fn, scheduler
from amibackup.provision.errors import ignore_missing

MISSING = "MISSING"


def _has_policy(a_iam: Any, role: str) -> bool:
    return ignore_missing(lambda: a_iam.get_role_policy(RoleName=role,
                                                        PolicyName=iam.POLICY_NAME)) is not None


def live_parts(clients: Any, backup_id: str, outs: dict[str, Any]) -> dict[str, Any]:
    """`outs` with each role and the function's wiring as found: None where gone or rewired."""
    names = Names(backup_id)
    a_iam = clients("iam")
    found = dict(outs)
    for key, role in (("role_arn", names.runner_role),
                      ("scheduler_role_arn", names.scheduler_role)):
        if not _has_policy(a_iam, role):  # the role, or its only policy, was deleted by hand
            found[key] = None
    function = lambda_fn.get_function(clients("lambda"), names.function)
    if function is None or function.get("Role") != outs.get("role_arn"):
        found["function_arn"] = None
    schedule = scheduler.get_schedule(clients("scheduler"), names.schedule)
    if schedule is not None and schedule.get("Target", {}).get("Arn") != outs.get(
            "function_arn"):
        found["schedule_state"] = MISSING  # it no longer runs the backup's function
    return found


def drifted(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Outputs that differ from what `news` wants (after a refresh saw the live parts)."""
    if not olds.get("backup_id"):
        return []
    changes = [k for k in ("function_arn", "role_arn", "scheduler_role_arn")
               if not olds.get(k)]
    if olds.get("schedule_state") == MISSING:
        changes.append("schedule_state")  # deleted or rewired by hand: the update recreates it
    elif news.get("paused") is not None and olds.get("schedule_state") in ("ENABLED",
                                                                          "DISABLED"):
        wanted_state = "DISABLED" if news.get("paused") else "ENABLED"
        if olds["schedule_state"] != wanted_state:
            changes.append("schedule_state")
    expression = news.get("schedule_expression")
    if isinstance(expression, str) and olds.get("schedule_expression") not in (None, expression):
        changes.append("schedule_expression")
    return changes
