"""The runner function: created from the package zip, one run at a time."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from amibackup.access import error_code
from amibackup.names import Names
from amibackup.provision import package
from amibackup.provision.errors import ignore_missing, until_propagated
from amibackup.runner.config import ENV_VAR

RUNTIME = "python3.12"
TIMEOUT = 900  # the Lambda maximum: time to wait for an image to become available
MEMORY = 256


def create_function(lam: Any, name: str, role_arn: str, tags: dict[str, str],
                    environment: dict[str, str]) -> str:
    def create() -> Any:
        return lam.create_function(
            FunctionName=name, Runtime=RUNTIME, Role=role_arn, Handler=package.HANDLER,
            Code={"ZipFile": package.runner_zip()}, Timeout=TIMEOUT, MemorySize=MEMORY,
            Description="amibackup runner: one AMI backup cycle per invocation",
            Environment={"Variables": environment}, Tags=tags, Publish=False)

    made = until_propagated(create, ("InvalidParameterValueException",), "cannot be assumed")
    lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                              WaiterConfig={"Delay": 2, "MaxAttempts": 60})
    return str(made["FunctionArn"])


def reserve_one(lam: Any, name: str) -> str | None:
    """Reserve concurrency 1 (Lambda throttles a second run); a warning when it cannot.

    AWS keeps at least min(100, quota) of the account's concurrency unreserved, so an
    account whose quota is 10 (new accounts) cannot reserve any. The run lock still
    serialises runs, so the backup works without it: say so instead of failing the create.
    """
    try:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        return None
    except ClientError as err:
        if error_code(err) != "InvalidParameterValueException" or (
                "UnreservedConcurrentExecution" not in str(err)):
            raise
    return (f"reserved concurrency not set on {name}: the account's Lambda concurrency quota "
            "leaves no room to reserve (AWS keeps 100, or the whole quota when under 100, "
            "unreserved); the run lock still allows one run at a time. Ask for a higher "
            "'Concurrent executions' quota and run `pulumi up` again to reserve it")


def update_code(lam: Any, name: str) -> str:
    out = lam.update_function_code(FunctionName=name, ZipFile=package.runner_zip())
    lam.get_waiter("function_updated_v2").wait(FunctionName=name,
                                               WaiterConfig={"Delay": 2, "MaxAttempts": 60})
    return str(out["CodeSha256"])


def set_environment(lam: Any, name: str, environment: dict[str, str]) -> None:
    """The runner's job is its environment: an update of the backup changes it here."""
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": environment})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name,
                                               WaiterConfig={"Delay": 2, "MaxAttempts": 60})


def job_of(lam: Any, name: str) -> dict[str, Any] | None:
    """The deployed job of a runner function (None: gone, or not an amibackup runner)."""
    found = ignore_missing(lambda: lam.get_function_configuration(FunctionName=name))
    raw = ((found or {}).get("Environment") or {}).get("Variables", {}).get(ENV_VAR)
    try:
        job = json.loads(raw) if raw else None
    except ValueError:
        return None
    return job if isinstance(job, dict) else None


def stop_invocations(lam: Any, name: str) -> None:
    """Reserved concurrency 0 throttles every new invocation of the function.

    Existence is asked first (as for every tag-scoped delete): a deployer scoped by the
    function's tags is refused, not told "not found", for a function that does not exist.
    """
    if get_function(lam, name) is None:
        return
    ignore_missing(lambda: lam.put_function_concurrency(
        FunctionName=name, ReservedConcurrentExecutions=0))


def get_function(lam: Any, name: str) -> dict[str, Any] | None:
    found = ignore_missing(lambda: lam.get_function(FunctionName=name))
    return found["Configuration"] if found else None


def delete_function(lam: Any, logs: Any, names: Names) -> None:
    """The function and the log group Lambda made for it."""
    if get_function(lam, names.function) is not None:
        ignore_missing(lambda: lam.delete_function(FunctionName=names.function))
    ignore_missing(lambda: logs.delete_log_group(logGroupName=names.log_group))


def set_tags(lam: Any, arn: str, tags: dict[str, str]) -> None:
    """Make the function's tags exactly `tags` (an update of the resource's `tags`)."""
    current = set(lam.list_tags(Resource=arn).get("Tags", {}))
    if stale := sorted(current - set(tags)):
        lam.untag_resource(Resource=arn, TagKeys=stale)
    lam.tag_resource(Resource=arn, Tags=tags)
