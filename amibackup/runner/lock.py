"""A lease lock in an SSM parameter: one run (or teardown) of a backup at a time.

PutParameter without Overwrite is atomic in AWS, so two runners that start together
cannot both take it. A lease outlives a crashed run only until it expires: judged from
the parameter's `LastModifiedDate`, which AWS stamps, never from anything its writer put in
the value (anyone allowed to write the parameter could claim a lease for ever).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

LEASE_SECONDS = 900  # the longest a Lambda invocation can run
DESCRIPTION = "amibackup run lock (safe to delete when no run is active)"


class Busy(Exception):
    """Another run holds the lock."""

    def __init__(self, holder: str, age: float | None = None) -> None:
        super().__init__(f"another run holds the lock ({holder})")
        self.holder = holder
        self.age = age  # seconds since AWS stamped the lock (None: unknown)


def holder(parameter: dict[str, Any], now: float) -> str:
    """Who claims the lock and since when, in AWS's words (LastModifiedDate, Version)."""
    written = _stamp(parameter)
    age = now - written
    claim = _owner(str(parameter.get("Value", ""))) or "no owner"
    when = datetime.fromtimestamp(written, UTC).isoformat(timespec="seconds")
    return (f"{parameter.get('Name', 'lock')} written at {when} ({age:.0f} s ago, version "
            f"{parameter.get('Version', '?')}), claiming {claim!r}")


def _stamp(parameter: dict[str, Any]) -> float:
    """The POSIX time AWS stamped the lock's latest version with."""
    return float(parameter["LastModifiedDate"].timestamp())


def _owner(value: str) -> str | None:
    try:
        return str(json.loads(value)["owner"])
    except (ValueError, KeyError, TypeError):
        return None


def acquire(ssm: Any, name: str, owner: str, lease: int | None = None) -> None:
    """Take the lock for `owner`, which must be unique to this caller.

    A lock AWS stamped more than `lease` seconds ago (default LEASE_SECONDS, the longest an
    invocation runs) is a crashed run's: it is taken over. A PutParameter that AWS applied
    but answered with an error (a 5xx, a timeout) is retried by botocore and then finds the
    lock taken: by us, which the owner tells.
    """
    lease = LEASE_SECONDS if lease is None else lease
    value = json.dumps({"owner": owner, "taken": int(time.time())})
    for _ in range(2):
        try:
            ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=False,
                              Description=DESCRIPTION)
            return
        except ClientError as err:
            if err.response["Error"]["Code"] != "ParameterAlreadyExists":
                raise
        try:
            held = ssm.get_parameter(Name=name)["Parameter"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ParameterNotFound":
                continue  # released meanwhile: try again
            raise
        if _owner(str(held["Value"])) == owner:
            return  # an earlier attempt of this very call took it
        now = time.time()
        if now - _stamp(held) <= lease:
            raise Busy(holder(held, now), now - _stamp(held))
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
def held(ssm: Any, name: str, owner: str, lease: int | None = None) -> Iterator[None]:
    acquire(ssm, name, owner, lease)
    try:
        yield
    finally:
        release(ssm, name)
