"""Issue 15 items 7 and 8: what a deployer could gain beyond amibackup, tried as an attacker.

Every call below is made under the shipped `policies/deployer.json` (enforced by the local
AWS's IAM evaluator) by an identity tagged `amibackup:stack = shop/a`, or, for what a
role may do, as a session of that role with its inline policies, its permissions boundary
and its tags read from the local IAM at the time of the call. Plain moto authorizes
nothing: the same calls without enforcement all succeed (the last test).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from amibackup.names import TAG_RUN, TAG_STACK, Names
from amibackup.provision import backup, iam
from amibackup.provision.policy import boundary_arn, boundary_policy
from amibackup.runner.clients import Clients
from amibackup.runner.cycle import backup_images
from amibackup.runner.handler import handler
from amibackup.schema import BackupSpec
from amibackup.spec import normalise
from devkit.localaws.iam_enforce import enforce, role_identity
from devkit.localaws.layers import install_layers
from devkit.scenarios import DemoGroup, create_group, deployed, on_time

REGION, ACCOUNT = "us-east-1", "123456789012"
SHIPPED = json.loads((Path(__file__).resolve().parents[1] / "policies" / "deployer.json")
                     .read_text())
T0 = datetime(2026, 11, 5, tzinfo=UTC)
A, B = "shop/a", "shop/b"
EVERYTHING = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


@pytest.fixture
def aws() -> Iterator[Clients]:
    """The administrator's clients (never restricted), with the boundary made once."""
    install_layers()
    with mock_aws():
        clients = Clients(REGION)
        iam.ensure_boundary(clients("iam"), boundary_arn("aws", ACCOUNT),
                            boundary_policy("aws", "*"), "")
        clients("iam").create_policy(PolicyName="everything",
                                     PolicyDocument=json.dumps(EVERYTHING))
        yield clients


def deployer(stack: str) -> Any:
    return enforce(SHIPPED, principal_tags={TAG_STACK: stack})


def as_role(aws: Clients, role: str) -> Any:
    return enforce(**role_identity(aws("iam"), role))


def spec(group: str, stack: str) -> BackupSpec:
    return BackupSpec.from_props(normalise({"backup_name": f"{group}-backup",
                                            "group_name": group, "retention": 3,
                                            "owner": f"{stack}/{group}-backup"}))


def run(aws: Clients, made: BackupSpec, backup_id: str, n: int, role: str | None = None
        ) -> dict[str, Any]:
    """The deployed runner's n-th hourly run, as its role when given."""
    job = backup.runner_job(made, backup_id, REGION, made_template(aws, made.group_name),
                            owner=made.owner)
    event = {"scheduled_time": (T0 + timedelta(hours=n)).isoformat()}
    with deployed(job), on_time(event):
        if role is None:
            return handler(event)
        with as_role(aws, role) as enforcer:
            summary = handler(event)
        assert enforcer.denied() == [], "the runner's role and boundary refuse its own job"
        return summary


def made_template(aws: Clients, group: str) -> str:
    found = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return str(found["AutoScalingGroups"][0]["LaunchTemplate"]["LaunchTemplateId"])


@pytest.fixture
def stacks(aws: Clients) -> dict[str, Any]:
    """Stack A's backup of `web`, stack B's of `shop`, each made by its own deployer, each
    with an image made by its runner under its real role."""
    out: dict[str, Any] = {}
    for stack, group in ((A, "web"), (B, "shop")):
        made_group: DemoGroup = create_group(aws, group, size=1)
        made = spec(group, stack)
        with deployer(stack) as enforcer:
            outs = backup.create(Clients(REGION), made)
        assert enforcer.denied() == []
        backup_id = outs["backup_id"]
        run(aws, made, backup_id, 0, role=Names(backup_id).runner_role)
        images = backup_images(aws("ec2"), backup_id)
        key = aws("kms").describe_key(KeyId=Names(backup_id).record_key)["KeyMetadata"]["Arn"]
        out[stack] = {"spec": made, "id": backup_id, "group": made_group, "outs": outs,
                      "key": key,
                      "images": [i.image_id for i in images],
                      "snapshots": [s for i in images for s in i.snapshot_ids]}
    return out


def code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


# --- (a) a role with Action:* ---------------------------------------------------------------

