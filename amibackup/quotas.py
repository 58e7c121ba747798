"""The AWS quotas that cap how many backups an account and region can hold (issue 16).

Each backup creates one EventBridge rule on the default bus and two IAM roles (see README,
*How many backups an account holds*). `pulumi preview` counts what the account already
has, once per provider process, and each new backup of the preview takes its share: a
backup that would cross a quota is named in a warning before anything is made. Counting
is cheap (at most 3 `ListRules` pages and 1 `ListRoles` page for accounts within the
default quotas) and best effort: without the permission or AWS access, the preview says
it could not count. No Pulumi here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Quota:
    """One AWS quota, its default value, and how much of it each backup uses."""

    key: str
    name: str  # as the Service Quotas console names it
    scope: str
    default: int
    per_backup: int

    def advice(self) -> str:
        return (f"ask AWS for more ({self.name}, Service Quotas console), or delete unused "
                f"{self.scope.split(' per ')[0]}")


RULES = Quota("rules", "Amazon EventBridge: Rules per event bus", "rules per event bus",
              300, 1)
ROLES = Quota("roles", "AWS Identity and Access Management: Roles per account",
              "roles per account", 1000, 2)
COUNTED = (RULES, ROLES)
# Not counted by the preview (README lists them): EventBridge Scheduler schedules
# (1,000,000 per account and region), SSM Standard parameters (10,000; two per backup),
# Lambda concurrency (1 reserved per backup while 100 stay unreserved).


def count_rules(events: Any) -> int:
    """Every rule on the default bus counts against the bus's quota, ours or not."""
    pages = events.get_paginator("list_rules").paginate(EventBusName="default",
                                                        PaginationConfig={"PageSize": 100})
    return sum(len(page.get("Rules", [])) for page in pages)


def count_roles(iam: Any) -> int:
    pages = iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 1000})
    return sum(len(page.get("Roles", [])) for page in pages)


@dataclass
class Usage:
    """What an account holds now, plus what this preview's new backups will add."""

    counts: dict[str, int]
    error: str | None = None

    def add_backup(self) -> list[str]:
        """Count one more backup; the warnings of the quotas it would cross."""
        warnings = []
        for quota in COUNTED:
            if quota.key not in self.counts:
                continue
            before = self.counts[quota.key]
            self.counts[quota.key] = after = before + quota.per_backup
            if after > quota.default:
                warnings.append(
                    f"a new backup needs {quota.per_backup} of the {quota.scope} quota "
                    f"({quota.name}, default {quota.default:,}), which would reach {after:,} "
                    f"with this preview's new backups ({before:,} in use before it): "
                    f"creating it will fail unless the quota was raised; {quota.advice()}")
        return warnings


_lock = threading.Lock()
_usage: dict[tuple[Any, ...], Usage] = {}


def usage(key: tuple[Any, ...], clients: Callable[[str], Any]) -> Usage:
    """The account's usage, counted once per process and key (account settings, region)."""
    with _lock:
        found = _usage.get(key)
    if found is not None:
        return found
    try:
        made = Usage({RULES.key: count_rules(clients("events")),
                      ROLES.key: count_roles(clients("iam"))})
    except Exception as err:  # noqa: BLE001 - a preview without AWS access still checks
        made = Usage({}, f"{type(err).__name__}: {err}")
    with _lock:
        return _usage.setdefault(key, made)


def counted_keys() -> set[tuple[Any, ...]]:
    with _lock:
        return set(_usage)


def forget() -> None:
    with _lock:
        _usage.clear()
