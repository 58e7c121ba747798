"""AWS Lambda entry point: `amibackup.runner.handler.handler`.

The event is the schedule target's Input (see `Job`). Lambda's stock Python
runtime provides boto3; nothing else is needed.
"""

from __future__ import annotations

import logging
from typing import Any

from amibackup.runner.clients import Clients
from amibackup.runner.cycle import Job, run_cycle

logging.getLogger("amibackup").setLevel(logging.INFO)
logging.getLogger("amibackup").addHandler(logging.StreamHandler())


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    job = Job.from_event(event)

    def time_left() -> float:
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            return context.get_remaining_time_in_millis() / 1000.0
        return 600.0

    summary = run_cycle(job, Clients(job.region), time_left=time_left)
    if summary.failed:
        # Fail the invocation so Lambda's error metric (and any alarm on it) fires.
        raise RuntimeError(f"image creation failed: {summary.to_json()}")
    return summary.__dict__
