"""AWS Lambda entry point: `amibackup.runner.handler.handler`.

The job (group, backup id, region, retention, reboot, tags) is the function's deployed
configuration (`AMIBACKUP_CONFIG`, see config.py). An event may carry only:

- the schedule's Input, `{"scheduled_time": "<aws.scheduler.scheduled-time>"}`: a run;
- an EventBridge `EC2 AMI State Change` event (source `aws.ec2`): one of the backup's
  images became `available` (promote, prune) or `failed` (report, fail the invocation).

Anything else is refused, logged, and fails the invocation. The function's zip carries the
boto3 and botocore the runner is tested with (provision/package.py), ahead of the runtime's.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from amibackup.runner.clients import Clients, shared
from amibackup.runner.config import Job
from amibackup.runner.cycle import run_cycle
from amibackup.runner.summary import Summary
from amibackup.schedule.runs import fires_at

_OWN_HANDLER = "amibackup-summary"
log = logging.getLogger("amibackup.runner")

MAX_CLOCK_SKEW = timedelta(minutes=5)  # a run key later than now + this is refused
DEFAULT_DELIVERY_WINDOW = timedelta(minutes=10)  # a job deployed without its own window
SCHEDULE_KEYS = frozenset({"scheduled_time"})
AMI_EVENT = ("aws.ec2", "EC2 AMI State Change")
EVENT_ENVELOPE = frozenset({"version", "id", "detail-type", "source", "account", "time",
                            "region", "resources", "detail"})


class RefusedEvent(ValueError):
    """An event the runner does not accept: its scope is fixed at deploy."""


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


def clock() -> datetime:
    """The wall clock the runner reads (Lambda's). Its one reader is `handler`; the dev kit's
    Lambda runtime, which plays schedules fast-forwarded, sets it for an invocation."""
    return datetime.now(UTC)


def scheduled_time(event: dict[str, Any], now: datetime, job: Job | None = None) -> str:
    """The run's scheduled time; refused when the event asks for more, or for a time that
    is not a firing time of the deployed schedule within Scheduler's delivery window."""
    extra = sorted(set(event) - SCHEDULE_KEYS)
    if extra:
        raise RefusedEvent(f"event field(s) {', '.join(extra)} refused: the runner's group, "
                           "backup, retention, reboot and tags are fixed at deploy; a "
                           "scheduled event carries only scheduled_time")
    raw = event.get("scheduled_time")
    try:
        at = datetime.fromisoformat(str(raw))
    except ValueError:
        raise RefusedEvent(f"scheduled_time {raw!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise RefusedEvent(f"scheduled_time {raw!r} has no time zone")
    if at > now + MAX_CLOCK_SKEW:
        raise RefusedEvent(f"scheduled_time {raw} is in the future (now {now.isoformat()}); "
                           "a run is never named after a time still to come")
    if job is not None:
        _check_firing_time(at, now, job)
    return at.astimezone(UTC).isoformat()


def _check_firing_time(at: datetime, now: datetime, job: Job) -> None:
    """Scheduler delivers a run at its scheduled time, or later by at most the flexible
    window plus the retry policy's event age (the job's `delivery_window_seconds`); the
    time is one the deployed schedule fires at. Anything else was made up by a caller."""
    window = timedelta(seconds=job.delivery_window_seconds) \
        if job.delivery_window_seconds is not None else DEFAULT_DELIVERY_WINDOW
    if at < now - window - MAX_CLOCK_SKEW:
        raise RefusedEvent(f"scheduled_time {at.isoformat()} is older than the schedule's "
                           f"delivery window ({int(window.total_seconds())} s before now, "
                           f"{now.isoformat()}): Scheduler never delivers it this late")
    if not job.schedule_expression:
        raise RefusedEvent("the deployed job has no schedule_expression, so no scheduled time "
                           "can be checked; redeploy the backup with `pulumi up`")
    if fires_at(job.schedule_expression, job.timezone, at) is False:
        raise RefusedEvent(f"scheduled_time {at.isoformat()} is not a firing time of the "
                           f"deployed schedule {job.schedule_expression} ({job.timezone})")


def image_event(event: dict[str, Any], job: Job) -> tuple[str, str] | None:
    """(image id, state) of an EC2 AMI State Change event; None for other events."""
    if (event.get("source"), event.get("detail-type")) != AMI_EVENT:
        return None
    detail = event.get("detail")
    if set(event) - EVENT_ENVELOPE or not isinstance(detail, dict) \
            or not isinstance(detail.get("ImageId"), str) or "State" not in detail:
        raise RefusedEvent("malformed EC2 AMI State Change event")
    if job.region and event.get("region") not in (None, job.region):
        raise RefusedEvent(f"AMI event of region {event.get('region')}; this backup is in "
                           f"{job.region}")
    return detail["ImageId"], str(detail["State"])


def handle(event: dict[str, Any], job: Job, clients: Clients, request_id: str | None,
           now: datetime) -> Summary:
    """Route the event: a scheduled run, an image event, or a refusal (raised)."""
    if not isinstance(event, dict):
        raise RefusedEvent(f"event must be a JSON object, not {type(event).__name__}")
    found = image_event(event, job)
    if found is None:
        at = scheduled_time(event, now, job)
        if job.paused:
            raise RefusedEvent(f"backup {job.backup_id} is paused: no run creates, promotes or "
                               f"prunes anything (the schedule is disabled; scheduled_time "
                               f"{at} came from someone else)")
        return run_cycle(job.at(at), clients, now=now, request_id=request_id)
    image_id, state = found
    label = f"event {image_id} {state}"
    if job.paused:  # the rule is disabled while paused: a late or forged delivery
        summary = Summary(job.backup_id, job.group_name, label, request_id)
        summary.skipped.append(f"backup {job.backup_id} is paused: image {image_id} is not "
                               "promoted, nothing is pruned")
        log.info(summary.to_json())
        return summary
    # The cycle reads the record (signed) first: an image it does not show this backup made
    # or started ends the invocation there, before the group or any image is read.
    summary = run_cycle(job, clients, now=now, request_id=request_id, create=False, label=label,
                        event_image=image_id)
    if state in ("failed", "error", "invalid") and image_id not in summary.failed:
        summary.failed.append(image_id)
    return summary


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    configure_logging()  # here, not at import: importing the module changes nothing
    request_id = getattr(context, "aws_request_id", None)
    job = Job.from_environment()
    try:
        summary = handle(event, job, shared(job.region), request_id, clock())
    except RefusedEvent as refused:
        keys = sorted(event) if isinstance(event, dict) else []
        log.error(json.dumps({"backup": job.backup_id, "request_id": request_id,
                              "refused": str(refused), "event_fields": keys}, sort_keys=True))
        raise
    if summary.failed:
        # Fail the invocation so Lambda's error metric (and any alarm on it) fires.
        raise RuntimeError(f"image creation failed: {summary.to_json()}")
    return summary.__dict__
