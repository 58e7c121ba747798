"""Invoke a deployed function in-process, as Lambda would, and deliver AMI events to it.

What Lambda does for each invocation (Lambda Developer Guide, "Lambda runtime environment"
and "Using the Lambda context object in Python"): it reads the function's configuration
(`Handler` as `module.function`, `Environment.Variables`, `Timeout`), sets those variables
in the process environment, and calls the handler with the event and a context carrying
`aws_request_id`, `function_name`, `invoked_function_arn` and
`get_remaining_time_in_millis()`. Here the handler's module is this checkout's (the code
the function's zip was built from), imported in this process.

EventBridge delivers an event to the targets of every rule whose pattern matches it
(EventBridge User Guide, "Event patterns"); `deliver_ami_events()` does that for the
`EC2 AMI State Change` events the strict local AWS emits when it releases an image
(devkit/localaws/ec2.py), matching each rule's pattern with EventBridge's content filtering
(devkit/localaws/eventbridge.py: nested fields, arrays, prefix, anything-but, exists...).
An asynchronous invocation's error does not reach the sender: it is collected.

Scheduler invokes the target at the scheduled time. Tests and the demo play a schedule
fast-forwarded, so an invocation may be given the wall clock it runs at (`at`): the
runner's clock (`amibackup.runner.handler.clock`) then reads `at` plus the time elapsed
since the invocation began, as if Lambda had run it then. Nothing else in the process moves.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from devkit.localaws import ec2 as local_ec2
from devkit.localaws.eventbridge import matches

_env_lock = threading.RLock()  # one invocation changes the process environment at a time


@dataclass(frozen=True)
class Context:
    """The Lambda context object's members that handlers use."""

    aws_request_id: str
    function_name: str
    invoked_function_arn: str
    deadline: float  # time.monotonic() at which Lambda stops the invocation

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.deadline - time.monotonic()) * 1000), 0)


def _handler_of(spec: str) -> Callable[[Any, Any], Any]:
    module, _, name = spec.rpartition(".")
    return getattr(importlib.import_module(module), name)


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    with _env_lock:
        saved = {key: os.environ.get(key) for key in variables}
        os.environ.update(variables)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


RUNNER_CLOCK = "amibackup.runner.handler.clock"


@contextmanager
def wall_clock(at: datetime | None) -> Iterator[None]:
    """In the block, the runner's clock reads `at` (aware) plus the time since the block began;
    None: the real clock."""
    if at is None:
        yield
        return
    started = time.monotonic()
    with mock.patch(RUNNER_CLOCK, lambda: at + timedelta(seconds=time.monotonic() - started)):
        yield


def invoke(lam: Any, function: str, event: Any, at: datetime | None = None) -> Any:
    """Call the deployed function's handler with `event`, as Lambda would; its result.

    `function` is a name or ARN; errors the handler raises propagate (a failed invocation).
    `at`: the wall clock the invocation runs at (see `wall_clock`), default the real one.
    """
    config = lam.get_function_configuration(FunctionName=function)
    variables = dict(config.get("Environment", {}).get("Variables", {}))
    context = Context(str(uuid.uuid4()), config["FunctionName"], config["FunctionArn"],
                      time.monotonic() + float(config.get("Timeout", 3)))
    handler = _handler_of(config["Handler"])
    with _environment(variables), wall_clock(at):
        return handler(json.loads(json.dumps(event)), context)  # the event crosses as JSON


@dataclass
class Deliveries:
    """What each delivered event's invocations returned or raised."""

    results: list[tuple[str, Any]] = field(default_factory=list)  # function ARN, result
    errors: list[tuple[str, BaseException]] = field(default_factory=list)


def deliver(events: Any, lam: Any, event: dict[str, Any], out: Deliveries) -> None:
    """Invoke the Lambda targets of every rule on the default bus whose pattern matches."""
    for page in events.get_paginator("list_rules").paginate(EventBusName="default"):
        for rule in page["Rules"]:
            pattern = json.loads(rule.get("EventPattern") or "null")
            if rule.get("State") == "DISABLED" or not pattern or not matches(pattern, event):
                continue
            targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            for target in targets:
                if ":lambda:" not in target["Arn"]:
                    continue
                try:
                    out.results.append((target["Arn"], invoke(lam, target["Arn"], event)))
                except Exception as err:  # noqa: BLE001 - an async invocation's error
                    out.errors.append((target["Arn"], err))


@contextmanager
def deliver_ami_events(clients: Callable[[str], Any]) -> Iterator[Deliveries]:
    """In the block, every AMI State Change the local AWS emits reaches the matching rules'
    Lambda targets (as EventBridge would); yields what those invocations did."""
    out = Deliveries()
    events, lam = clients("events"), clients("lambda")
    unsubscribe = local_ec2.on_ami_event(lambda event: deliver(events, lam, event, out))
    try:
        yield out
    finally:
        unsubscribe()
