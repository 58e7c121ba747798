"""Least privilege of the IAM documents a backup creates (pure data, no AWS)."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from amibackup.provision.policy import Scope, runner_policy, scheduler_policy, trust
from amibackup.runner.plan import TAG_BACKUP

ACCOUNT = "123456789012"
SCOPE = Scope(partition="aws", region="eu-west-1", account=ACCOUNT,
              backup_id="web-1a2b3c4d", group_name="web", template_id="lt-0123456789abcdef0")
OWNED = {"StringEquals": {f"aws:ResourceTag/{TAG_BACKUP}": SCOPE.backup_id}}
REQUESTED = {"StringEquals": {f"aws:RequestTag/{TAG_BACKUP}": SCOPE.backup_id}}
DESTRUCTIVE = (
    "ec2:DeregisterImage", "ec2:DeleteSnapshot", "ec2:CreateLaunchTemplateVersion",
    "ec2:ModifyLaunchTemplate", "ec2:CreateImage", "ec2:CreateTags", "ssm:PutParameter",
    "ssm:DeleteParameter",
)

Statement = dict[str, Any]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def statements(policy: dict[str, Any]) -> list[Statement]:
    assert policy["Version"] == "2012-10-17"
    return list(policy["Statement"])


def granting(policy: dict[str, Any], action: str) -> list[Statement]:
    return [s for s in statements(policy) if action in as_list(s["Action"])]


def arn_part(arn: str, index: int) -> str:
    return arn.split(":", 5)[index]


POLICIES = {"runner": runner_policy(SCOPE), "scheduler": scheduler_policy(SCOPE)}


@pytest.mark.parametrize("name", POLICIES)
def test_policy_is_json_and_allows_only(name: str) -> None:
    policy = POLICIES[name]
    assert json.loads(json.dumps(policy)) == policy
    for statement in statements(policy):
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert "NotAction" not in statement and "NotResource" not in statement


@pytest.mark.parametrize("name", POLICIES)
def test_no_wildcard_action(name: str) -> None:
    for statement in statements(POLICIES[name]):
        for action in as_list(statement["Action"]):
            service, _, verb = action.partition(":")
            assert service and verb, action
            assert "*" not in action and "?" not in action, action


@pytest.mark.parametrize("name", POLICIES)
def test_resources_are_in_this_account_region_and_partition(name: str) -> None:
    for statement in statements(POLICIES[name]):
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                continue
            assert resource.startswith("arn:aws:"), resource
            assert arn_part(resource, 3) == SCOPE.region, resource
            assert arn_part(resource, 4) in (ACCOUNT, ""), resource


def test_only_star_resource_statement_is_read_only() -> None:
    stars = [s for s in statements(POLICIES["runner"]) if "*" in as_list(s["Resource"])]
    assert len(stars) == 1
    assert as_list(stars[0]["Resource"]) == ["*"]
    for action in as_list(stars[0]["Action"]):
        # Reads only: DescribeImageReferences reads what references an image with the
        # caller's own rights (SSM parameters, Image Builder recipes).
        assert action.split(":", 1)[1].startswith(("Describe", "List", "Get")), action
    assert not [s for s in statements(POLICIES["scheduler"]) if "*" in as_list(s["Resource"])]


@pytest.mark.parametrize("action", DESTRUCTIVE)
def test_destructive_action_is_scoped(action: str) -> None:
    grants = granting(POLICIES["runner"], action)
    assert grants, f"{action} not granted at all"
    for statement in grants:
        resources = as_list(statement["Resource"])
        assert "*" not in resources
        assert all(r.startswith("arn:") and not r.endswith(":*") for r in resources), resources
        if any("image/" in r or "snapshot/" in r for r in resources):
            assert "Condition" in statement, statement


@pytest.mark.parametrize(("action", "kind"), [
    ("ec2:DeregisterImage", "image"), ("ec2:DeleteSnapshot", "snapshot"),
])
def test_deletion_needs_this_backups_tag(action: str, kind: str) -> None:
    [statement] = granting(POLICIES["runner"], action)
    assert statement["Condition"] == OWNED
    assert [r.rsplit(":", 1)[1] for r in as_list(statement["Resource"])] == [f"{kind}/*"]


def test_create_image_on_instances_only_of_the_group() -> None:
    grants = granting(POLICIES["runner"], "ec2:CreateImage")
    on_instances = [s for s in grants if any("instance/" in r for r in as_list(s["Resource"]))]
    assert len(on_instances) == 1
    [statement] = on_instances
    assert as_list(statement["Resource"]) == [f"arn:aws:ec2:eu-west-1:{ACCOUNT}:instance/*"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:ResourceTag/aws:autoscaling:groupName": SCOPE.group_name}}


def test_created_images_and_snapshots_must_carry_this_backups_tag() -> None:
    grants = granting(POLICIES["runner"], "ec2:CreateImage")
    others = [s for s in grants if not any("instance/" in r for r in as_list(s["Resource"]))]
    assert len(others) == 1
    [statement] = others
    kinds = sorted(r.rsplit(":", 1)[1] for r in as_list(statement["Resource"]))
    assert kinds == ["image/*", "snapshot/*"]
    assert statement["Condition"] == REQUESTED


def test_create_tags_only_as_part_of_create_image() -> None:
    [statement] = granting(POLICIES["runner"], "ec2:CreateTags")
    assert statement["Condition"] == {"StringEquals": {"ec2:CreateAction": "CreateImage"}}
    kinds = sorted(r.rsplit(":", 1)[1] for r in as_list(statement["Resource"]))
    assert kinds == ["image/*", "snapshot/*"]


@pytest.mark.parametrize("action", ["ec2:CreateLaunchTemplateVersion",
                                    "ec2:ModifyLaunchTemplate"])
def test_launch_template_actions_only_on_the_groups_template(action: str) -> None:
    [statement] = granting(POLICIES["runner"], action)
    assert as_list(statement["Resource"]) == [
        f"arn:aws:ec2:eu-west-1:{ACCOUNT}:launch-template/{SCOPE.template_id}"]


@pytest.mark.parametrize("action", ["ssm:PutParameter", "ssm:DeleteParameter"])
def test_ssm_writes_only_the_lock_and_the_record(action: str) -> None:
    """The lock, and the record of the backup's images (written, never deleted, by the runner:
    teardown removes it)."""
    resources = [r for s in granting(POLICIES["runner"], action) for r in as_list(s["Resource"])]
    base = f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/amibackup/{SCOPE.backup_id}"
    expected = [f"{base}/lock"] + ([] if action == "ssm:DeleteParameter" else [f"{base}/record"])
    assert resources == expected


def test_ssm_reads_only_the_lock_the_record_and_the_templates_claim() -> None:
    """The runner reads who claims its template (one backup per template), and nothing else."""
    resources = sorted(r for s in granting(POLICIES["runner"], "ssm:GetParameter")
                       for r in as_list(s["Resource"]))
    assert resources == sorted([
        f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/amibackup/{SCOPE.backup_id}/lock",
        f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/amibackup/{SCOPE.backup_id}/record",
        f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/amibackup/templates/{SCOPE.template_id}"])


def test_logs_only_on_the_functions_log_group() -> None:
    for statement in statements(POLICIES["runner"]):
        if any(a.startswith("logs:") for a in as_list(statement["Action"])):
            for resource in as_list(statement["Resource"]):
                assert f":log-group:/aws/lambda/{SCOPE.function_name}" in resource


def test_scheduler_may_only_invoke_the_runner() -> None:
    [statement] = statements(POLICIES["scheduler"])
    assert as_list(statement["Action"]) == ["lambda:InvokeFunction"]
    function = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{SCOPE.function_name}"
    assert sorted(as_list(statement["Resource"])) == [function, f"{function}:*"]


def test_scope_changes_every_arn() -> None:
    other = Scope("aws-cn", "cn-north-1", "210987654321", "db-9", "db", "lt-0fff")
    text = json.dumps(runner_policy(other))
    for value in (SCOPE.account, SCOPE.backup_id, SCOPE.template_id, SCOPE.region,
                  SCOPE.function_name, "arn:aws:"):
        assert value not in text, value


# ------------------------------------------------------- ARN formats AWS actually matches

# From the Service Authorization Reference (the same data parliament ships): EC2 image and
# snapshot ARNs have an EMPTY account field, e.g. arn:aws:ec2:eu-west-1::image/ami-0abc.
ARN_FORMATS = {
    "image": "arn:*:ec2:*::image/*",
    "snapshot": "arn:*:ec2:*::snapshot/*",
    "instance": "arn:*:ec2:*:*:instance/*",
    "launch-template": "arn:*:ec2:*:*:launch-template/*",
}


def test_ec2_resources_use_the_arn_format_aws_matches() -> None:
    for statement in statements(POLICIES["runner"]):
        for resource in as_list(statement["Resource"]):
            if not resource.startswith("arn:aws:ec2:"):
                continue
            kind = resource.split(":", 5)[5].split("/", 1)[0]
            assert fnmatch.fnmatchcase(resource, ARN_FORMATS[kind]), (resource, kind)


# ---------------------------------------------------------------- trust policies


@pytest.mark.parametrize("service", ["lambda.amazonaws.com", "scheduler.amazonaws.com"])
def test_trust_names_the_service(service: str) -> None:
    doc = json.loads(trust(service, ACCOUNT))
    assert doc["Version"] == "2012-10-17"
    [statement] = doc["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": service}
    assert statement["Action"] == "sts:AssumeRole"


def test_scheduler_trust_has_source_account_guard() -> None:
    [statement] = json.loads(trust("scheduler.amazonaws.com", ACCOUNT))["Statement"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_lambda_trust_has_no_foreign_condition() -> None:
    [statement] = json.loads(trust("lambda.amazonaws.com", ACCOUNT))["Statement"]
    assert "Condition" not in statement


# ---------------------------------------------------------------- parliament (IAM linter)


def _split_by_design(policy: dict[str, Any], action: str, required_format: str) -> bool:
    """Another statement of the policy grants `action` on the resource type parliament missed.

    Justification for ignoring those RESOURCE_MISMATCH entries: ec2:CreateImage needs an
    instance, an image and snapshots, and the policy deliberately grants them in separate
    statements so each gets its own condition (the group tag on the instance, the request tag
    on the image/snapshots). Parliament checks one statement at a time and so reports the
    resource types each statement leaves to the other. A required type that NO statement
    covers is still reported.
    """
    for statement in granting(policy, action):
        for resource in as_list(statement["Resource"]):
            if fnmatch.fnmatchcase(resource, required_format):
                return True
    return False


def parliament_findings(policy: dict[str, Any]) -> list[tuple[str, str, Any]]:
    parliament = pytest.importorskip("parliament")
    result = parliament.analyze_policy_string(json.dumps(policy))
    out: list[tuple[str, str, Any]] = []
    for finding in result.findings:
        finding = parliament.enhance_finding(finding)
        if finding.severity not in ("HIGH", "MEDIUM"):
            continue
        if finding.issue == "RESOURCE_MISMATCH":
            detail = [d for d in finding.detail
                      if not _split_by_design(policy, d["action"], d["required_format"])]
            if not detail:
                continue
            out.append((finding.issue, finding.severity, detail))
        else:
            out.append((finding.issue, finding.severity, finding.detail))
    return out


def test_parliament_scheduler_policy_is_clean() -> None:
    assert parliament_findings(POLICIES["scheduler"]) == []


def test_parliament_runner_policy_is_clean() -> None:
    assert parliament_findings(POLICIES["runner"]) == []


def test_parliament_catches_a_broad_policy() -> None:
    """The linter check can fail: a wildcard policy is reported."""
    broad = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ec2:DeleteSnapshot", "Resource": "arn:aws:s3:::bucket"}]}
    assert parliament_findings(broad) != []
