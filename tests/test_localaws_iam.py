"""The local IAM evaluator's rules p15-1..5 (RULES.md), each against plain moto's answer.

Plain moto authorizes nothing: every call below goes through there. The strict local AWS
judges it as AWS does: permissions boundaries, iam:PermissionsBoundary, resource tags of
roles, parameters, rules and alarms, request tags, and policy variables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from amibackup.runner.clients import Clients
from devkit.localaws.iam_enforce import _Lookups, enforce, role_identity
from devkit.localaws.iam_policy import Request, evaluate, evaluate_bounded
from devkit.localaws.iam_requests import Where, authorizations
from devkit.localaws.layers import install_layers

REGION, ACCOUNT = "us-east-1", "123456789012"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/cap"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


EVERYTHING = policy({"Effect": "Allow", "Action": "*", "Resource": "*"})
ONLY_SSM = policy({"Effect": "Allow", "Action": "ssm:*", "Resource": "*"})


@pytest.fixture
def aws() -> Iterator[Clients]:
    install_layers()
    with mock_aws():
        clients = Clients(REGION)
        clients("iam").create_policy(PolicyName="cap", PolicyDocument=json.dumps(ONLY_SSM))
        clients("iam").create_role(RoleName="wide", AssumeRolePolicyDocument=TRUST,
                                   PermissionsBoundary=BOUNDARY,
                                   Tags=[{"Key": "team", "Value": "a"}])
        clients("iam").put_role_policy(RoleName="wide", PolicyName="all",
                                       PolicyDocument=json.dumps(EVERYTHING))
        yield clients


def where(aws: Clients) -> Where:
    """What the enforcer reads of the local AWS (tags, boundaries), for a call's context."""
    return _Lookups(botocore.session.Session.create_client, aws.session._session,
                    aws("ssm")).where()


# p15-1 ------------------------------------------------------------------------------------

def test_p15_1_a_boundary_caps_the_identity_policy(aws):
    """Inline Action:* under a boundary allowing ssm:* only: IAM calls are denied."""
    with enforce(**role_identity(aws("iam"), "wide")) as enforcer:
        session_clients = Clients(REGION)
        session_clients("ssm").put_parameter(Name="/x", Value="1", Type="String")
        with pytest.raises(ClientError) as err:
            session_clients("iam").create_role(RoleName="admin", AssumeRolePolicyDocument=TRUST)
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert "no permissions boundary allows the iam:CreateRole action" in str(err.value)
    assert [r.action for r in enforcer.denied()] == ["iam:CreateRole"]
    # plain moto: the role's session may do anything
    assert Clients(REGION)("iam").create_role(RoleName="admin", AssumeRolePolicyDocument=TRUST)


def test_p15_1_explicit_deny_in_the_boundary_wins_and_the_boundary_grants_nothing():
    request = Request("ssm:GetParameter", "arn:aws:ssm:us-east-1:1:parameter/x")
    deny = policy({"Effect": "Deny", "Action": "ssm:*", "Resource": "*"})
    assert evaluate_bounded(EVERYTHING, request, deny).effect == "ExplicitDeny"
    assert evaluate_bounded(policy(), request, ONLY_SSM).effect == "ImplicitDeny"
    assert evaluate_bounded(EVERYTHING, request, ONLY_SSM).allowed


# p15-2 ------------------------------------------------------------------------------------

def test_p15_2_permissions_boundary_condition_key(aws):
    w = where(aws)
    create = authorizations("iam", "CreateRole", {"RoleName": "r",
                                                  "PermissionsBoundary": BOUNDARY}, w)
    assert create[0].context["iam:PermissionsBoundary"] == [BOUNDARY]
    bare = authorizations("iam", "CreateRole", {"RoleName": "r"}, w)
    assert "iam:PermissionsBoundary" not in bare[0].context
    for op in ("PutRolePolicy", "DeleteRolePolicy", "DeleteRolePermissionsBoundary"):
        (asked,) = authorizations("iam", op, {"RoleName": "wide", "PolicyName": "all"}, w)
        assert asked.context["iam:PermissionsBoundary"] == [BOUNDARY], op  # the role's own
    only_capped = policy({"Effect": "Allow", "Action": "iam:*", "Resource": "*",
                          "Condition": {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}}})
    with enforce(only_capped), pytest.raises(ClientError):
        Clients(REGION)("iam").create_role(RoleName="free", AssumeRolePolicyDocument=TRUST)
    assert Clients(REGION)("iam").create_role(RoleName="free", AssumeRolePolicyDocument=TRUST)


