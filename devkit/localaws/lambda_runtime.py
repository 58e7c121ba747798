"""Invoke a deployed function as Lambda would, and deliver AMI events to it.

What Lambda does for each invocation (Lambda Developer Guide, "Lambda runtime environment",
"Defining Lambda function handler in Python" and "Using the Lambda context object in
Python"): it reads the function's configuration (`Handler` as `module.function`,
`Environment.Variables`, `Timeout`, the code), runs the handler in an execution environment
whose `sys.path` starts with the deployment package (`/var/task`), with those variables and
`AWS_REGION` in the environment, and calls it with the event and a context carrying
`aws_request_id`, `function_name`, `invoked_function_arn` and
`get_remaining_time_in_millis()`. An environment is reused for later invocations (warm) and
serves one at a time; a new configuration or code gets new environments.

Here an execution environment is a child process (`lambda_bootstrap.py`, `python -I -S`)
whose `sys.path` is the function's deployed zip, unpacked, and the standard library: the
runner runs with exactly the code and the boto3/botocore its package carries, never this
process's. The zip is the one the local AWS stored at CreateFunction/UpdateFunctionCode. AWS
calls go to the local AWS's endpoint (`AWS_ENDPOINT_URL`; for moto in-process, a server on
loopback over the same state is started). What the handler logs is written to this
process's stdout/stderr, and an error it raises is raised here again (same class where this
process can import it, the remote traceback as a note).

EventBridge delivers an event to the targets of every rule whose pattern matches it
(EventBridge User Guide, "Event patterns"); `deliver_ami_events()` does that for the
`EC2 AMI State Change` events the strict local AWS emits when it releases an image
(devkit/localaws/ec2.py), matching each rule's pattern with EventBridge's content filtering
(devkit/localaws/eventbridge.py: nested fields, arrays, prefix, anything-but, exists...).
An asynchronous invocation's error does not reach the sender: it is collected.

Scheduler invokes the target at the scheduled time. Tests and the demo play a schedule
fast-forwarded, so an invocation may be given the wall clock it runs at (`at`): the
runner's clock (`amibackup.runner.handler.clock`) then reads `at` plus the time elapsed
since the invocation began, as if Lambda had run it then. Nothing else moves.
"""

from __future__ import annotations

import atexit
import base64
import importlib
import io
import json
import os
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from devkit.localaws import ec2 as local_ec2
from devkit.localaws.eventbridge import matches

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
CODE_CACHE = Path.home() / ".cache" / "amibackup" / "lambda-code"
WARM_LIMIT = 6  # idle execution environments kept; the oldest beyond it are stopped
PASSED_ON = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PATH", "LANG",
             "TZ")  # Lambda gives the role's credentials; here, this process's (fake) ones

_lock = threading.Lock()
_idle: dict[tuple[Any, ...], list[subprocess.Popen[str]]] = {}
_order: list[tuple[tuple[Any, ...], subprocess.Popen[str]]] = []
_server = ExitStack()
_endpoint: dict[str, str] = {}


RUNNER_CLOCK = "amibackup.runner.handler.clock"


@contextmanager
def wall_clock(at: datetime | None) -> Iterator[None]:
    """For a handler called directly in this process: in the block, the runner's clock reads
    `at` (aware) plus the time since the block began; None: the real clock. (An invocation
    through `invoke` does the same in its execution environment.)"""
    if at is None:
        yield
        return
    started = time.monotonic()
    with mock.patch(RUNNER_CLOCK, lambda: at + timedelta(seconds=time.monotonic() - started)):
        yield


class FunctionError(RuntimeError):
    """The handler raised an exception of a class this process cannot import."""


def _local_endpoint() -> str:
    """The local AWS's URL: AWS_ENDPOINT_URL, else a server over moto's in-process state."""
    configured = os.environ.get("AWS_ENDPOINT_URL")
    if configured:
        return configured
    with _lock:
        if "url" not in _endpoint:
            from devkit.localaws.server import moto_server

            _endpoint["url"] = _server.enter_context(moto_server())
            atexit.register(_server.close)
        return _endpoint["url"]