def test_a_a_role_without_the_boundary_is_refused(aws):
    with deployer(A) as enforcer, pytest.raises(ClientError) as err:
        Clients(REGION)("iam").create_role(
            RoleName="amibackup-evil", AssumeRolePolicyDocument=TRUST,
            Tags=[{"Key": TAG_STACK, "Value": A}])
    assert code(err) == "AccessDenied"
    assert [d.statement for _, d in enforcer.decisions if not d.allowed] == [
        "DenyRolesWithoutTheBoundary"]
    assert "explicit deny" in str(err.value)


def test_a_a_role_with_action_star_is_capped_by_the_boundary(aws, stacks):
    """The deployer may make `amibackup-evil` (with the boundary) and give it Action:*, pass
    it to a function of its own code: that code can still do only what the boundary lets
    a runner of stack A do."""
    with deployer(A):
        a_iam = Clients(REGION)("iam")
        a_iam.create_role(RoleName="amibackup-evil", AssumeRolePolicyDocument=TRUST,
                          PermissionsBoundary=boundary_arn("aws", ACCOUNT),
                          Tags=[{"Key": TAG_STACK, "Value": A}])
        a_iam.put_role_policy(RoleName="amibackup-evil", PolicyName="all",
                              PolicyDocument=json.dumps(EVERYTHING))
        with pytest.raises(ClientError) as err:  # nor may it lift the cap afterwards
            a_iam.delete_role_permissions_boundary(RoleName="amibackup-evil")
    assert code(err) == "AccessDenied"
    _outside_the_boundary(aws, "amibackup-evil", stacks)


def _boundary_attempts(role: str) -> list[tuple[str, Any]]:
    admin = f"arn:aws:iam::{ACCOUNT}:policy/everything"  # an administrator's policy
    cap = boundary_arn("aws", ACCOUNT)
    return [
        ("swap the role's boundary for another policy", lambda c: c(
            "iam").put_role_permissions_boundary(RoleName=role, PermissionsBoundary=admin)),
        ("remove the role's boundary", lambda c: c("iam").delete_role_permissions_boundary(
            RoleName=role)),
        ("attach a managed policy", lambda c: c("iam").attach_role_policy(
            RoleName=role, PolicyArn=admin)),
        ("rewrite the boundary itself", lambda c: c("iam").create_policy_version(
            PolicyArn=cap, PolicyDocument=json.dumps(EVERYTHING), SetAsDefault=True)),
        ("delete the boundary", lambda c: c("iam").delete_policy(PolicyArn=cap)),
    ]


def test_a_the_boundary_stays_on_and_stays_as_shipped(aws, stacks):
    role = Names(stacks[A]["id"]).runner_role
    for what, call in _boundary_attempts(role):
        with deployer(A) as enforcer, pytest.raises(ClientError) as err:
            call(Clients(REGION))
        assert code(err) == "AccessDenied", what
        assert enforcer.denied(), what
    found = aws("iam").get_role(RoleName=role)["Role"]["PermissionsBoundary"]
    assert found["PermissionsBoundaryArn"] == boundary_arn("aws", ACCOUNT)
    assert aws("iam").list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []


def _outside_the_boundary(aws: Clients, role: str, stacks: dict[str, Any]) -> None:
    golden = stacks[A]["group"].base_image
    attempts = [
        ("make an admin role", lambda c: c("iam").create_role(
            RoleName="admin", AssumeRolePolicyDocument=TRUST)),
        ("give a role Action:*", lambda c: c("iam").put_role_policy(
            RoleName=Names(stacks[B]["id"]).runner_role, PolicyName="x",
            PolicyDocument=json.dumps(EVERYTHING))),
        ("replace another function's code", lambda c: c("lambda").update_function_code(
            FunctionName=Names(stacks[B]["id"]).function, ZipFile=b"x")),
        ("deregister the group's golden image", lambda c: c("ec2").deregister_image(
            ImageId=golden)),
        ("deregister stack B's backup", lambda c: c("ec2").deregister_image(
            ImageId=stacks[B]["images"][0])),
        ("read a secret parameter", lambda c: c("ssm").get_parameter(Name="/prod/db")),
    ]
    for what, call in attempts:
        with as_role(aws, role) as enforcer, pytest.raises(ClientError):
            call(Clients(REGION))
        assert enforcer.denied(), what
    assert {i["ImageId"] for i in aws("ec2").describe_images(
        ImageIds=[golden, stacks[B]["images"][0]])["Images"]} == {golden,
                                                                 stacks[B]["images"][0]}


# --- (b) a live runner's role widened to Action:* -------------------------------------------

