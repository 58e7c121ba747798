"""Error helpers shared by the provisioning modules."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

from amibackup.access import error_code, is_not_found

T = TypeVar("T")



class ProvisionError(Exception):
    """A failure a user can act on; the message names the input and the fix."""


def ignore_missing(call: Callable[[], T]) -> T | None:
    """Run a delete-like call; "not found" means the job is already done."""
    try:
        return call()
    except ClientError as err:
        if is_not_found(err):
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
            if error_code(err) not in codes or marker not in str(err) or attempt == attempts - 1:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")
