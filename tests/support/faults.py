"""Fault injection into boto3 calls: throttling, 5xx and lost responses.

A `before-send` hook registered first on the session answers chosen operations with an
error response, as AWS would under load; botocore's retry machinery then does its job.
botocore calls every `before-send` handler (it takes the first response), so moto's
handler is switched off for a refused call ("throttle", "5xx", or an error code: AWS
did nothing) and left on for a "lost" one (AWS applied it, the answer was a 503).
"""

from __future__ import annotations

import os
import signal
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from moto.core.models import botocore_stubber
from moto.core.responses import BaseResponse

from amibackup.runner.clients import Clients, make_config


class _Raw:
    """The minimal raw body botocore reads from a response."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def _throttle(service: str) -> tuple[int, dict[str, str], bytes]:
    if service == "ec2":
        return 503, {}, (b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
                         b"<Message>Request limit exceeded.</Message></Error></Errors>"
                         b"<RequestID>fault</RequestID></Response>")
    if service in ("iam", "auto-scaling", "sts"):
        return 400, {}, (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                         b"<Message>Rate exceeded</Message></Error>"
                         b"<RequestId>fault</RequestId></ErrorResponse>")
    if service in ("lambda", "scheduler"):
        return 429, {"x-amzn-ErrorType": "ThrottlingException"}, b'{"message": "Rate exceeded"}'
    return 400, {}, b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'


def _client_error(service: str, code: str) -> tuple[int, dict[str, str], bytes]:
    if service != "ec2":
        raise ValueError("error codes are only modelled for EC2")
    return 400, {}, (f"<Response><Errors><Error><Code>{code}</Code><Message>{code}</Message>"
                     "</Error></Errors><RequestID>fault</RequestID></Response>").encode()


class Faults:
    """Planned failures per operation ("ec2.CreateImage"), consumed one per call."""

    def __init__(self, session: boto3.session.Session) -> None:
        self.planned: dict[str, list[str]] = defaultdict(list)
        self.served: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        session.events.register_first("before-send", self._answer)
        session.events.register_last("before-send", self._restore)

    def add(self, operation: str, *kinds: str) -> Faults:
        """Queue failures for the next calls of `operation`: "throttle", "5xx" and AWS
        error codes are refused; "lost" is applied but answered with a 503."""
        self.planned[operation].extend(kinds)
        return self

    def left(self) -> dict[str, int]:
        return {op: len(kinds) for op, kinds in self.planned.items() if kinds}

    def _answer(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        key = f"{service}.{operation}"
        self.calls[key] += 1
        if not self.planned.get(key):
            return None
        kind = self.planned[key].pop(0)
        self.served[key] += 1
        if kind != "lost":
            botocore_stubber.enabled = False  # refused: the emulated AWS never sees it
        if kind == "throttle":
            status, headers, body = _throttle(service)
        elif kind in ("5xx", "lost"):
            status, headers, body = 503, {}, b""
        else:
            status, headers, body = _client_error(service, kind)
        return AWSResponse(request.url, status, headers, _Raw(body))  # type: ignore[arg-type]

    @staticmethod
    def _restore(**_: Any) -> None:
        botocore_stubber.enabled = True


def faulty_clients(region: str = "us-east-1", max_attempts: int = 5) -> tuple[Clients, Faults]:
    """Clients whose calls can be made to fail; retries as the product configures them."""
    session = boto3.session.Session(region_name=region)
    faults = Faults(session)
    config = make_config(retries={"mode": "adaptive", "max_attempts": max_attempts})
    return Clients(region, session=session, config=config), faults


class Cut(BaseException):
    """The Lambda sandbox dying (timeout, throttled retry never made): no cleanup code runs
    in AWS. A BaseException, so the runner's own error handling does not catch it."""


@contextmanager
def after_call(operation: str, action: Callable[[], None]) -> Iterator[list[str]]:
    """Run `action` right after the local AWS (moto in-process) applies the next `operation`
    (e.g. "CreateImage"), before its answer returns; yields the operations it ran after.

    Whoever calls it, from whichever session or client: the hook sits in moto's dispatch,
    so it reaches the deployed function's own clients too.
    """
    plain = BaseResponse.call_action
    fired: list[str] = []

    def call_action(self: BaseResponse) -> Any:
        answer = plain(self)
        if self._get_action() == operation and not fired:
            fired.append(operation)
            action()
        return answer

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    try:
        yield fired
    finally:
        BaseResponse.call_action = plain  # type: ignore[method-assign]


def cut_after(operation: str) -> Any:
    """The run dies right after AWS applied `operation`: its answer never arrives.

    A deployed function runs in its own execution environment (a child process, see
    devkit/localaws/lambda_runtime.py): that environment is killed, as Lambda kills one at
    its timeout, and the invocation fails with FunctionError. A caller in this process
    (moto in-process, no server) gets Cut instead.
    """
    def cut() -> None:
        if not _kill_execution_environments():
            raise Cut(f"cut after {operation}")
    return after_call(operation, cut)


def _kill_execution_environments() -> list[int]:
    """SIGKILL this process's Lambda execution environments (idle ones just start again)."""
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue
        if parent == os.getpid() and b"lambda_bootstrap.py" in command:
            os.kill(int(entry), signal.SIGKILL)
            killed.append(int(entry))
    return killed


@contextmanager
def refused(operation: str, code: str) -> Iterator[list[str]]:
    """The local AWS (moto in-process) refuses the next `operation` with EC2 error `code`,
    doing nothing (an AccessDenied, a limit), whoever calls it."""
    plain = BaseResponse.call_action
    fired: list[str] = []

    def call_action(self: BaseResponse) -> Any:
        if self._get_action() == operation and not fired:
            fired.append(operation)
            status, headers, body = _client_error("ec2", code)
            return status, {**headers, "status": status}, body
        return plain(self)

    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    try:
        yield fired
    finally:
        BaseResponse.call_action = plain  # type: ignore[method-assign]
