"""Names, tags and schedule expressions the strict local AWS refuses, as AWS does."""

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

from devkit.localaws.layers import plain_moto, strict
from devkit.localaws.naming import java_semantics, violations

TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})
ROLE = "arn:aws:iam::123456789012:role/runner"
TARGET = {"Arn": "arn:aws:lambda:us-east-1:123456789012:function:runner", "RoleArn": ROLE}


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws(), strict():
        yield


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


def _refused(call: Any, code: str) -> str:
    """Run `call` on plain moto (accepted), then strictly (refused with `code`)."""
    with plain_moto():
        call("plain")
    with pytest.raises(ClientError) as refused:
        call("strict")
    assert refused.value.response["Error"]["Code"] == code
    return str(refused.value.response["Error"]["Message"])


@pytest.mark.usefixtures("aws")
def test_iam_role_name_outside_the_pattern() -> None:
    iam = boto3.client("iam")
    message = _refused(lambda run: iam.create_role(
        RoleName=f"sauvegarde-été-{run}", AssumeRolePolicyDocument=TRUST), "ValidationError")
    assert message == (
        "1 validation error detected: Value 'sauvegarde-été-strict' at 'roleName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    with pytest.raises(ClientError, match="length less than or equal to 64"):
        iam.create_role(RoleName="r" * 65, AssumeRolePolicyDocument=TRUST)


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("value", ["R&D", "a,b", "o'brien"])
def test_iam_tag_values_ec2_allows_but_iam_refuses(value: str) -> None:
    iam = boto3.client("iam")
    message = _refused(lambda run: iam.create_role(
        RoleName=f"role-{run}", AssumeRolePolicyDocument=TRUST,
        Tags=[{"Key": "team", "Value": value}]), "ValidationError")
    assert f"Value '{value}' at 'tags.1.member.value'" in message
    iam.create_role(RoleName="tagged", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(ClientError, match="tags.1.member.value"):
        iam.tag_role(RoleName="tagged", Tags=[{"Key": "team", "Value": value}])
    iam.tag_role(RoleName="tagged", Tags=[{"Key": "team", "Value": "R and D: été"}])


@pytest.mark.usefixtures("aws")
def test_iam_policy_name_outside_the_pattern() -> None:
    iam = boto3.client("iam")
    iam.create_role(RoleName="runner", AssumeRolePolicyDocument=TRUST)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:DescribeImages", "Resource": "*"}]})
    _refused(lambda run: iam.put_role_policy(
        RoleName="runner", PolicyName=f"politique-été-{run}", PolicyDocument=policy),
        "ValidationError")


@pytest.mark.usefixtures("aws")
def test_lambda_function_name_and_tags() -> None:
    boto3.client("iam").create_role(RoleName="runner", AssumeRolePolicyDocument=TRUST)
    client = boto3.client("lambda")

    def create(name: str, tags: dict[str, str] | None = None) -> Any:
        return client.create_function(FunctionName=name, Role=ROLE, Runtime="python3.12",
                                      Handler="handler.handler", Code={"ZipFile": _zip()},
                                      Tags=tags or {})

    message = _refused(lambda run: create(f"sauvegarde-été-{run}"), "ValidationException")
    assert "at 'functionName' failed to satisfy constraint" in message
    _refused(lambda run: create(f"fn-{run}", {"team": "R&D"}), "ValidationException")
    arn = create("tagged")["FunctionArn"]
    with pytest.raises(ClientError, match="Value 'a,b' at 'tags.team'"):
        client.tag_resource(Resource=arn, Tags={"team": "a,b"})


@pytest.mark.usefixtures("aws")
def test_schedule_name_outside_the_pattern() -> None:
    scheduler = boto3.client("scheduler")
    message = _refused(lambda run: scheduler.create_schedule(
        Name=f"sauvegarde-été-{run}", ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "OFF"}, Target=TARGET), "ValidationException")
    assert "at 'name' failed to satisfy constraint" in message
    _refused(lambda run: scheduler.create_schedule_group(
        Name=f"group-{run}", Tags=[{"Key": "team", "Value": "v" * 257}]),
        "ValidationException")


@pytest.mark.usefixtures("aws")
def test_schedule_expression_is_checked_on_create_and_update() -> None:
    scheduler = boto3.client("scheduler")
    refused_cron = "cron(0 0 ? * 1-6/2 *)"  # no `/` in EventBridge's day-of-week field

    def create(name: str, expression: str) -> None:
        scheduler.create_schedule(Name=name, ScheduleExpression=expression,
                                  FlexibleTimeWindow={"Mode": "OFF"}, Target=TARGET)

    _refused(lambda run: create(f"steps-{run}", refused_cron), "ValidationException")
    create("hourly", "cron(0 * * * ? *)")
    with plain_moto():
        scheduler.update_schedule(Name="hourly", ScheduleExpression=refused_cron,
                                  FlexibleTimeWindow={"Mode": "OFF"}, Target=TARGET)
    with pytest.raises(ClientError) as refused:
        scheduler.update_schedule(Name="hourly", ScheduleExpression=refused_cron,
                                  FlexibleTimeWindow={"Mode": "OFF"}, Target=TARGET)
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_constraints_come_from_botocore_models() -> None:
    assert violations("iam", "CreateRole", {"RoleName": "ok-name_1"}) == []
    assert len(violations("iam", "CreateRole", {"RoleName": "x" * 65})) == 1
    assert violations("lambda", "TagResource", {"Tags": {"k": "é ü 1 +=@"}}) == []
    assert java_semantics(r"[\w+=,.@-]+") == "[a-zA-Z0-9_+=,.@-]+"
    assert java_semantics(r"(\d{12}:)?") == "([0-9]{12}:)?"
