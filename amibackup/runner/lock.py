"""A lease lock in an SSM parameter: one run (or teardown) of a backup at a time.

PutParameter without Overwrite is atomic in AWS, so two runners that start together
cannot both take it. A lease outlives a crashed run only until it expires.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError

LEASE_SECONDS = 900  # the longest a Lambda invocation can run
DESCRIPTION = "amibackup run lock (safe to delete when no run is active)"


class Busy(Exception):
    """Another run holds the lock."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"another run holds the lock ({holder})")
        self.holder = holder


def _expired(value: str, now: float) -> bool:
    try:
        return float(json.loads(value)["expires"]) < now
    except (ValueError, KeyError, TypeError):
        return True


def _owner(value: str) -> str | None:
    try:
        return str(json.loads(value)["owner"])
    except (ValueError, KeyError, TypeError):
        return None


def acquire(ssm: Any, name: str, owner: str, lease: int = LEASE_SECONDS) -> None:
    """Take the lock for `owner`, which must be unique to this caller.

    A PutParameter that AWS applied but answered with an error (a 5xx, a timeout) is
    retried by botocore and then finds the lock taken: by us, which the owner tells.
    """
    now = time.time()
    value = json.dumps({"owner": owner, "expires": now + lease})
    for _ in range(2):
        try:
            ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=False,
                              Description=DESCRIPTION)
            return
        except ClientError as err:
            if err.response["Error"]["Code"] != "ParameterAlreadyExists":
                raise
        try:
            held = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ParameterNotFound":
                continue  # released meanwhile: try again
            raise
        if _owner(held) == owner:
            return  # an earlier attempt of this very call took it
        if not _expired(held, now):
            raise Busy(held)
        release(ssm, name)  # a crashed run's stale lease
    raise Busy("lock contended")


def release(ssm: Any, name: str) -> None:
    try:
        ssm.delete_parameter(Name=name)
    except ClientError as err:
        if err.response["Error"]["Code"] != "ParameterNotFound":
            raise


def unique_owner(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:12]}"


@contextmanager
def held(ssm: Any, name: str, owner: str, lease: int = LEASE_SECONDS) -> Iterator[None]:
    acquire(ssm, name, owner, lease)
    try:
        yield
    finally:
        release(ssm, name)
