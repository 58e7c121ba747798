"""Install the strict local AWS's fidelity layers into moto, in this process.

Every layer patches a moto backend or response class, so one install serves both in-process
`moto.mock_aws()` and `ThreadedMotoServer` (which runs in the same process). Install before a
server's first Lambda request: the server builds each service's routes once, and
GetAccountSettings is a route the layers add. What each layer encodes, and its AWS source, is
listed in RULES.md next to this file.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# The modules that define layers; each exposes `patches() -> list[Patch]`.
LAYER_MODULES = (
    "devkit.localaws.launch_templates",
    "devkit.localaws.ec2",
    "devkit.localaws.amis",
    "devkit.localaws.lambda_",
    "devkit.localaws.naming",
    "devkit.localaws.scheduler",
    "devkit.localaws.ssm",
    "devkit.localaws.eventbridge",
)

_MISSING = object()
_lock = threading.Lock()
# Patch.key -> what the owner itself held before the layer (or _MISSING).
_originals: dict[tuple[int, str], Any] = {}


@dataclass(frozen=True)
class Patch:
    """Replace `owner.name` (or the entry `owner[name]` of a dict) while installed."""

    owner: type | dict[str, Any]
    name: str
    replacement: Any

    @property
    def key(self) -> tuple[int, str]:
        return (id(self.owner), self.name)

    def own_value(self) -> Any:
        """What the owner itself holds under the name (not inherited), or _MISSING."""
        if isinstance(self.owner, dict):
            return self.owner.get(self.name, _MISSING)
        return self.owner.__dict__.get(self.name, _MISSING)

    def put(self, value: Any) -> None:
        """Set the name to `value`; _MISSING removes it."""
        if isinstance(self.owner, dict):
            if value is _MISSING:
                self.owner.pop(self.name, None)
            else:
                self.owner[self.name] = value
        elif value is _MISSING:
            if self.name in self.owner.__dict__:
                delattr(self.owner, self.name)
        else:
            setattr(self.owner, self.name, value)


def apply(patches: list[Patch]) -> None:
    """Install the patches; a patch already installed is left as it is (idempotent)."""
    with _lock:
        for patch in patches:
            if patch.key in _originals:
                continue
            _originals[patch.key] = patch.own_value()
            patch.put(patch.replacement)


def revert(patches: list[Patch]) -> None:
    """Put moto's own attributes back for these patches."""
    with _lock:
        for patch in patches:
            if patch.key in _originals:
                patch.put(_originals.pop(patch.key))


def all_patches() -> list[Patch]:
    """Every layer's patches, in LAYER_MODULES order."""
    patches: list[Patch] = []
    for module_name in LAYER_MODULES:
        patches.extend(importlib.import_module(module_name).patches())
    return patches


def install_layers() -> None:
    """Make moto strict: safe to call any number of times, before or after a server starts."""
    apply(all_patches())


def uninstall_layers() -> None:
    """Back to plain moto (tests use it to show what plain moto does)."""
    revert(all_patches())


def installed() -> bool:
    """Whether every layer is in place."""
    return all(patch.key in _originals for patch in all_patches())


@contextmanager
def plain_moto() -> Iterator[None]:
    """Run a block on plain moto, then restore the layers that were installed before."""
    were_installed = [p for p in all_patches() if p.key in _originals]
    revert(were_installed)
    try:
        yield
    finally:
        apply(were_installed)


@contextmanager
def strict() -> Iterator[None]:
    """Run a block with every layer installed, then restore the previous state."""
    missing = [p for p in all_patches() if p.key not in _originals]
    apply(missing)
    try:
        yield
    finally:
        revert(missing)
