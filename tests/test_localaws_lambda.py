"""Lambda's unreserved-concurrency minimum on the strict local AWS, against plain moto."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devkit.localaws.lambda_ import account_concurrency, unreserved_minimum
from devkit.localaws.layers import plain_moto, strict

ROLE = "arn:aws:iam::123456789012:role/runner"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


@pytest.fixture
def lambda_client() -> Iterator[Any]:
    with mock_aws(), strict():
        boto3.client("iam").create_role(RoleName="runner", AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": []}))
        client = boto3.client("lambda", region_name="us-east-1")
        for name in ("first", "second"):
            client.create_function(FunctionName=name, Role=ROLE, Runtime="python3.12",
                                   Handler="handler.handler", Code={"ZipFile": _zip()})
        yield client


def _reserve(client: Any, name: str, count: int) -> None:
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=count)


def test_new_account_cannot_reserve(lambda_client: Any) -> None:
    with account_concurrency(10):
        with plain_moto():
            _reserve(lambda_client, "first", 1)  # plain moto: accepted
        with pytest.raises(ClientError) as refused:
            _reserve(lambda_client, "second", 1)
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [10].")
    assert "ReservedConcurrentExecutions" not in lambda_client.get_function_concurrency(
        FunctionName="second")


def test_default_quota_allows_until_the_minimum(lambda_client: Any) -> None:
    _reserve(lambda_client, "first", 1)
    _reserve(lambda_client, "second", 899)  # 1000 - 1 - 899 = 100 left: allowed
    with pytest.raises(ClientError, match=r"minimum value of \[100\]"):
        _reserve(lambda_client, "second", 900)
    _reserve(lambda_client, "first", 1)  # re-reserving the same amount counts it once


def test_account_settings_report_the_quota(lambda_client: Any) -> None:
    with plain_moto(), pytest.raises(ClientError, match="Not yet implemented"):
        lambda_client.get_account_settings()
    _reserve(lambda_client, "first", 1)
    limit = lambda_client.get_account_settings()["AccountLimit"]
    assert (limit["ConcurrentExecutions"], limit["UnreservedConcurrentExecutions"]) == (1000, 999)
    with account_concurrency(10):
        limit = lambda_client.get_account_settings()["AccountLimit"]
    assert limit["ConcurrentExecutions"] == 10


def test_minimum_is_100_or_the_whole_small_quota() -> None:
    assert [unreserved_minimum(q) for q in (10, 50, 100, 1000)] == [10, 50, 100, 100]


BIG = {"AMIBACKUP_CONFIG": "x" * 4100}  # over Lambda's 4 KB of environment variables


def test_environment_over_4kb_is_refused(lambda_client: Any) -> None:
    """Rule t18-2: CreateFunction and UpdateFunctionConfiguration refuse more than 4 KB."""
    with plain_moto():
        lambda_client.create_function(FunctionName="big-plain", Role=ROLE, Runtime="python3.12",
                                      Handler="handler.handler", Code={"ZipFile": _zip()},
                                      Environment={"Variables": BIG})
        lambda_client.update_function_configuration(FunctionName="first",
                                                    Environment={"Variables": BIG})
    for call in (
        lambda: lambda_client.create_function(
            FunctionName="big", Role=ROLE, Runtime="python3.12", Handler="handler.handler",
            Code={"ZipFile": _zip()}, Environment={"Variables": BIG}),
        lambda: lambda_client.update_function_configuration(
            FunctionName="second", Environment={"Variables": BIG}),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
        assert "exceeded the 4KB limit" in refused.value.response["Error"]["Message"]
    assert "big" not in [f["FunctionName"] for f in lambda_client.list_functions()["Functions"]]
    fits = {"AMIBACKUP_CONFIG": "x" * 4000}
    lambda_client.update_function_configuration(FunctionName="second",
                                                Environment={"Variables": fits})


PROBE = """
import sys, boto3, botocore, amibackup.runner.handler
def handler(event, context):
    import botocore.session
    ec2 = botocore.session.get_session().get_service_model("ec2")
    return {"botocore": botocore.__file__, "boto3": boto3.__file__,
            "runner": amibackup.runner.handler.__file__, "version": botocore.__version__,
            "path": sys.path, "remaining": context.get_remaining_time_in_millis(),
            "DescribeImageReferences": "DescribeImageReferences" in ec2.operation_names}
"""


def test_the_runtime_runs_the_function_with_what_its_package_carries(lambda_client: Any
                                                                     ) -> None:
    """Issue 18: the runner imports boto3/botocore from its deployed zip, never from the
    process that invokes it (Lambda: /var/task first; here: nothing else on the path)."""
    from amibackup.provision import package
    from devkit.localaws.lambda_runtime import code_dir, invoke

    archive = io.BytesIO(package.runner_zip())
    with zipfile.ZipFile(archive, "a") as extended:
        extended.writestr("probe.py", PROBE)
    lambda_client.create_function(FunctionName="probe", Role=ROLE, Runtime="python3.12",
                                  Handler="probe.handler", Code={"ZipFile": archive.getvalue()},
                                  Timeout=60)
    where = str(code_dir(lambda_client.get_function_configuration(FunctionName="probe")))
    out = invoke(lambda_client, "probe", {})
    assert all(out[k].startswith(where) for k in ("botocore", "boto3", "runner")), out
    assert not [p for p in out["path"] if "site-packages" in p]
    assert out["version"] == package.vendored_versions()["botocore"]
    assert out["DescribeImageReferences"] and 0 < out["remaining"] <= 60_000