def _code_bytes(config: dict[str, Any]) -> bytes:
    """The deployment package the local AWS stored for the function."""
    from moto.awslambda.models import lambda_backends

    arn = str(config["FunctionArn"]).split(":")
    region, account = arn[3], arn[4]
    return bytes(lambda_backends[account][region].get_function(config["FunctionName"]).code_bytes)


def code_dir(config: dict[str, Any]) -> Path:
    """The function's zip unpacked (once per CodeSha256, shared by processes)."""
    digest = base64.b64decode(config["CodeSha256"]).hex()
    target = CODE_CACHE / digest
    if not target.is_dir():
        partial = CODE_CACHE / f"{digest}.{os.getpid()}.{threading.get_ident()}"
        with zipfile.ZipFile(io.BytesIO(_code_bytes(config))) as archive:
            archive.extractall(partial)
        try:
            partial.rename(target)
        except OSError:  # another process unpacked it first
            import shutil

            shutil.rmtree(partial, ignore_errors=True)
    return target


def _environment(config: dict[str, Any]) -> dict[str, str]:
    region = str(config["FunctionArn"]).split(":")[3]
    env = {k: os.environ[k] for k in PASSED_ON if k in os.environ}
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region,
                "AWS_ENDPOINT_URL": _local_endpoint(),
                "AWS_LAMBDA_FUNCTION_NAME": str(config["FunctionName"]),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
                "LAMBDA_TASK_ROOT": str(code_dir(config)), "PYTHONDONTWRITEBYTECODE": "1"})
    env.update(config.get("Environment", {}).get("Variables", {}))
    return env


def _start(config: dict[str, Any], env: dict[str, str]
           ) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(BOOTSTRAP), str(code_dir(config)), config["Handler"]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1)


def _take(key: tuple[Any, ...], config: dict[str, Any], env: dict[str, str]
          ) -> subprocess.Popen[str]:
    """An idle warm environment of this configuration, else a new one (a cold start)."""
    with _lock:
        pool = _idle.get(key, [])
        while pool:
            worker = pool.pop()
            _order.remove((key, worker))
            if worker.poll() is None:
                return worker
    return _start(config, env)


def _give_back(key: tuple[Any, ...], worker: subprocess.Popen[str]) -> None:
    with _lock:
        _idle.setdefault(key, []).append(worker)
        _order.append((key, worker))
        while len(_order) > WARM_LIMIT:
            old_key, old = _order.pop(0)
            _idle[old_key].remove(old)
            _stop(old)


def _stop(worker: subprocess.Popen[str]) -> None:
    if worker.stdin:
        worker.stdin.close()
    try:
        worker.wait(timeout=5)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@atexit.register
def stop_all() -> None:
    """Stop every warm execution environment (also at exit)."""
    with _lock:
        workers = [w for _, w in _order]
        _idle.clear()
        _order.clear()
    for worker in workers:
        _stop(worker)


def _raised(error: dict[str, str]) -> BaseException:
    """The handler's exception, as the same class where this process can import it."""
    try:
        cls = importlib.import_module(error["module"])
        for part in error["type"].split("."):
            cls = getattr(cls, part)
        if not (isinstance(cls, type) and issubclass(cls, Exception)):
            raised = None
        elif "response" in error:  # botocore's ClientError: its answer, as AWS gave it
            raised = cls(error["response"], error.get("operation_name", ""))
        else:
            raised = cls(error["message"])
    except Exception:  # noqa: BLE001 - any class we cannot rebuild is reported as is
        raised = None
    if raised is None:
        raised = FunctionError(f"{error['type']}: {error['message']}")
    raised.add_note(f"in the function's execution environment:\n{error['traceback']}")
    return raised


