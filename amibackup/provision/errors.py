"""Error helpers shared by the provisioning modules."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

NOT_FOUND = frozenset({
    "NoSuchEntity", "ResourceNotFoundException", "NotFoundException", "ParameterNotFound",
    "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidSnapshot.NotFound",
    "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException",
})


class ProvisionError(Exception):
    """A failure a user can act on; the message names the input and the fix."""


def code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def ignore_missing(call: Callable[[], T]) -> T | None:
    """Run a delete-like call; "not found" means the job is already done."""
    try:
        return call()
    except ClientError as err:
        if code(err) in NOT_FOUND:
            return None
        raise


def until_propagated(call: Callable[[], T], codes: tuple[str, ...], marker: str,
                     attempts: int = 10, delay: float = 3.0) -> T:
    """Retry a call refused only because a just-made IAM role has not propagated yet.

    IAM is eventually consistent and no waiter covers "assumable by service X";
    botocore's own retries do not retry these validation errors.
    """
    for attempt in range(attempts):
        try:
            return call()
        except ClientError as err:
            if code(err) not in codes or marker not in str(err) or attempt == attempts - 1:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")
