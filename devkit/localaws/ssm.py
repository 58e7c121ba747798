"""SSM parameter values within their tier's size, as AWS enforces it.

AWS rule (Systems Manager User Guide, "Managing parameter tiers"): a Standard parameter's
value holds at most 4 KB, an Advanced one 8 KB. `Tier` defaults to Standard; with
`Intelligent-Tiering`, Parameter Store makes a parameter Advanced when its value needs it.
A Standard value over 4 KB is refused with ValidationException "Standard tier parameters
support a maximum parameter value of 4096 characters. To create a larger parameter value,
upgrade the parameter to use the advanced-parameter tier." moto accepts any size.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from moto.ssm.exceptions import ValidationException
from moto.ssm.models import SimpleSystemManagerBackend, ssm_backends

from devkit.localaws.layers import Patch

STANDARD_MAX = 4096
ADVANCED_MAX = 8192
_plain_put_parameter = SimpleSystemManagerBackend.put_parameter


def tier_error(value: str, tier: str | None) -> str | None:
    """Why AWS refuses `value` in `tier` (None: it fits)."""
    size = len(value.encode())
    if (tier or "Standard") == "Standard" and size > STANDARD_MAX:
        return (f"Standard tier parameters support a maximum parameter value of {STANDARD_MAX} "
                "characters. To create a larger parameter value, upgrade the parameter to use "
                "the advanced-parameter tier.")
    if size > ADVANCED_MAX:
        return (f"1 validation error detected: Value at 'value' failed to satisfy constraint: "
                f"Member must have length less than or equal to {ADVANCED_MAX}.")
    return None


def put_parameter(self: SimpleSystemManagerBackend, name: str, description: str, value: str,
                  *args: Any, **kwargs: Any) -> Any:
    tier = kwargs.get("tier", args[6] if len(args) > 6 else None)
    error = tier_error(value or "", tier)
    if error:
        raise ValidationException(error)
    return _plain_put_parameter(self, name, description, value, *args, **kwargs)


def patches() -> list[Patch]:
    return [Patch(SimpleSystemManagerBackend, "put_parameter", put_parameter)]


def backdate(name: str, seconds: float, region: str = "us-east-1",
             account: str = "123456789012") -> None:
    """Time passing for one parameter: its latest version's `LastModifiedDate` (AWS's stamp)
    moves `seconds` into the past, as if written that long ago (tests of stale leases)."""
    latest = ssm_backends[account][region]._parameters[name][-1]
    latest.last_modified_date -= timedelta(seconds=seconds)
