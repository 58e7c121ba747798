"""One Lambda execution environment: the function's code, nothing else (standard library only).

Started by lambda_runtime.py as `python -I -S lambda_bootstrap.py <code dir> <handler>`: no
site-packages and no user paths, so `sys.path` is the unpacked deployment package (Lambda's
`/var/task`, first on Lambda's path) and the standard library. Like Lambda's runtime it
imports the handler once (the init phase) and then serves invocations one at a time: one
JSON request per line on stdin, one JSON reply per line on the original stdout. What the
handler prints or logs during an invocation is returned with the reply (Lambda sends it
to CloudWatch Logs).

A request may carry `at` (ISO time): the runner's clock (`clock` of the handler's module)
then reads `at` plus the time elapsed since the invocation began, for schedules played
fast-forward.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
import time
import traceback
from datetime import datetime, timedelta
from typing import Any


class Context:
    """The Lambda context object's members that handlers use."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.aws_request_id = request["request_id"]
        self.function_name = request["function_name"]
        self.invoked_function_arn = request["function_arn"]
        self.memory_limit_in_mb = request.get("memory", 128)
        self._deadline = time.monotonic() + float(request.get("timeout", 3))

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def _invoke(handler: Any, module: Any, request: dict[str, Any]) -> Any:
    at = request.get("at")
    real_clock = getattr(module, "clock", None)
    if at and real_clock is not None:
        started, then = time.monotonic(), datetime.fromisoformat(at)
        module.clock = lambda: then + timedelta(seconds=time.monotonic() - started)
    try:
        return handler(request["event"], Context(request))
    finally:
        if at and real_clock is not None:
            module.clock = real_clock


def main() -> None:
    code_dir, handler_spec = sys.argv[1], sys.argv[2]
    sys.path.insert(0, code_dir)
    reply_to = sys.stdout
    module_name, _, name = handler_spec.rpartition(".")
    module: Any = None
    for line in sys.stdin:
        request = json.loads(line)
        out, err = io.StringIO(), io.StringIO()
        sys.stdout, sys.stderr = out, err
        try:
            if module is None:  # the init phase, on the first invocation
                module = importlib.import_module(module_name)
            reply: dict[str, Any] = {"result": _invoke(getattr(module, name), module, request)}
        except BaseException as error:  # noqa: BLE001 - a failed invocation, reported
            reply = {"error": {"module": type(error).__module__,
                               "type": type(error).__qualname__, "message": str(error),
                               "traceback": traceback.format_exc()}}
            response = getattr(error, "response", None)  # botocore's ClientError
            if isinstance(response, dict):
                reply["error"].update(response={"Error": response.get("Error", {})},
                                      operation_name=getattr(error, "operation_name", ""))
        finally:
            sys.stdout, sys.stderr = reply_to, sys.__stderr__
        reply.update(stdout=out.getvalue(), stderr=err.getvalue())
        reply_to.write(json.dumps(reply, default=str) + "\n")
        reply_to.flush()


if __name__ == "__main__":
    main()
