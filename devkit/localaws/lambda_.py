"""Lambda's account concurrency: reservations must leave the unreserved pool its minimum.

AWS rule: "You can reserve up to the Unreserved account concurrency value minus 100 for
functions that don't have reserved concurrency" (Lambda Developer Guide, "Configuring reserved
concurrency"). Accounts whose quota is under 100 (new accounts start at 10) keep their whole
quota unreserved, so they cannot reserve at all: PutFunctionConcurrency is refused with
InvalidParameterValueException "Specified ReservedConcurrentExecutions for function decreases
account's UnreservedConcurrentExecution below its minimum value of [10]." The minimum is
therefore min(100, quota). GetAccountSettings reports the quota (`ConcurrentExecutions`) and
the unreserved remainder. Plain moto enforces nothing unless MOTO_LAMBDA_CONCURRENCY_QUOTA is
set (then always with a minimum of 100) and does not implement GetAccountSettings.

Environment variables: "The total size of all environment variables doesn't exceed 4 KB"
(Lambda Developer Guide, "Lambda quotas": "Total size of environment variables set: 4 KB";
"Working with Lambda environment variables"). CreateFunction and UpdateFunctionConfiguration
with more are refused with InvalidParameterValueException "Lambda was unable to configure your
environment variables because the environment variables you have provided exceeded the 4KB
limit. String measured: ...". The size is measured here as the JSON of the `Variables` map in
UTF-8, as AWS's message shows it. Plain moto accepts any size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.awslambda import urls as lambda_urls
from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend
from moto.awslambda.responses import LambdaResponse

from devkit.localaws.layers import Patch

DEFAULT_QUOTA = 1000  # Lambda's default concurrent executions per account and region
_quota = {"value": DEFAULT_QUOTA}
ACCOUNT_SETTINGS_PATH = r"{0}/(?P<api_version>[^/]+)/account-settings/?$"


def unreserved_minimum(quota: int) -> int:
    """What AWS keeps unreserved: 100, or the whole quota when it is smaller."""
    return min(100, quota)


@contextmanager
def account_concurrency(quota: int) -> Iterator[None]:
    """Emulate an account whose concurrency quota is `quota` for the block (10: a new one)."""
    previous = _quota["value"]
    _quota["value"] = quota
    try:
        yield
    finally:
        _quota["value"] = previous


def _reserved_by_others(backend: LambdaBackend, function_name: str) -> int:
    """Concurrency the account's other functions reserve."""
    return sum(int(fn.reserved_concurrency) for fn in backend.list_functions()
               if fn.reserved_concurrency and fn.function_name != function_name)


ENVIRONMENT_LIMIT = 4096  # bytes, all of a function's environment variables together


def environment_size(variables: dict[str, str]) -> int:
    """The size AWS measures: the variables as a JSON map, in UTF-8 bytes."""
    return len(json.dumps(variables, separators=(",", ":"), ensure_ascii=False).encode())


def check_environment(body: dict[str, Any]) -> None:
    """Refuse environment variables over 4 KB in a CreateFunction/UpdateFunctionConfiguration."""
    variables = (body.get("Environment") or {}).get("Variables") or {}
    measured = json.dumps(variables, separators=(",", ":"), ensure_ascii=False)
    if environment_size(variables) > ENVIRONMENT_LIMIT:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided exceeded the 4KB limit. String measured: "
            f"{measured[:200]}")


def create_function_response(self: LambdaResponse) -> Any:
    check_environment(self.json_body)
    return _plain_create_function_response(self)


def update_function_configuration(self: LambdaBackend, function_name: str, qualifier: str,
                                  body: dict[str, Any]) -> dict[str, Any] | None:
    check_environment(body)
    return _plain_update_function_configuration(self, function_name, qualifier, body)


_plain_create_function_response = LambdaResponse.create_function
_plain_update_function_configuration = LambdaBackend.update_function_configuration


def put_function_concurrency(self: LambdaBackend, function_name: str,
                             reserved_concurrency: str) -> str:
    """Refuse a reservation that leaves less than the minimum unreserved, as AWS does."""
    function = self.get_function(function_name)
    quota = _quota["value"]
    minimum = unreserved_minimum(quota)
    unreserved = quota - _reserved_by_others(self, function.function_name)
    if unreserved - int(reserved_concurrency) < minimum:
        raise InvalidParameterValueException(
            "Specified ReservedConcurrentExecutions for function decreases account's "
            f"UnreservedConcurrentExecution below its minimum value of [{minimum}].")
    function.reserved_concurrency = reserved_concurrency
    return str(function.reserved_concurrency)


def get_account_settings(self: LambdaResponse) -> tuple[int, dict[str, str], str]:
    """GetAccountSettings: the quota, and what reservations leave of it."""
    quota = _quota["value"]
    unreserved = quota - _reserved_by_others(self.backend, "")
    functions = list(self.backend.list_functions())
    body: dict[str, Any] = {
        "AccountLimit": {
            "TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800, "ConcurrentExecutions": quota,
            "UnreservedConcurrentExecutions": unreserved},
        "AccountUsage": {"TotalCodeSize": sum(int(f.code_size) for f in functions),
                         "FunctionCount": len(functions)},
    }
    return 200, {}, json.dumps(body)


def patches() -> list[Patch]:
    return [
        Patch(LambdaBackend, "put_function_concurrency", put_function_concurrency),
        Patch(LambdaResponse, "create_function", create_function_response),
        Patch(LambdaBackend, "update_function_configuration", update_function_configuration),
        Patch(LambdaResponse, "get_account_settings", get_account_settings),
        Patch(lambda_urls.url_paths, ACCOUNT_SETTINGS_PATH, LambdaResponse.dispatch),
    ]