# p15-3 ------------------------------------------------------------------------------------

def test_p15_3_resource_tags_of_roles_parameters_rules_and_alarms(aws):
    aws("ssm").put_parameter(Name="/p", Value="1", Type="String",
                             Tags=[{"Key": "team", "Value": "a"}])
    aws("events").put_rule(Name="r", ScheduleExpression="rate(1 hour)",
                           Tags=[{"Key": "team", "Value": "a"}])
    aws("cloudwatch").put_metric_alarm(
        AlarmName="al", MetricName="m", Namespace="n", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": "team", "Value": "a"}])
    w = where(aws)
    calls = [("iam", "DeleteRole", {"RoleName": "wide"}),
             ("ssm", "DeleteParameter", {"Name": "/p"}),
             ("events", "DeleteRule", {"Name": "r"}),
             ("monitoring", "DeleteAlarms", {"AlarmNames": ["al"]})]
    team_a = policy({"Effect": "Allow", "Action": "*", "Resource": "*",
                     "Condition": {"StringEquals": {"aws:ResourceTag/team": "a"}}})
    for service, op, params in calls:
        (asked,) = authorizations(service, op, params, w)
        assert asked.context["aws:ResourceTag/team"] == ["a"], op
        assert evaluate(team_a, asked).allowed
    (missing,) = authorizations("ssm", "DeleteParameter", {"Name": "/none"}, w)
    assert "aws:ResourceTag/team" not in missing.context  # nothing to compare: denied
    assert not evaluate(team_a, missing).allowed
    with enforce(policy({"Effect": "Allow", "Action": "ssm:*", "Resource": "*",
                         "Condition": {"StringEquals": {"aws:ResourceTag/team": "b"}}})
                 ), pytest.raises(ClientError):
        Clients(REGION)("ssm").delete_parameter(Name="/p")
    assert Clients(REGION)("ssm").delete_parameter(Name="/p")  # plain moto


# p15-4 ------------------------------------------------------------------------------------

def test_p15_4_policy_variables_from_principal_tags(aws):
    mine = policy({"Effect": "Allow", "Action": "iam:DeleteRolePolicy",
                   "Resource": "arn:aws:iam::*:role/*",
                   "Condition": {"StringEquals": {
                       "aws:ResourceTag/team": "${aws:PrincipalTag/team}"}}})
    with enforce(mine, principal_tags={"team": "b"}), pytest.raises(ClientError):
        Clients(REGION)("iam").delete_role_policy(RoleName="wide", PolicyName="all")
    with enforce(mine), pytest.raises(ClientError):  # untagged principal: matches nothing
        Clients(REGION)("iam").delete_role_policy(RoleName="wide", PolicyName="all")
    with enforce(mine, principal_tags={"team": "a"}) as enforcer:
        Clients(REGION)("iam").delete_role_policy(RoleName="wide", PolicyName="all")
    assert enforcer.denied() == []
    in_resource = policy({"Effect": "Allow", "Action": "ssm:GetParameter",
                          "Resource": "arn:aws:ssm:*:*:parameter/${aws:PrincipalTag/team}/*"})
    request = Request("ssm:GetParameter", "arn:aws:ssm:us-east-1:1:parameter/a/x",
                      {"aws:PrincipalTag/team": ["a"]})
    assert evaluate(in_resource, request).allowed
    assert not evaluate(in_resource, Request(request.action, request.resource)).allowed


# p15-5 ------------------------------------------------------------------------------------

def test_p15_5_request_tags_on_rules_alarms_and_parameters(aws):
    w = where(aws)
    tags = [{"Key": "team", "Value": "a"}]
    rule = authorizations("events", "PutRule", {"Name": "r", "Tags": tags}, w)
    alarm = authorizations("monitoring", "PutMetricAlarm", {"AlarmName": "al", "Tags": tags}, w)
    param = authorizations("ssm", "PutParameter", {"Name": "/q", "Tags": tags}, w)
    for asked in (rule[0], alarm[0], param[0]):
        assert asked.context["aws:RequestTag/team"] == ["a"]
        assert asked.context["aws:TagKeys"] == ["team"]
    assert [r.action for r in param] == ["ssm:PutParameter", "ssm:AddTagsToResource"]
    with enforce(policy({"Effect": "Allow", "Action": "ssm:PutParameter", "Resource": "*"})
                 ), pytest.raises(ClientError):
        Clients(REGION)("ssm").put_parameter(Name="/q", Value="1", Type="String", Tags=tags)
    assert Clients(REGION)("ssm").put_parameter(Name="/q", Value="1", Type="String", Tags=tags)
