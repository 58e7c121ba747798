"""boto3 clients configured once: adaptive retries, a user agent, the caller's region.

`AWS_ENDPOINT_URL` (read by boto3 itself) points every client at a local emulator.
`shared(region)` keeps one set per region, endpoint and access key for the life of the
process: a warm Lambda invocation reuses the session and clients of the previous one
(making a boto3 session and its clients costs tens of milliseconds; reusing them, none).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config

MAX_POOL = 20  # teardown deletes images 16 at a time over one client
RETRIES = {"mode": "adaptive", "max_attempts": 10}  # retries after the first attempt


def make_config(**overrides: Any) -> Config:
    from amibackup import __version__

    base = Config(retries=dict(RETRIES), user_agent_extra=f"amibackup/{__version__}",
                  connect_timeout=10, read_timeout=60, max_pool_connections=MAX_POOL)
    return base.merge(Config(**overrides)) if overrides else base


class Clients:
    """Lazily made clients sharing one session, region and retry configuration."""

    def __init__(self, region: str | None = None, session: boto3.session.Session | None = None,
                 config: Config | None = None) -> None:
        self.session = session or boto3.session.Session(region_name=region or None)
        self.region = region or self.session.region_name
        self.config = config or make_config()
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()  # a session is not thread-safe; its clients are

    def __call__(self, service: str) -> Any:
        made = self._made.get(service)
        if made is None:
            with self._lock:
                made = self._made.get(service)
                if made is None:
                    made = self._made[service] = self.session.client(
                        service, region_name=self.region, config=self.config)
        return made


_shared: dict[tuple[str | None, ...], Clients] = {}
_shared_lock = threading.Lock()


def shared_key(region: str | None) -> tuple[str | None, ...]:
    """What a cached set of clients depends on: region, endpoint and the caller's key."""
    return (region or None, os.environ.get("AWS_ENDPOINT_URL") or None,
            os.environ.get("AWS_ACCESS_KEY_ID") or None, os.environ.get("AWS_PROFILE") or None)


def shared(region: str | None) -> Clients:
    """The process's clients for `region`, made on first use and reused after (warm starts)."""
    key = shared_key(region)
    with _shared_lock:
        found = _shared.get(key)
        if found is None:
            found = _shared[key] = Clients(region)
        return found


def forget_shared() -> None:
    """Drop the cached clients: the next invocation starts as a cold one would."""
    with _shared_lock:
        _shared.clear()
