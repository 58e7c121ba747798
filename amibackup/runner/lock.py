"""A lease lock in an SSM parameter: one run (or teardown) of a backup at a time.

PutParameter without Overwrite is atomic in AWS, so two runners that start together
cannot both take it. A lease outlives a crashed run only until it expires: judged from
the parameter's `LastModifiedDate`, which AWS stamps, never from anything its writer put in
the value (anyone allowed to write the parameter could claim a lease for ever).

The runner signs its lock (a MAC of the lock's name, owner and time, by the backup's key,
which only the runner may use): teardown removes at once a lock that is not the runner's,
and waits only for one that is, and only until its lease ends.
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

from amibackup.runner.seal import Seal

LEASE_SECONDS = 900  # the longest a Lambda invocation can run
SIGNED_SKEW = 120  # a signed lock's own time within this of AWS's stamp: not a replayed copy
DESCRIPTION = "amibackup run lock (safe to delete when no run is active)"


class Busy(Exception):
    """Another run holds the lock."""

    def __init__(self, holder: str, age: float | None = None,
                 parameter: dict[str, Any] | None = None) -> None:
        super().__init__(f"another run holds the lock ({holder})")
        self.holder = holder
        self.age = age  # seconds since AWS stamped the lock (None: unknown)
        self.parameter = parameter  # the lock as AWS holds it


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


def _message(name: str, owner: str, taken: int) -> bytes:
    return f"amibackup-lock\n{name}\n{owner}\n{taken}".encode()


def runners(parameter: dict[str, Any], seal: Seal) -> bool:
    """Whether the lock was written by the backup's runner (its MAC holds, and it is no copy
    of an older lock: the time it signed is the time AWS stamped)."""
    try:
        held = json.loads(str(parameter["Value"]))
        owner, taken, mac = str(held["owner"]), int(held["taken"]), str(held["mac"])
    except (ValueError, KeyError, TypeError):
        return False
    return abs(taken - _stamp(parameter)) <= SIGNED_SKEW \
        and seal.valid(_message(str(parameter["Name"]), owner, taken), mac)


def read(ssm: Any, name: str) -> dict[str, Any] | None:
    """The lock parameter as AWS holds it (Value, Version, LastModifiedDate); None if free."""
    try:
        return dict(ssm.get_parameter(Name=name)["Parameter"])
    except ClientError as err:
        if err.response["Error"]["Code"] == "ParameterNotFound":
            return None
        raise


def acquire(ssm: Any, name: str, owner: str, lease: int | None = None,
            seal: Seal | None = None) -> None:
    """Take the lock for `owner`, which must be unique to this caller.

    A lock AWS stamped more than `lease` seconds ago (default LEASE_SECONDS, the longest an
    invocation runs) is a crashed run's: it is taken over. A PutParameter that AWS applied
    but answered with an error (a 5xx, a timeout) is retried by botocore and then finds the
    lock taken: by us, which the owner tells.
    """
    lease = LEASE_SECONDS if lease is None else lease
    taken = int(time.time())
    claim: dict[str, Any] = {"owner": owner, "taken": taken}
    if seal is not None:  # the runner's: teardown tells it from a lock someone else wrote
        claim["mac"] = seal.mac(_message(name, owner, taken))
    value = json.dumps(claim, sort_keys=True)
    for _ in range(2):
        try:
            ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=False,
                              Description=DESCRIPTION)
            return
        except ClientError as err:
            if err.response["Error"]["Code"] != "ParameterAlreadyExists":
                raise
        held = read(ssm, name)
        if held is None:
            continue  # released meanwhile: try again
        if _owner(str(held["Value"])) == owner:
            return  # an earlier attempt of this very call took it
        now = time.time()
        if now - _stamp(held) <= lease:
            raise Busy(holder(held, now), now - _stamp(held), held)
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
def held(ssm: Any, name: str, owner: str, lease: int | None = None,
         seal: Seal | None = None) -> Iterator[None]:
    acquire(ssm, name, owner, lease, seal)
    try:
        yield
    finally:
        release(ssm, name)
