"""The backup's KMS HMAC key: only the runner may sign the record (see runner/record.py).

One key per backup (KeySpec HMAC_256, KeyUsage GENERATE_VERIFY_MAC), found by its alias
`alias/amibackup/<backup>`. Its key policy is the whole of who may use it:

- the runner's role may GenerateMac and VerifyMac (and DescribeKey: a record older than the
  key predates signing), named as the principal, so no IAM policy can add a signer;
- the account may administer the key and VerifyMac through IAM policies (the deployer
  verifies the record at refresh and teardown), but neither GenerateMac (forging a record)
  nor UpdateAlias/DeleteAlias (pointing the alias at a key someone else can sign with).

Whoever may PutKeyPolicy on it can still give themselves GenerateMac: README's threat model
says to restrict that (an SCP). Cost: $1 a month per key, and KMS's request price per call.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from amibackup.names import Names
from amibackup.provision.errors import until_propagated
from amibackup.provision.policy import VERSION, Scope

KEY_SPEC, KEY_USAGE = "HMAC_256", "GENERATE_VERIFY_MAC"
PENDING_DAYS = 7  # the shortest waiting period KMS allows before deleting a key
SIGNER_ACTIONS = ["kms:GenerateMac", "kms:VerifyMac", "kms:DescribeKey"]
ACCOUNT_ACTIONS = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:VerifyMac",
                   "kms:CreateAlias", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
                   "kms:TagResource", "kms:UntagResource", "kms:ListResourceTags"]


def key_policy(scope: Scope, runner_role_arn: str) -> dict[str, Any]:
    root = f"arn:{scope.partition}:iam::{scope.account}:root"
    return {"Version": VERSION, "Statement": [
        {"Sid": "AccountAdministersAndVerifiesNeverSigns", "Effect": "Allow",
         "Principal": {"AWS": root}, "Action": ACCOUNT_ACTIONS, "Resource": "*"},
        {"Sid": "OnlyTheRunnerSigns", "Effect": "Allow",
         "Principal": {"AWS": runner_role_arn}, "Action": SIGNER_ACTIONS, "Resource": "*"},
    ]}


def find_key(kms: Any, names: Names) -> str | None:
    """The key's ARN, by its alias; None when there is none."""
    try:
        return str(kms.describe_key(KeyId=names.record_key)["KeyMetadata"]["Arn"])
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "NotFoundException":
            return None
        raise


def ensure_key(kms: Any, scope: Scope, runner_role_arn: str, tags: dict[str, str]) -> str:
    """The backup's signing key with its policy as wanted; its ARN."""
    names = scope.names
    policy = json.dumps(key_policy(scope, runner_role_arn), sort_keys=True)
    arn = find_key(kms, names)
    if arn is None:
        # A role just made may not be a valid principal yet (IAM propagation).
        made = until_propagated(lambda: kms.create_key(
            Policy=policy, KeySpec=KEY_SPEC, KeyUsage=KEY_USAGE,
            Description=f"amibackup {scope.backup_id}: signs its record (runner only)",
            Tags=[{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())]),
            ("MalformedPolicyDocumentException",), "invalid principals")
        arn = str(made["KeyMetadata"]["Arn"])
        kms.create_alias(AliasName=names.record_key, TargetKeyId=arn)
        return arn
    current = kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]
    if json.loads(current) != json.loads(policy):
        until_propagated(lambda: kms.put_key_policy(KeyId=arn, PolicyName="default",
                                                    Policy=policy),
                         ("MalformedPolicyDocumentException",), "invalid principals")
    return arn


def remove_key(kms: Any, names: Names) -> None:
    """Schedule the key's deletion (KMS's shortest wait); its alias goes with it."""
    arn = find_key(kms, names)
    if arn is None:
        return
    try:
        kms.schedule_key_deletion(KeyId=arn.rpartition("/")[2], PendingWindowInDays=PENDING_DAYS)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "KMSInvalidStateException":
            raise  # already pending deletion: nothing to do
