"""IAM roles with one inline policy each: made, checked, removed."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from amibackup.provision.errors import ignore_missing

POLICY_NAME = "amibackup"


def create_role(iam: Any, name: str, trust: str, policy: dict[str, Any],
                tags: dict[str, str], description: str) -> str:
    role = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=trust, Description=description[:1000],
        Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])["Role"]
    iam.put_role_policy(RoleName=name, PolicyName=POLICY_NAME,
                        PolicyDocument=json.dumps(policy, sort_keys=True))
    iam.get_waiter("role_exists").wait(RoleName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 15})
    return str(role["Arn"])


def put_policy(iam: Any, name: str, policy: dict[str, Any]) -> None:
    iam.put_role_policy(RoleName=name, PolicyName=POLICY_NAME,
                        PolicyDocument=json.dumps(policy, sort_keys=True))


def delete_role(iam: Any, name: str) -> None:
    """Inline policies first (a role with policies cannot be deleted); missing is fine."""
    names = ignore_missing(lambda: iam.list_role_policies(RoleName=name)["PolicyNames"]) or []
    for policy in names:
        ignore_missing(partial(iam.delete_role_policy, RoleName=name, PolicyName=policy))
    ignore_missing(lambda: iam.delete_role(RoleName=name))


def role_exists(iam: Any, name: str) -> bool:
    return ignore_missing(lambda: iam.get_role(RoleName=name)) is not None


def set_tags(iam: Any, name: str, tags: dict[str, str]) -> None:
    """Make the role's tags exactly `tags` (an update of the resource's `tags`)."""
    current = {t["Key"] for t in iam.list_role_tags(RoleName=name)["Tags"]}
    if stale := sorted(current - set(tags)):
        iam.untag_role(RoleName=name, TagKeys=stale)
    iam.tag_role(RoleName=name, Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])
