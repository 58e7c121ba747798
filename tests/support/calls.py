"""Count the AWS API calls and clients that botocore makes in a block (tests of issue 16)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session


@contextmanager
def counted() -> Iterator[tuple[Counter[str], list[str]]]:
    """API calls (`service.Operation`) and clients made by any botocore session meanwhile."""
    calls: Counter[str] = Counter()
    made: list[str] = []
    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = original(self, service_name, *args, **kwargs)
        made.append(service_name)

        def count(event_name: str, **_: Any) -> None:
            calls[event_name.split(".", 1)[1]] += 1

        client.meta.events.register("before-call.*.*", count)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield calls, made
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]
