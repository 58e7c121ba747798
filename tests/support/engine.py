"""The Pulumi engine for the tests that need it: skipped without one, unless required.

`AMIBACKUP_REQUIRE_ENGINE=1` (as .ci/run sets) turns a missing or broken engine into a
failure: CI must never pass by skipping the real-engine tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit import pulumi_cli

REQUIRE = "AMIBACKUP_REQUIRE_ENGINE"


def engine_or_skip(find: Callable[[], Path] = pulumi_cli.engine_bin) -> Path:
    """The engine's bin folder; without one the test is skipped, or fails when required."""
    try:
        return find()
    except Exception as err:
        if os.environ.get(REQUIRE) == "1":
            raise
        pytest.skip(f"no Pulumi engine: {err}")
