"""IAM documents for a backup, built as plain data (tested without AWS).

The runner may only image the group's instances, touch images and snapshots that carry
this backup's tag, change the group's launch template, and hold its own lock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amibackup.names import TAG_BACKUP, TAG_KEPT, TAG_STACK, Names, template_claim_parameter

VERSION = "2012-10-17"


@dataclass(frozen=True)
class Scope:
    """Where a backup lives: every ARN in its policies derives from this."""

    partition: str
    region: str
    account: str
    backup_id: str
    group_name: str
    template_id: str

    @property
    def names(self) -> Names:
        return Names(self.backup_id)

    @property
    def function_name(self) -> str:
        return self.names.function

    def arn(self, service: str, resource: str, account: bool = True) -> str:
        """An ARN in this backup's region; AMIs and snapshots have no account field."""
        return f"arn:{self.partition}:{service}:{self.region}:{self.account if account else ''}" \
            f":{resource}"

    def shared(self, resource: str) -> str:
        """EC2 image and snapshot ARNs: `arn:aws:ec2:region::image/ami-...`."""
        return self.arn("ec2", resource, account=False)

    @property
    def function_arn(self) -> str:
        return self.arn("lambda", f"function:{self.function_name}")

    @property
    def log_group(self) -> str:
        return self.names.log_group

    @property
    def lock_parameter(self) -> str:
        return self.names.lock_parameter


def trust(service: str, account: str) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if service == "scheduler.amazonaws.com":  # confused-deputy guard
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return json.dumps({"Version": VERSION, "Statement": [statement]}, sort_keys=True)


IMAGE_REFERENCE_READS = ("ec2:DescribeImageReferences", "ec2:DescribeLaunchTemplates",
                         "ssm:DescribeParameters", "ssm:GetParameters",
                         "imagebuilder:ListImageRecipes", "imagebuilder:ListContainerRecipes",
                         "imagebuilder:GetContainerRecipe")


