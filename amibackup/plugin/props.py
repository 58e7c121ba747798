"""The engine's property maps <-> the plain dicts the shared provider hooks work on.

The plugin speaks the package schema's camelCase (`groupName`, `persistence.privateIp`);
the hooks of `amibackup.provider` and everything below them speak `amibackup.schema`'s
snake_case. Only top-level names and the persistence settings' names are converted: tag
keys are the user's. A value not known yet (preview) becomes `pulumi.output.Unknown`, as
the dynamic provider's hooks receive it, and back. Secretness is tracked per top-level
property: a property holding a secret anywhere stays secret as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi.output import Unknown
from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pulumi.runtime.rpc import UNKNOWN

from amibackup.plugin.package_schema import camel, snake
from amibackup.schema import BY_NAME

NESTED = ("persistence",)  # maps whose keys are schema names (the others' keys are data)
INTEGERS = {f.name for f in BY_NAME.values() if f.type.replace(" ", "") in ("int", "int|None")}
# Outputs computed from inputs: secret when one of their inputs is.
DERIVED = {"schedule_expression": ("frequency", "cron", "timezone"),
           "schedule_description": ("frequency", "cron", "timezone")}


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def _plain(value: PropertyValue, convert_keys: bool) -> Any:
    raw = value.value
    if isinstance(raw, Computed) or raw == UNKNOWN:
        return Unknown()
    if isinstance(raw, Mapping):
        return {(snake(k) if convert_keys else k): _plain(v, False) for k, v in raw.items()}
    if isinstance(raw, tuple | list):
        return [_plain(v, False) for v in raw]
    return raw


def to_plain(values: Mapping[str, PropertyValue]) -> tuple[dict[str, Any], set[str]]:
    """snake_case plain values, and the names of the properties that hold a secret."""
    plain: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, value in values.items():
        name = snake(key)
        plain[name] = _plain(value, name in NESTED)
        if name in INTEGERS and isinstance(plain[name], float) and plain[name].is_integer():
            plain[name] = int(plain[name])
        if value.contains_secret():
            secrets.add(name)
    return plain, secrets


def derived_secrets(secrets: Iterable[str]) -> set[str]:
    """`secrets` plus the outputs computed from one of them."""
    found = set(secrets)
    return found | {out for out, sources in DERIVED.items() if found & set(sources)}


def _wire(value: Any, convert_keys: bool) -> PropertyValue:
    if is_unknown(value):
        return PropertyValue(UNKNOWN)  # PropertyValue.computed() cannot be marshalled (3.272)
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return PropertyValue(value)
    if isinstance(value, int):
        return PropertyValue(float(value))
    if isinstance(value, Mapping):
        return PropertyValue({(camel(k) if convert_keys else str(k)): _wire(v, False)
                              for k, v in value.items()})
    if isinstance(value, list | tuple):
        return PropertyValue([_wire(v, False) for v in value])
    raise TypeError(f"cannot send {type(value).__name__} to the engine: {value!r}")


def to_wire(plain: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, PropertyValue]:
    """camelCase property values; the properties named in `secrets` (and their derived
    outputs) marked secret."""
    secret = derived_secrets(secrets)
    return {camel(k): _wire(v, k in NESTED).with_secret(k in secret) if k in secret
            else _wire(v, k in NESTED) for k, v in plain.items()}
