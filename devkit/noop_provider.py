"""A dynamic provider that does nothing: the baseline of bench/check_diff_grpc.py.

Check returns the inputs as they came, Diff reports no change. Through the same gRPC
harness, it measures what the engine's protocol, the dynamic provider server and the
property serialization cost by themselves, so amibackup's own Check + Diff cost is a ratio.
"""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import CheckResult, DiffResult, ResourceProvider


class NoopProvider(ResourceProvider):
    """Accepts every input and never sees a change."""

    serialize_as_secret_always = False

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(news, [])

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=False)