def test_b_a_widened_runner_role_stays_within_the_boundary(aws, stacks):
    runner_role = Names(stacks[A]["id"]).runner_role
    with deployer(A):
        Clients(REGION)("iam").put_role_policy(RoleName=runner_role, PolicyName="amibackup",
                                               PolicyDocument=json.dumps(EVERYTHING))
    _outside_the_boundary(aws, runner_role, stacks)
    # and the runner still does its own job under the widened role
    summary = run(aws, stacks[A]["spec"], stacks[A]["id"], 2, role=runner_role)
    assert summary["created"]


def test_the_runner_does_its_whole_job_under_its_role_and_boundary(aws, stacks):
    """The boundary is no obstacle to the runner: the fourth run prunes one (retention 3)."""
    a = stacks[A]
    for n in range(1, 4):
        summary = run(aws, a["spec"], a["id"], n, role=Names(a["id"]).runner_role)
    assert summary["created"] and summary["pruned"]


# --- (c) one stack's deployer against another stack's backup --------------------------------

def _b_attempts(stacks: dict[str, Any]) -> list[tuple[str, Any]]:
    b = stacks[B]
    names = Names(b["id"])
    return [
        ("rewrite B's record", lambda c: c("ssm").put_parameter(
            Name=names.record_parameter, Value="{}", Type="String", Overwrite=True)),
        ("re-tag B's image", lambda c: c("ec2").create_tags(
            Resources=[b["images"][0]], Tags=[{"Key": TAG_RUN, "Value": "99991231T0000Z"}])),
        ("take B's image for A", lambda c: c("ec2").create_tags(
            Resources=[b["images"][0]], Tags=[{"Key": TAG_STACK, "Value": A}])),
        ("deregister B's image", lambda c: c("ec2").deregister_image(ImageId=b["images"][0])),
        ("delete B's snapshot", lambda c: c("ec2").delete_snapshot(
            SnapshotId=b["snapshots"][0])),
        ("replace B's runner code", lambda c: c("lambda").update_function_code(
            FunctionName=names.function, ZipFile=b"x")),
        ("re-tag B's function as A's", lambda c: c("lambda").tag_resource(
            Resource=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{names.function}",
            Tags={TAG_STACK: A})),
        ("open B's record key to A", lambda c: c("kms").put_key_policy(
            KeyId=b["key"], PolicyName="default", Policy=json.dumps({
                "Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*", "Resource": "*"}]}))),
        ("widen B's runner role", lambda c: c("iam").put_role_policy(
            RoleName=names.runner_role, PolicyName="amibackup",
            PolicyDocument=json.dumps(EVERYTHING))),
        ("re-tag B's runner role as A's", lambda c: c("iam").tag_role(
            RoleName=names.runner_role, Tags=[{"Key": TAG_STACK, "Value": A}])),
        ("delete B's runner role", lambda c: c("iam").delete_role_policy(
            RoleName=names.runner_role, PolicyName="amibackup")),
    ]


def test_c_stack_a_cannot_touch_stack_b(aws, stacks):
    for what, call in _b_attempts(stacks):
        with deployer(A) as enforcer, pytest.raises(ClientError) as err:
            call(Clients(REGION))
        assert enforcer.denied(), what
        assert code(err) in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")
    b = stacks[B]
    assert len(backup_images(aws("ec2"), b["id"])) == 1
    assert aws("iam").get_role_policy(RoleName=Names(b["id"]).runner_role,
                                      PolicyName="amibackup")["PolicyDocument"] != EVERYTHING


def test_c_stack_a_still_manages_its_own(aws, stacks):
    """The positive side: A's deployer deletes A's backup, images and all; B's stays."""
    a = stacks[A]
    with deployer(A) as enforcer:
        backup.delete(Clients(REGION), a["id"], a["spec"], a["outs"]["recorded_version"],
                      a["outs"]["launch_template_id"])
    assert enforcer.denied() == []
    assert backup_images(aws("ec2"), a["id"]) == []
    assert len(backup_images(aws("ec2"), stacks[B]["id"])) == 1


def test_plain_moto_lets_every_attack_through(aws, stacks):
    """Without enforcement (plain moto) each of (c)'s and the boundary's calls succeeds."""
    attempts = _b_attempts(stacks) + _boundary_attempts(Names(stacks[A]["id"]).runner_role)
    for what, call in attempts:
        if what in ("delete B's snapshot", "delete the boundary"):
            continue  # in use (by B's image, by roles): refused by the service, not by IAM
        answer = call(Clients(REGION))
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200, what
