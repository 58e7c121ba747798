"""IAM enforced on the local AWS: the runner and the deployer under their own policies.

AWS authorizes each call against the caller's policy (action, resource ARNs, tags); plain
moto authorizes nothing. Every test below that expects a denial also shows plain moto
letting the same call through.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from amibackup.names import TAG_STACK
from amibackup.provision import backup, iam
from amibackup.provision.policy import (
    Scope,
    boundary_arn,
    boundary_policy,
    deployer_policy,
    deployer_policy_json,
    runner_policy,
)
from amibackup.runner import plan
from amibackup.runner.clients import Clients
from amibackup.runner.config import Job
from amibackup.runner.cycle import backup_images
from amibackup.runner.handler import handler
from amibackup.schema import BackupSpec
from amibackup.spec import normalise
from devkit.localaws.iam_enforce import enforce
from devkit.localaws.iam_policy import ALLOW, EXPLICIT_DENY, IMPLICIT_DENY, Request, evaluate
from devkit.localaws.iam_requests import Unmapped, Where, authorizations
from devkit.localaws.layers import install_layers
from devkit.scenarios import (
    HOURLY,
    DemoGroup,
    create_group,
    default_image,
    deployed,
    group_instances,
    on_time,
    signing_key,
)

REGION, ACCOUNT = "us-east-1", "123456789012"
RUNNER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/amibackup-enforced"  # enforce()'s default caller
T0 = datetime(2026, 11, 5, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]
@pytest.fixture
def aws() -> Iterator[Clients]:
    """The test's own clients: made outside `enforce`, so never restricted.

    On the strict local AWS (it tags snapshots at CreateImage, as AWS does), whichever
    test ran first.
    """
    install_layers()
    with mock_aws():
        clients = Clients(REGION)
        signing_key(clients, "b1", signer=RUNNER_ROLE)  # as deploying it would
        yield clients


@pytest.fixture
def groups(aws: Clients) -> tuple[DemoGroup, DemoGroup]:
    return create_group(aws, "web", size=2), create_group(aws, "other", size=1)


def scope(group: DemoGroup, backup_id: str = "b1") -> Scope:
    return Scope("aws", REGION, ACCOUNT, backup_id, group.group_name, group.template_id)


def run_handler(group: DemoGroup, n: int) -> dict[str, Any]:
    """The deployed runner's n-th hourly run (its job fixed at deploy, in its environment)."""
    job = Job("b1", group.group_name, region=REGION, retention=2,
              template_id=group.template_id, schedule_expression=HOURLY)
    event = {"scheduled_time": (T0 + timedelta(hours=n)).isoformat()}
    with deployed(job), on_time(event):
        return handler(event)


def image_tags(backup_id: str) -> list[dict[str, str]]:
    return [{"Key": plan.TAG_BACKUP, "Value": backup_id}]


def code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


# --- the runner under its policy -----------------------------------------------------------

def test_a_full_runner_cycle_passes_under_the_runner_policy(aws, groups):
    web, _ = groups
    with enforce(runner_policy(scope(web))) as enforcer:
        summaries = [run_handler(web, n) for n in range(3)]
    assert enforcer.denied() == []
    assert [bool(s["created"]) for s in summaries] == [True, True, True]
    assert sum(len(s["pruned"]) for s in summaries) == 1  # retention 2 after 3 runs
    images = backup_images(aws("ec2"), "b1")
    assert len(images) == 2
    assert default_image(aws("ec2"), web.template_id) == summaries[-1]["created"]
    used = enforcer.used_statements()
    assert {"ImageGroupInstances", "MakeTaggedImages", "TagOnlyAtCreateImage",
            "DeregisterOwnImages", "DeleteOwnSnapshots", "PromoteOnGroupTemplate",
            "RunLock", "OwnRecord"} <= used


def test_snapshots_are_tagged_at_birth_so_the_runner_may_create_and_delete_them(aws, groups):
    """Issue 9 item 3: CreateImage always tags the snapshots too (the policy requires it).

    An untagged snapshot is denied on `arn:aws:ec2:region::snapshot/*`; no setting of the
    runner or its environment turns snapshot tagging off.
    """
    web, _ = groups
    with enforce(runner_policy(scope(web))) as enforcer:
        run_handler(web, 0)
    assert enforcer.denied() == []
    images = backup_images(aws("ec2"), "b1")
    assert len(images) == 1 and images[0].snapshot_ids
    snaps = aws("ec2").describe_snapshots(SnapshotIds=list(images[0].snapshot_ids))["Snapshots"]
    assert all({"Key": plan.TAG_BACKUP, "Value": "b1"} in s["Tags"] for s in snaps)


