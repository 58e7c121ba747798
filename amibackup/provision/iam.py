"""IAM roles with one inline policy each: made, checked, removed."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from amibackup.provision.errors import ProvisionError, ignore_missing

POLICY_NAME = "amibackup"


def create_role(iam: Any, name: str, trust: str, policy: dict[str, Any],
                tags: dict[str, str], description: str, boundary: str) -> str:
    """A role capped by the permissions boundary `boundary` (an ARN), with its policy."""
    role = iam.create_role(
        RoleName=name, AssumeRolePolicyDocument=trust, Description=description[:1000],
        PermissionsBoundary=boundary,
        Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])["Role"]
    iam.put_role_policy(RoleName=name, PolicyName=POLICY_NAME,
                        PolicyDocument=json.dumps(policy, sort_keys=True))
    iam.get_waiter("role_exists").wait(RoleName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 15})
    return str(role["Arn"])


def put_policy(iam: Any, name: str, policy: dict[str, Any]) -> None:
    iam.put_role_policy(RoleName=name, PolicyName=POLICY_NAME,
                        PolicyDocument=json.dumps(policy, sort_keys=True))


def delete_role(iam: Any, name: str) -> None:
    """Inline policies first (a role with policies cannot be deleted); missing is fine.

    Asked first: a deployer scoped by the role's tags is refused, not told "not found", for
    a role that does not exist (it has no tags to match).
    """
    if not role_exists(iam, name):
        return
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


def ensure_boundary_on(iam: Any, role: dict[str, Any], boundary: str) -> None:
    """An existing role (`GetRole`'s Role; made before roles carried it) gets the boundary."""
    name = role["RoleName"]
    if (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn") != boundary:
        iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=boundary)


def boundary_document(iam: Any, arn: str) -> dict[str, Any] | None:
    """The boundary policy's default version; None when the policy does not exist."""
    found = ignore_missing(lambda: iam.get_policy(PolicyArn=arn))
    if found is None:
        return None
    version = iam.get_policy_version(PolicyArn=arn,
                                     VersionId=found["Policy"]["DefaultVersionId"])
    document = version["PolicyVersion"]["Document"]
    return dict(json.loads(document) if isinstance(document, str) else document)


def ensure_boundary(iam: Any, arn: str, wanted: dict[str, Any], description: str) -> str | None:
    """Make the boundary policy if the account has none; a warning when it differs.

    Made once per account (by whoever first deploys with the right to: an administrator);
    the deployer policy may neither make nor change it. Returns a warning or None.
    """
    found = boundary_document(iam, arn)
    if found is None:
        name = arn.rsplit("/", 1)[1]
        try:
            iam.create_policy(PolicyName=name, Description=description,
                              PolicyDocument=json.dumps(wanted, sort_keys=True))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("AccessDenied",
                                                             "AccessDeniedException"):
                raise ProvisionError(
                    f"the permissions boundary {arn} does not exist and this identity may "
                    "not create it: an administrator creates it once per account (README, "
                    "'Deployer policy'): aws iam create-policy --policy-name "
                    f"{name} --policy-document file://policies/boundary.json") from err
            raise
        return None
    if found != wanted:
        return (f"the permissions boundary {arn} differs from this version's "
                "policies/boundary.json: runs may be refused what the boundary lacks; "
                "an administrator updates it (README, 'Deployer policy')")
    return None
