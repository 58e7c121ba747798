"""AWS Lambda entry point: `amibackup.runner.handler.handler`.

The event is the schedule target's Input (see `Job`). Lambda's stock Python
runtime provides boto3; nothing else is needed.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from amibackup.runner.clients import Clients
from amibackup.runner.cycle import Job, run_cycle

_OWN_HANDLER = "amibackup-summary"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record comes (Lambda ships it to the logs)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging() -> logging.Logger:
    """Each run's summary is printed once, as bare JSON, by this handler alone.

    Lambda's runtime puts its own handler on the root logger; propagating to it as well
    logged every summary twice (once wrapped in the runtime's prefix).
    """
    logger = logging.getLogger("amibackup")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not any(h.get_name() == _OWN_HANDLER for h in logger.handlers):
        own = _StderrHandler(sys.stderr)
        own.set_name(_OWN_HANDLER)
        own.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(own)
    return logger


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    configure_logging()  # here, not at import: importing the module changes nothing
    job = Job.from_event(event)

    def time_left() -> float:
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            return context.get_remaining_time_in_millis() / 1000.0
        return 600.0

    summary = run_cycle(job, Clients(job.region), time_left=time_left,
                        request_id=getattr(context, "aws_request_id", None))
    if summary.failed:
        # Fail the invocation so Lambda's error metric (and any alarm on it) fires.
        raise RuntimeError(f"image creation failed: {summary.to_json()}")
    return summary.__dict__