def _untagged_image(clients: Clients, instance: str, name: str, backup_id: str | None) -> str:
    specs = [{"ResourceType": "image", "Tags": image_tags(backup_id)}] if backup_id else []
    made = clients("ec2").create_image(InstanceId=instance, Name=name,
                                       TagSpecifications=specs)
    return str(made["ImageId"])


# Each call is outside the runner's scope: (what it is, the call, the resource AWS names).
OutsideCall = Callable[[Clients, DemoGroup, DemoGroup, dict[str, str]], Any]
OUTSIDE: list[tuple[str, OutsideCall, str]] = [
    ("create an image of another group's instance",
     lambda c, web, other, ids: c("ec2").create_image(
         InstanceId=ids["other_instance"], Name="b1-stolen",
         TagSpecifications=[{"ResourceType": "image", "Tags": image_tags("b1")}]),
     "instance/i-"),
    ("deregister an image without the backup's tag",
     lambda c, web, other, ids: c("ec2").deregister_image(ImageId=web.base_image),
     "image/ami-"),
    ("deregister another backup's image",
     lambda c, web, other, ids: c("ec2").deregister_image(ImageId=ids["b2_image"]),
     "image/ami-"),
    ("modify another group's launch template",
     lambda c, web, other, ids: c("ec2").modify_launch_template(
         LaunchTemplateId=other.template_id, DefaultVersion="1"),
     "launch-template/lt-"),
    ("add a version to another group's launch template",
     lambda c, web, other, ids: c("ec2").create_launch_template_version(
         LaunchTemplateName=other.template_name, SourceVersion="1",
         LaunchTemplateData={"ImageId": web.base_image}),
     "launch-template/lt-"),
    ("take another backup's run lock",
     lambda c, web, other, ids: c("ssm").put_parameter(
         Name="/amibackup/b2/lock", Value="x", Type="String"),
     "parameter/amibackup/b2/lock"),
]


@pytest.fixture
def targets(aws: Clients, groups: tuple[DemoGroup, DemoGroup]) -> dict[str, str]:
    _, other = groups
    other_instance = group_instances(aws, other.group_name)[0]["InstanceId"]
    return {"other_instance": other_instance,
            "b2_image": _untagged_image(aws, other_instance, "b2-image", "b2")}


@pytest.mark.parametrize(("what", "call", "resource"), OUTSIDE, ids=[o[0] for o in OUTSIDE])
def test_b_calls_outside_the_runner_scope_are_denied(aws, groups, targets, what, call,
                                                      resource):
    web, other = groups
    with enforce(runner_policy(scope(web))) as enforcer:
        runner = Clients(REGION)
        with pytest.raises(ClientError) as err:
            call(runner, web, other, targets)
    (denied,) = enforcer.denied()
    assert resource in denied.resource, what
    assert code(err) == ("UnauthorizedOperation" if denied.action.startswith("ec2:")
                         else "AccessDeniedException")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"on resource: {denied.resource}" in str(err.value)
    assert default_image(aws("ec2"), other.template_id) == other.base_image
    assert {i["ImageId"] for i in aws("ec2").describe_images(
        ImageIds=[web.base_image, targets["b2_image"]])["Images"]} == {
        web.base_image, targets["b2_image"]}


@pytest.mark.parametrize(("what", "call", "resource"), OUTSIDE, ids=[o[0] for o in OUTSIDE])
def test_c_plain_moto_lets_the_same_calls_through(aws, groups, targets, what, call, resource):
    web, other = groups
    answer = call(Clients(REGION), web, other, targets)  # no enforcement: nothing refuses it
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200, what


def test_only_the_named_access_key_is_restricted(aws, groups):
    """Two identities in one test: the runner's key is checked, the operator's is not."""
    nothing = _policy()
    with enforce(nothing, access_key_id="AKIARUNNER") as enforcer:
        operator = Clients(REGION).session.client("ec2", aws_access_key_id="AKIAOPERATOR",
                                                  aws_secret_access_key="x")
        runner = Clients(REGION).session.client("ec2", aws_access_key_id="AKIARUNNER",
                                                aws_secret_access_key="x")
        assert operator.describe_images(Owners=["self"])["Images"]
        with pytest.raises(ClientError) as err:
            runner.describe_images(Owners=["self"])
    assert code(err) == "UnauthorizedOperation"
    assert [r.action for r in enforcer.denied()] == ["ec2:DescribeImages"]


