"""What the provider process keeps between hooks: sessions, and what a preview looked up.

The engine starts one provider process per command (`pulumi preview`, `up`...) and sends it
every backup's Check and Diff. Making a boto3 session and its clients costs tens of
milliseconds; a Diff that made them for every backup cost a preview of 100 backups
seconds. Here a session (with its clients) is made once per account settings, region and
endpoint, and reused for `SESSION_TTL` (assumed-role credentials last an hour).

Diff asks whether a backup's group moved to another launch template. The answer comes
from one listing of the region's Auto Scaling groups, made once per process and shared by
every backup of the preview; the provider says in the preview what it looked up.
No Pulumi here: provider.py decides when to ask.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from amibackup import access
from amibackup.identity import AwsSettings
from amibackup.runner.clients import Clients, make_config

SESSION_TTL = 1800.0  # seconds a cached session is reused (assumed roles last 3600 s)
# A preview must not hang on unreachable AWS: one attempt, short timeouts.
QUICK = {"retries": {"mode": "standard", "max_attempts": 1}, "connect_timeout": 3,
         "read_timeout": 10}


@dataclass
class _Listing:
    """The region's groups and the template each launches (None: no template)."""

    templates: dict[str, str | None] = field(default_factory=dict)
    calls: int = 0
    error: str | None = None


_lock = threading.Lock()
_sessions: dict[tuple[Any, ...], tuple[float, Clients]] = {}
_listings: dict[tuple[Any, ...], _Listing] = {}


def clients(settings: AwsSettings, region: str | None,
            make: Callable[[AwsSettings, str | None], Any]) -> Clients:
    """The process's clients for these settings and region; `make` builds a session."""
    key = (settings, region, os.environ.get("AWS_ENDPOINT_URL"))
    now = time.monotonic()
    with _lock:
        found = _sessions.get(key)
        if found is not None and now - found[0] < SESSION_TTL:
            return found[1]
    session = make(settings, region)  # outside the lock: an assume-role chain calls STS
    made = Clients(session.region_name, session=session)
    with _lock:
        _sessions[key] = (now, made)
    return made


def forget() -> None:
    """Drop every cached session, listing and count (a new process would start so)."""
    from amibackup import quotas

    with _lock:
        _sessions.clear()
        _listings.clear()
    quotas.forget()


def forget_listings() -> None:
    """After a change made through this process (create, update, delete, refresh), the
    next Diff lists the groups again."""
    with _lock:
        _listings.clear()


def quick(made: Clients) -> Clients:
    """The same session with one attempt and short timeouts (a preview must not hang)."""
    return Clients(made.region, session=made.session, config=make_config(**QUICK))


def _list_groups(made: Clients) -> _Listing:
    quick_ = quick(made)
    listing = _Listing()
    try:
        pages = quick_("autoscaling").get_paginator("describe_auto_scaling_groups").paginate()
        by_name: list[tuple[str, dict[str, Any]]] = []
        for page in pages:
            listing.calls += 1
            for group in page["AutoScalingGroups"]:
                spec = access.template_of(group)
                name = str(group["AutoScalingGroupName"])
                if spec is None:
                    listing.templates[name] = None
                elif spec.get("LaunchTemplateId"):
                    listing.templates[name] = str(spec["LaunchTemplateId"])
                else:
                    by_name.append((name, spec))
        for name, spec in by_name:  # a template named, not identified: its id, once
            listing.calls += 1
            default = access.default_version(quick_("ec2"), spec)
            listing.templates[name] = str(default["LaunchTemplateId"]) if default else None
    except Exception as err:  # noqa: BLE001 - a preview without AWS access still diffs
        listing.error = f"{type(err).__name__}: {err}"
    return listing


def group_template(made: Clients, group_name: str,
                   announce: Callable[[str], Any] | None = None) -> tuple[bool, str | None]:
    """(known, template id) of the group: from one listing per region and process.

    `known` is False when the listing failed (AWS unreachable) or the group is not in it.
    `announce` is told, once per listing, what was looked up.
    """
    key = (id(made), made.region)
    with _lock:
        listing = _listings.get(key)
    if listing is None:
        listing = _list_groups(made)
        with _lock:
            first = key not in _listings
            listing = _listings.setdefault(key, listing)
        if first and announce is not None:
            announce(describe(listing, made.region))
    if listing.error is not None or group_name not in listing.templates:
        return False, None
    return True, listing.templates[group_name]


def describe(listing: _Listing, region: str | None) -> str:
    """What the preview looked up, in one line."""
    if listing.error is not None:
        return (f"amibackup: could not list the Auto Scaling groups of {region} to see whether "
                f"a backup's group moved to another launch template ({listing.error}); the "
                "diff compares the inputs only")
    return (f"amibackup: looked up which launch template each Auto Scaling group of {region} "
            f"launches, once for this command ({listing.calls} call(s), "
            f"{len(listing.templates)} group(s)), to see whether a backup's group moved")