def runner_policy(scope: Scope) -> dict[str, Any]:
    ec2 = lambda resource: scope.arn("ec2", resource)
    owned = {"StringEquals": {f"aws:ResourceTag/{TAG_BACKUP}": scope.backup_id}}
    return {"Version": VERSION, "Statement": [
        {"Sid": "ReadState", "Effect": "Allow", "Resource": "*",  # Describe* has no ARNs
         "Action": ["ec2:DescribeImages", "ec2:DescribeInstances",
                    "ec2:DescribeLaunchTemplateVersions",
                    "autoscaling:DescribeAutoScalingGroups",
                    # Before deregistering, AWS is asked what uses each image
                    # (DescribeImageReferences), which reads each resource type with the
                    # caller's own rights on it.
                    *IMAGE_REFERENCE_READS]},
        {"Sid": "ImageGroupInstances", "Effect": "Allow", "Action": "ec2:CreateImage",
         "Resource": ec2("instance/*"),
         "Condition": {"StringEquals": {
             "aws:ResourceTag/aws:autoscaling:groupName": scope.group_name}}},
        {"Sid": "MakeTaggedImages", "Effect": "Allow", "Action": "ec2:CreateImage",
         "Resource": [scope.shared("image/*"), scope.shared("snapshot/*")],
         "Condition": {"StringEquals": {f"aws:RequestTag/{TAG_BACKUP}": scope.backup_id}}},
        {"Sid": "TagOnlyAtCreateImage", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": [scope.shared("image/*"), scope.shared("snapshot/*")],
         "Condition": {"StringEquals": {"ec2:CreateAction": "CreateImage"}}},
        {"Sid": "DeregisterOwnImages", "Effect": "Allow", "Action": "ec2:DeregisterImage",
         "Resource": scope.shared("image/*"), "Condition": owned},
        {"Sid": "DeleteOwnSnapshots", "Effect": "Allow", "Action": "ec2:DeleteSnapshot",
         "Resource": scope.shared("snapshot/*"), "Condition": owned},
        {"Sid": "PromoteOnGroupTemplate", "Effect": "Allow",
         "Action": ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"],
         "Resource": ec2(f"launch-template/{scope.template_id}")},
        {"Sid": "RunLock", "Effect": "Allow",
         "Action": ["ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter"],
         "Resource": scope.arn("ssm", f"parameter{scope.lock_parameter}")},
        {"Sid": "OwnRecord", "Effect": "Allow",
         "Action": ["ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters"],
         "Resource": scope.arn("ssm", f"parameter{scope.names.record_parameter}")},
        {"Sid": "ReadTemplateClaim", "Effect": "Allow",
         "Action": ["ssm:GetParameter", "ssm:GetParameters"],
         "Resource": scope.arn("ssm", f"parameter{template_claim_parameter(scope.template_id)}")},
        {"Sid": "NarrowOwnAmiRule", "Effect": "Allow", "Action": "events:PutRule",
         "Resource": scope.arn("events", f"rule/{scope.names.ami_rule}")},
        {"Sid": "Logs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [scope.arn("logs", f"log-group:{scope.log_group}"),
                      scope.arn("logs", f"log-group:{scope.log_group}:*")]},
    ]}


def scheduler_policy(scope: Scope) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": [
        {"Sid": "InvokeRunner", "Effect": "Allow", "Action": "lambda:InvokeFunction",
         "Resource": [scope.function_arn, f"{scope.function_arn}:*"]},
    ]}


DEPLOYER_PREFIX = "amibackup-"  # every role, function and schedule name a backup makes
ROLE_SERVICES = ["lambda.amazonaws.com", "scheduler.amazonaws.com"]
BOUNDARY_NAME = "amibackup-boundary"  # the managed policy every role amibackup makes carries
# The deployer's own stack, as its identity's tag (IAM User Guide, "Controlling access to IAM
# principals" / ABAC): the shipped policy scopes every write to it; render a literal with
# `tools/render_policies.py --stack project/stack` for an identity that cannot be tagged.
PRINCIPAL_STACK = "${aws:PrincipalTag/" + TAG_STACK + "}"


def boundary_arn(partition: str, account: str) -> str:
    return f"arn:{partition}:iam::{account}:policy/{BOUNDARY_NAME}"


def _arns(partition: str, account: str, region: str
          ) -> Callable[..., str]:
    def arn(service: str, resource: str, in_region: bool = True, own: bool = True) -> str:
        return (f"arn:{partition}:{service}:{region if in_region else ''}:"
                f"{account if own else ''}:{resource}")
    return arn


def _stack_images(stack: str) -> list[dict[str, Any]]:
    """Conditions under which an image or snapshot is this stack's to delete.

    Tagged with the stack; or, made before images carried the stack tag, a backup's image
    (`amibackup:backup` set, `amibackup:stack` absent): such images are not told apart by
    stack (README, threat model).
    """
    return [{"StringEquals": {f"aws:ResourceTag/{TAG_STACK}": stack}},
            {"Null": {f"aws:ResourceTag/{TAG_STACK}": "true",
                      f"aws:ResourceTag/{TAG_BACKUP}": "false"}}]


def boundary_policy(partition: str, account: str, region: str = "*") -> dict[str, Any]:
    """The permissions boundary of every role amibackup makes: the most a runner or a
    schedule may ever do, whatever inline policy its role is given.

    It covers every backup's runner (the runner policy narrows it to one backup), scoped to
    the role's own stack by its `amibackup:stack` tag: images and snapshots are made only
    with that tag and deleted only with it. Nothing in it reaches IAM, Lambda code or
    another service.
    """
    arn = _arns(partition, account, region)
    image, snapshot = arn("ec2", "image/*", own=False), arn("ec2", "snapshot/*", own=False)
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadState", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeSnapshots",
                    "ec2:DescribeLaunchTemplateVersions",
                    "autoscaling:DescribeAutoScalingGroups", *IMAGE_REFERENCE_READS]},
        {"Sid": "ImageGroupInstances", "Effect": "Allow", "Action": "ec2:CreateImage",
         "Resource": arn("ec2", "instance/*"),
         "Condition": {"Null": {"aws:ResourceTag/aws:autoscaling:groupName": "false"}}},
        {"Sid": "MakeStackImages", "Effect": "Allow", "Action": "ec2:CreateImage",
         "Resource": [image, snapshot],
         "Condition": {"StringEquals": {f"aws:RequestTag/{TAG_STACK}": PRINCIPAL_STACK}}},
        {"Sid": "TagOnlyAtCreateImage", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": [image, snapshot],
         "Condition": {"StringEquals": {"ec2:CreateAction": "CreateImage"}}},
    ]
    for n, condition in enumerate(_stack_images(PRINCIPAL_STACK)):
        statements.append({"Sid": f"DeleteStackImages{n or ''}", "Effect": "Allow",
                           "Action": ["ec2:DeregisterImage", "ec2:DeleteSnapshot"],
                           "Resource": [image, snapshot], "Condition": condition})
    statements += [
        {"Sid": "PromoteOnTemplates", "Effect": "Allow",
         "Action": ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"],
         "Resource": arn("ec2", "launch-template/*")},
        {"Sid": "LocksAndRecords", "Effect": "Allow",
         "Action": ["ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters",
                    "ssm:DeleteParameter"],
         "Resource": arn("ssm", "parameter/amibackup/*")},
        {"Sid": "NarrowAmiRules", "Effect": "Allow", "Action": "events:PutRule",
         "Resource": arn("events", f"rule/{DEPLOYER_PREFIX}*")},
        # A record key's policy names its runner role; a boundary still caps what a key
        # policy grants to a role ARN ("Policy evaluation logic"): only the role's own
        # backup's key (its amibackup:backup tag), and only MACs.
        {"Sid": "SignOwnRecord", "Effect": "Allow", "Resource": arn("kms", "key/*"),
         "Action": ["kms:GenerateMac", "kms:VerifyMac", "kms:DescribeKey"],
         "Condition": {"StringEquals": {
             f"aws:ResourceTag/{TAG_BACKUP}": "${aws:PrincipalTag/" + TAG_BACKUP + "}"}}},
        {"Sid": "Logs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [arn("logs", f"log-group:/aws/lambda/{DEPLOYER_PREFIX}*"),
                      arn("logs", f"log-group:/aws/lambda/{DEPLOYER_PREFIX}*:*")]},
        {"Sid": "InvokeRunners", "Effect": "Allow", "Action": "lambda:InvokeFunction",
         "Resource": [arn("lambda", f"function:{DEPLOYER_PREFIX}*"),
                      arn("lambda", f"function:{DEPLOYER_PREFIX}*:*")]},
    ]
    return {"Version": VERSION, "Statement": statements}


def deployer_policy(partition: str, account: str, region: str = "*",
                    stack: str = PRINCIPAL_STACK) -> dict[str, Any]:
    """Least privilege for the identity that creates, refreshes and deletes backups.

    Every role it makes carries the `amibackup-boundary` permissions boundary (no role
    without it, no other, never removed, the boundary itself not editable), so no inline
    policy it writes reaches beyond the boundary. Writes are scoped to one stack: roles,
    the function, images and snapshots only with the `amibackup:stack` tag equal to
    `stack` (the identity's own tag by default). Names are scoped to `amibackup-`; records
    are read and deleted, never written. Reads stay unscoped by tag (a missing resource has
    no tags, and "not found" must stay "not found"). Schedules, the AMI rule, alarms, log
    groups and parameters cannot be tag-scoped here (schedules take no tags; the others
    are scoped by name) and launch templates are account-wide: README, threat model.
    """
    arn = _arns(partition, account, region)
    roles = arn("iam", f"role/{DEPLOYER_PREFIX}*", in_region=False)
    boundary = boundary_arn(partition, account)
    functions = arn("lambda", f"function:{DEPLOYER_PREFIX}*")
    mine = {f"aws:ResourceTag/{TAG_STACK}": stack}
    tags_mine = {f"aws:RequestTag/{TAG_STACK}": stack}
    keeps_stack = {"ForAllValues:StringNotEquals": {"aws:TagKeys": [TAG_STACK]}}
    with_boundary = {"StringLike": {"iam:PermissionsBoundary": boundary}}
    image, snapshot = arn("ec2", "image/*", own=False), arn("ec2", "snapshot/*", own=False)
    parameter = lambda path: arn("ssm", f"parameter/amibackup/{path}")
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadState", "Effect": "Allow", "Resource": "*",  # no resource types
         "Action": ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeImages",
                    "ec2:DescribeLaunchTemplateVersions", "scheduler:ListSchedules",
                    *IMAGE_REFERENCE_READS,  # teardown asks what uses each image
                    # preview counts rules and roles against their quotas (quotas.py)
                    "events:ListRules", "iam:ListRoles"]},
        {"Sid": "ReadBoundary", "Effect": "Allow", "Resource": boundary,
         "Action": ["iam:GetPolicy", "iam:GetPolicyVersion"]},
        {"Sid": "ReadRoles", "Effect": "Allow", "Resource": roles,
         "Action": ["iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies",
                    "iam:ListRoleTags"]},
        {"Sid": "CreateRolesInBoundary", "Effect": "Allow", "Resource": roles,
         "Action": "iam:CreateRole",
         "Condition": {**with_boundary, "StringEquals": tags_mine}},
        {"Sid": "TagRolesOfStack", "Effect": "Allow", "Resource": roles,
         "Action": "iam:TagRole",
         "Condition": {"StringEquals": tags_mine,
                       "StringEqualsIfExists": mine}},  # a new role has no tags yet
        {"Sid": "UntagRolesOfStack", "Effect": "Allow", "Resource": roles,
         "Action": "iam:UntagRole", "Condition": {"StringEquals": mine, **keeps_stack}},
        {"Sid": "RolePoliciesInBoundary", "Effect": "Allow", "Resource": roles,
         "Action": ["iam:PutRolePolicy", "iam:DeleteRolePolicy"],
         "Condition": {**with_boundary, "StringEquals": mine}},
        {"Sid": "DeleteRolesOfStack", "Effect": "Allow", "Resource": roles,
         "Action": "iam:DeleteRole", "Condition": {"StringEquals": mine}},
        {"Sid": "SetBoundaryOnRoles", "Effect": "Allow", "Resource": roles,
         "Action": "iam:PutRolePermissionsBoundary",
         "Condition": {**with_boundary, "StringEqualsIfExists": mine}},
        {"Sid": "PassRolesOfStack", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": roles,
         "Condition": {"StringEquals": {"iam:PassedToService": ROLE_SERVICES, **mine}}},
        {"Sid": "ReadFunctions", "Effect": "Allow", "Resource": functions,
         "Action": ["lambda:GetFunction", "lambda:GetFunctionConfiguration",
                    "lambda:ListTags", "lambda:GetPolicy"]},
        {"Sid": "CreateFunctionsOfStack", "Effect": "Allow", "Resource": functions,
         "Action": "lambda:CreateFunction", "Condition": {"StringEquals": tags_mine}},
        {"Sid": "TagFunctionsOfStack", "Effect": "Allow", "Resource": functions,
         "Action": "lambda:TagResource",
         "Condition": {"StringEquals": tags_mine,
                       "StringEqualsIfExists": mine}},  # a new function has no tags yet
        {"Sid": "FunctionsOfStack", "Effect": "Allow", "Resource": functions,
         "Action": ["lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                    "lambda:PutFunctionConcurrency", "lambda:DeleteFunction",
                    "lambda:AddPermission", "lambda:RemovePermission"],
         "Condition": {"StringEquals": mine}},
        {"Sid": "UntagFunctionsOfStack", "Effect": "Allow", "Resource": functions,
         "Action": "lambda:UntagResource", "Condition": {"StringEquals": mine, **keeps_stack}},
        {"Sid": "Schedule", "Effect": "Allow",
         "Resource": arn("scheduler", f"schedule/default/{DEPLOYER_PREFIX}*"),
         "Action": ["scheduler:CreateSchedule", "scheduler:UpdateSchedule",
                    "scheduler:GetSchedule", "scheduler:DeleteSchedule"]},
        {"Sid": "RunnerLogs", "Effect": "Allow", "Action": "logs:DeleteLogGroup",
         "Resource": arn("logs", f"log-group:/aws/lambda/{DEPLOYER_PREFIX}*")},
        {"Sid": "RunLocksAndTemplateClaims", "Effect": "Allow",
         "Action": ["ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter"],
         "Resource": [parameter("*/lock"), parameter("templates/*")]},
        {"Sid": "ReadAndForgetRecords", "Effect": "Allow",
         "Action": ["ssm:GetParameter", "ssm:DeleteParameter"],
         "Resource": parameter("*/record")},
    ]
    for n, condition in enumerate(_stack_images(stack)):
        statements.append({"Sid": f"DeleteStackImages{n or ''}", "Effect": "Allow",
                           "Action": ["ec2:DeregisterImage", "ec2:DeleteSnapshot"],
                           "Resource": [image, snapshot], "Condition": condition})
    statements += [
        {"Sid": "MarkKeptImagesOfStack", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": [image, snapshot],
         "Condition": {"StringEquals": mine,
                       "ForAllValues:StringEquals": {"aws:TagKeys": [TAG_KEPT]}}},
        {"Sid": "ImageEventRule", "Effect": "Allow",
         "Resource": arn("events", f"rule/{DEPLOYER_PREFIX}*"),
         "Action": ["events:PutRule", "events:DescribeRule", "events:DeleteRule",
                    "events:PutTargets", "events:RemoveTargets", "events:ListTargetsByRule"]},
        {"Sid": "Alarms", "Effect": "Allow",
         "Resource": arn("cloudwatch", f"alarm:{DEPLOYER_PREFIX}*"),
         "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms",
                    "cloudwatch:DeleteAlarms"]},
        # The record's signing key (provision/record_key.py): made, tagged, its policy kept
        # and its deletion scheduled by the deployer, who may verify the record (refresh,
        # teardown) but never sign one: only the key policy's runner role may GenerateMac.
        {"Sid": "RecordKeyCreate", "Effect": "Allow", "Resource": "*",  # no resource yet
         "Action": ["kms:CreateKey", "kms:TagResource"],
         "Condition": {"Null": {f"aws:RequestTag/{TAG_BACKUP}": "false"},
                       "StringEquals": tags_mine}},
        {"Sid": "RecordKeys", "Effect": "Allow", "Resource": arn("kms", "key/*"),
         "Condition": {"Null": {f"aws:ResourceTag/{TAG_BACKUP}": "false"},
                       "StringEquals": mine},  # this stack's keys only
         "Action": ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:VerifyMac",
                    "kms:CreateAlias", "kms:ScheduleKeyDeletion", "kms:TagResource",
                    "kms:ListResourceTags"]},
        {"Sid": "RecordKeyAliases", "Effect": "Allow", "Action": "kms:CreateAlias",
         "Resource": arn("kms", "alias/amibackup/*")},
        {"Sid": "RestoreGroupTemplate", "Effect": "Allow",
         "Action": ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"],
         "Resource": arn("ec2", "launch-template/*")},
        # What no grant above may be combined into: a role without the boundary, a role
        # freed of it, or the boundary itself rewritten.
        {"Sid": "DenyRolesWithoutTheBoundary", "Effect": "Deny", "Resource": "*",
         "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy",
                    "iam:AttachRolePolicy", "iam:DeleteRolePolicy", "iam:DetachRolePolicy"],
         "Condition": {"StringNotLike": {"iam:PermissionsBoundary": boundary}}},
        {"Sid": "DenyBoundaryRemoval", "Effect": "Deny", "Resource": "*",
         "Action": "iam:DeleteRolePermissionsBoundary"},
        {"Sid": "DenyBoundaryEdits", "Effect": "Deny", "Resource": boundary,
         "Action": ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion", "iam:TagPolicy", "iam:UntagPolicy"]},
    ]
    return {"Version": VERSION, "Statement": statements}


def deployer_policy_json(partition: str = "aws", account: str = "*", region: str = "*",
                         stack: str = PRINCIPAL_STACK) -> str:
    """The rendering checked in as policies/deployer.json (any account and region)."""
    return json.dumps(deployer_policy(partition, account, region, stack), indent=2) + "\n"


def boundary_policy_json(partition: str = "aws", account: str = "*", region: str = "*"
                         ) -> str:
    """The rendering checked in as policies/boundary.json."""
    return json.dumps(boundary_policy(partition, account, region), indent=2) + "\n"