def test_enforcement_reaches_a_moto_server_too(endpoint, monkeypatch):
    """Out of process (the provider's and demo's way), resource tags come from the server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    operator = Clients(REGION)
    web = create_group(operator, "srv-web", size=1)
    instance = group_instances(operator, web.group_name)[0]["InstanceId"]
    own = _untagged_image(operator, instance, "b1-srv", "b1")
    with enforce(runner_policy(scope(web))):
        runner = Clients(REGION)
        runner("ec2").deregister_image(ImageId=own)
        with pytest.raises(ClientError) as err:
            runner("ec2").deregister_image(ImageId=web.base_image)
    assert code(err) == "UnauthorizedOperation"
    assert web.base_image in str(err.value)
    assert [i["ImageId"] for i in operator("ec2").describe_images(
        ImageIds=[web.base_image])["Images"]] == [web.base_image]


def test_the_runner_policy_allows_what_the_runner_asks_of_its_own_group(aws, groups):
    """The positive side of (b), authorization only: the same calls on the backup's own
    resources are allowed (a full run is test (a))."""
    web, _ = groups
    own = _untagged_image(aws, group_instances(aws, web.group_name)[0]["InstanceId"],
                          "b1-own", "b1")
    ec2 = aws("ec2")

    def tags(resource_id: str) -> dict[str, str]:
        found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])
        return {t["Key"]: t["Value"] for t in found["Tags"]}

    where = Where("aws", ACCOUNT, REGION, tags, lambda name: web.template_id)
    tag_list = image_tags("b1")
    calls = [
        ("ec2", "CreateImage", {"InstanceId": group_instances(aws, "web")[0]["InstanceId"],
                                "Name": "n", "TagSpecifications": [
                                    {"ResourceType": "image", "Tags": tag_list},
                                    {"ResourceType": "snapshot", "Tags": tag_list}]}),
        ("ec2", "DeregisterImage", {"ImageId": own}),
        ("ec2", "ModifyLaunchTemplate", {"LaunchTemplateId": web.template_id}),
        ("ec2", "CreateLaunchTemplateVersion", {"LaunchTemplateName": web.template_name}),
        ("ssm", "PutParameter", {"Name": "/amibackup/b1/lock"}),
    ]
    policy = runner_policy(scope(web))
    for service, op, params in calls:
        requests = authorizations(service, op, params, where)
        assert requests and all(evaluate(policy, r).allowed for r in requests), (op, requests)


ROLE = f"arn:aws:iam::{ACCOUNT}:role/amibackup-x-run"
TAGGED = [{"Key": "team", "Value": "web"}]


@pytest.mark.parametrize(("service", "op", "params", "actions"), [
    ("lambda", "GetFunction", {"FunctionName": "amibackup-x"},
     ["lambda:GetFunction", "lambda:ListTags"]),  # the function is tagged
    ("lambda", "CreateFunction", {"FunctionName": "amibackup-x", "Role": ROLE,
                                  "Tags": {"team": "web"}},
     ["lambda:CreateFunction", "iam:PassRole", "lambda:TagResource"]),
    ("iam", "CreateRole", {"RoleName": "amibackup-x", "Tags": TAGGED},
     ["iam:CreateRole", "iam:TagRole"]),
    ("scheduler", "CreateSchedule", {"Name": "amibackup-x", "Target": {"RoleArn": ROLE}},
     ["scheduler:CreateSchedule", "iam:PassRole"]),
    ("ec2", "CreateImage", {"InstanceId": "i-1", "TagSpecifications": [
        {"ResourceType": "image", "Tags": TAGGED}]},
     ["ec2:CreateImage", "ec2:CreateImage", "ec2:CreateTags", "ec2:CreateImage"]),
    ("sts", "GetCallerIdentity", {}, []),  # needs no permission
])
def test_one_call_needs_every_permission_aws_checks_for_it(service, op, params, actions):
    where = Where("aws", ACCOUNT, REGION, lambda rid: {}, lambda name: "lt-1",
                  lambda arn: {"team": "web"})
    assert [r.action for r in authorizations(service, op, params, where)] == actions


def test_an_unmapped_call_fails_loudly():
    where = Where("aws", ACCOUNT, REGION, lambda rid: {}, lambda name: "lt-1")
    with pytest.raises(Unmapped, match="ec2:RunInstances"):
        authorizations("ec2", "RunInstances", {}, where)


# --- the deployer policy ------------------------------------------------------------------

STACK = "shop/prod"  # the deployer identity's amibackup:stack tag


def props(**overrides: Any) -> BackupSpec:
    return BackupSpec.from_props(normalise(
        {"backup_name": "web-backup", "group_name": "web", "owner": f"{STACK}/web-backup",
         **overrides}))


def as_deployer(stack: str = STACK) -> Any:
    """The shipped deployer policy, held by an identity tagged with `stack`."""
    return enforce(deployer_policy("aws", ACCOUNT, REGION),
                   principal_tags={TAG_STACK: stack})


@pytest.fixture
def boundary(aws: Clients) -> str:
    """The permissions boundary, made once per account by an administrator."""
    arn = boundary_arn("aws", ACCOUNT)
    iam.ensure_boundary(aws("iam"), arn, boundary_policy("aws", "*"), "")
    return arn


def test_d_create_update_refresh_delete_pass_under_the_deployer_policy(aws, groups, boundary):
    with as_deployer() as enforcer:
        clients = Clients(REGION)
        outs = backup.create(clients, props())
        backup_id = outs["backup_id"]
        updated = backup.ensure(clients, props(retention=5, tags={"team": "web"}), backup_id,
                                outs["recorded_version"])
        refreshed = backup.read(clients, backup_id, updated)
        backup.delete(clients, backup_id, props(retention=5, tags={"team": "web"}),
                      updated["recorded_version"])
    assert enforcer.denied() == []
    assert refreshed is not None and refreshed["schedule_state"] == "ENABLED"
    assert aws("scheduler").list_schedules()["Schedules"] == []
    assert aws("lambda").list_functions()["Functions"] == []
    assert [r["RoleName"] for r in aws("iam").list_roles()["Roles"]
            if r["RoleName"].startswith("amibackup-")] == []
    assert {"CreateRolesInBoundary", "PassRolesOfStack", "CreateFunctionsOfStack",
            "Schedule", "RunLocksAndTemplateClaims"} <= enforcer.used_statements()


def test_d_delete_removes_the_backup_images_under_the_deployer_policy(aws, groups, boundary):
    web, _ = groups
    spec = props()
    outs = backup.create(aws, spec)
    backup_id = outs["backup_id"]
    for n in range(2):
        event = {"scheduled_time": (T0 + timedelta(hours=n)).isoformat()}
        with deployed(backup.runner_job(spec, backup_id, REGION, owner=spec.owner)), \
                on_time(event):
            handler(event)
    assert len(backup_images(aws("ec2"), backup_id)) == 2
    with as_deployer() as enforcer:
        backup.delete(Clients(REGION), backup_id, spec, outs["recorded_version"])
    assert enforcer.denied() == []
    assert backup_images(aws("ec2"), backup_id) == []
    assert default_image(aws("ec2"), web.template_id) == web.base_image


DEPLOYER_OUTSIDE: list[tuple[str, Callable[[Clients], Any], str]] = [
    ("create a role named outside amibackup-*", lambda c: c("iam").create_role(
        RoleName="admin-role", AssumeRolePolicyDocument=json.dumps({"Statement": []})),
     "AccessDenied"),
    ("delete a function named outside amibackup-*", lambda c: c("lambda").delete_function(
        FunctionName="payroll"), "AccessDeniedException"),
    ("delete a schedule named outside amibackup-*", lambda c: c("scheduler").delete_schedule(
        Name="nightly-report"), "AccessDeniedException"),
    ("deregister an image that no backup made", lambda c: c("ec2").deregister_image(
        ImageId=c("ec2").describe_images(Owners=["self"])["Images"][0]["ImageId"]),
     "UnauthorizedOperation"),
]


@pytest.mark.parametrize(("what", "call", "error"), DEPLOYER_OUTSIDE,
                         ids=[o[0] for o in DEPLOYER_OUTSIDE])
def test_d_calls_outside_the_deployer_policy_are_denied(aws, groups, what, call, error):
    with (as_deployer() as enforcer,
          pytest.raises(ClientError) as err):
        call(Clients(REGION))
    assert code(err) == error, what
    assert len(enforcer.denied()) == 1


def test_d_the_deployer_passes_roles_only_to_lambda_and_scheduler():
    policy = deployer_policy("aws", ACCOUNT, REGION)
    role = f"arn:aws:iam::{ACCOUNT}:role/amibackup-web-1a2b3c4d-run"

    def passing(to: str, arn: str = role, stack: str = STACK) -> str:
        return evaluate(policy, Request("iam:PassRole", arn, {
            "iam:PassedToService": [to], f"aws:ResourceTag/{TAG_STACK}": [stack],
            f"aws:PrincipalTag/{TAG_STACK}": [STACK]})).effect

    assert passing("lambda.amazonaws.com") == ALLOW
    assert passing("scheduler.amazonaws.com") == ALLOW
    assert passing("ec2.amazonaws.com") == IMPLICIT_DENY
    assert passing("lambda.amazonaws.com", f"arn:aws:iam::{ACCOUNT}:role/admin") == IMPLICIT_DENY
    assert passing("lambda.amazonaws.com", stack="shop/other") == IMPLICIT_DENY


def test_the_shipped_deployer_policy_is_the_generated_one():
    shipped = (REPO / "policies" / "deployer.json").read_text()
    assert shipped == deployer_policy_json(), "regenerate: python tools/render_policies.py"
    assert json.loads(shipped)["Statement"]


# --- the evaluator's rules (IAM User Guide, "Policy evaluation logic") ----------------------

def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_explicit_deny_wins_and_nothing_is_allowed_by_default():
    allow = {"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "ec2:Deregister*", "Resource": "arn:aws:ec2:*::image/*"}
    image = Request("ec2:DeregisterImage", "arn:aws:ec2:us-east-1::image/ami-1")
    assert evaluate(_policy(allow, deny), image).effect == EXPLICIT_DENY
    assert evaluate(_policy(allow), image).effect == ALLOW
    assert evaluate(_policy(), image).effect == IMPLICIT_DENY
    not_action = {"Effect": "Allow", "NotAction": "ec2:Deregister*", "Resource": "*"}
    assert evaluate(_policy(not_action), image).effect == IMPLICIT_DENY


def test_arn_wildcards_stay_within_their_part():
    statement = {"Effect": "Allow", "Action": "ec2:CreateImage",
                 "Resource": "arn:aws:ec2:us-east-1:123456789012:instance/*"}
    ok = Request("ec2:CreateImage", "arn:aws:ec2:us-east-1:123456789012:instance/i-1")
    other_account = Request("ec2:CreateImage", "arn:aws:ec2:us-east-1:999999999999:instance/i-1")
    assert evaluate(_policy(statement), ok).allowed
    assert not evaluate(_policy(statement), other_account).allowed
    assert not evaluate(_policy({**statement, "Resource": "arn:aws:ec2:*"}), ok).allowed


@pytest.mark.parametrize(("condition", "context", "allowed"), [
    ({"StringEquals": {"aws:ResourceTag/k": "v"}}, {"aws:ResourceTag/k": ["v"]}, True),
    ({"StringEquals": {"aws:ResourceTag/k": "v"}}, {}, False),
    ({"StringNotEquals": {"aws:ResourceTag/k": "v"}}, {}, True),
    ({"StringEqualsIfExists": {"aws:ResourceTag/k": "v"}}, {}, True),
    ({"StringLike": {"aws:ResourceTag/k": "amibackup-*"}}, {"aws:resourcetag/k": ["amibackup-x"]},
     True),
    ({"Null": {"aws:ResourceTag/k": "false"}}, {}, False),
    ({"Null": {"aws:ResourceTag/k": "true"}}, {}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {"aws:TagKeys": ["a"]}, True),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:TagKeys": ["a", "c"]}, False),
    ({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {}, True),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {}, False),
    ({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:TagKeys": ["c", "a"]}, True),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:scheduler:*:1:schedule/*"}},
     {"aws:SourceArn": ["arn:aws:scheduler:eu-west-1:1:schedule/default/x"]}, True),
    ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": ["True"]}, True),
    ({"StringEquals": {"a": "1"}, "StringLike": {"b": "2*"}}, {"a": ["1"], "b": ["3"]}, False),
])
def test_condition_operators(condition, context, allowed):
    statement = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}
    assert evaluate(_policy(statement), Request("s:A", "*", context)).allowed is allowed


def test_an_unsupported_operator_fails_loudly():
    statement = {"Effect": "Allow", "Action": "*", "Resource": "*",
                 "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}}
    with pytest.raises(ValueError, match="DateGreaterThan"):
        evaluate(_policy(statement), Request("s:A", "*"))


def test_parliament_deployer_policy_is_clean():
    from tests.test_policy import parliament_findings

    assert parliament_findings(deployer_policy("aws", ACCOUNT, REGION)) == []