def invoke(lam: Any, function: str, event: Any, at: datetime | None = None) -> Any:
    """Call the deployed function's handler with `event`, as Lambda would; its result.

    `function` is a name or ARN; errors the handler raises propagate (a failed invocation).
    `at`: the wall clock the invocation runs at (see the module's docstring), default the
    real one.
    """
    config = lam.get_function_configuration(FunctionName=function)
    env = _environment(config)
    key = (config["CodeSha256"], config["Handler"], tuple(sorted(env.items())))
    request = {"event": json.loads(json.dumps(event)), "request_id": str(uuid.uuid4()),
               "function_name": config["FunctionName"], "function_arn": config["FunctionArn"],
               "timeout": config.get("Timeout", 3), "memory": config.get("MemorySize", 128),
               "at": at.astimezone(UTC).isoformat() if at else None}  # naive: local time
    worker = _take(key, config, env)
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(json.dumps(request) + "\n")
    worker.stdin.flush()
    line = worker.stdout.readline()
    if not line:  # the environment died (Lambda: Runtime.ExitError)
        worker.wait()
        raise FunctionError(f"the execution environment of {function} exited "
                            f"({worker.returncode}) without answering")
    _give_back(key, worker)
    reply = json.loads(line)
    sys.stdout.write(reply.get("stdout", ""))
    sys.stderr.write(reply.get("stderr", ""))
    if "error" in reply:
        raise _raised(reply["error"])
    return reply["result"]


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
                    out.results.append((target["Arn"], invoke(lam, target["Arn"],
                                                              target_input(target, event))))
                except Exception as err:  # noqa: BLE001 - an async invocation's error
                    out.errors.append((target["Arn"], err))


def _path(event: Any, path: str) -> Any:
    """A JSONPath of the simple form `$.a.b` (what input transformers use)."""
    value = event
    for part in path.removeprefix("$").strip(".").split("."):
        if not part:
            continue
        value = value.get(part) if isinstance(value, dict) else None
    return value


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What EventBridge sends the target (User Guide, "Transforming target input"): the
    target's constant `Input`, else the part at `InputPath`, else `InputTransformer`'s
    template with its `<variables>` filled from the event, else the event itself."""
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        return _path(event, target["InputPath"])
    transformer = target.get("InputTransformer")
    if transformer:
        text = transformer["InputTemplate"]
        for variable, path in transformer.get("InputPathsMap", {}).items():
            value = _path(event, path)
            text = text.replace(f"<{variable}>", value if isinstance(value, str)
                                else json.dumps(value))
        return json.loads(text)
    return event


def answer_invoke_calls(client: Any, lam: Any, at: datetime | None = None) -> None:
    """Lambda's `Invoke` API on `client` (a caller's Lambda client): the request is signed and
    authorized as any call (so `iam_enforce` checks `lambda:InvokeFunction`), then the
    function runs here (`invoke`, with `lam` reading its configuration) instead of in
    Docker. Its answer is Lambda's: the result as Payload, or the error with
    `FunctionError: Unhandled` (Lambda API Reference, Invoke)."""
    from urllib.parse import unquote

    from botocore.awsrequest import AWSResponse

    def send(request: Any, **_: Any) -> Any:
        name = unquote(request.url.split("/functions/", 1)[1].split("/", 1)[0])
        headers = {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"}
        try:
            body = json.dumps(invoke(lam, name, json.loads(request.body or b"{}"), at=at))
        except Exception as err:  # noqa: BLE001 - the function's error, as Lambda reports it
            body = json.dumps({"errorMessage": str(err), "errorType": type(err).__name__})
            headers["X-Amz-Function-Error"] = "Unhandled"
        return AWSResponse(request.url, 200, headers, _Body(body.encode()))

    client.meta.events.register("before-send.lambda.Invoke", send)


class _Body(io.BytesIO):
    """A raw HTTP body botocore can stream."""

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        yield self.getvalue()


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
