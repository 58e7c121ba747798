"""boto3 clients configured once: adaptive retries, a user agent, the caller's region.

`AWS_ENDPOINT_URL` (read by boto3 itself) points every client at a local emulator.
"""

from __future__ import annotations

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

    def __call__(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = self.session.client(
                service, region_name=self.region, config=self.config)
        return self._made[service]
