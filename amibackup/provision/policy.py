"""IAM documents for a backup, built as plain data (tested without AWS).

The runner may only image the group's instances, touch images and snapshots that carry
this backup's tag, change the group's launch template, and hold its own lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from amibackup.names import TAG_BACKUP, Names, template_claim_parameter

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


def deployer_policy(partition: str, account: str, region: str = "*") -> dict[str, Any]:
    """Least privilege for the identity that creates, refreshes and deletes backups.

    Names are scoped to the `amibackup-` prefix; roles may only be passed to Lambda and
    Scheduler; images and snapshots are deleted only when they carry a backup's tag. Launch
    templates are the one account-wide grant: the group's template is known only at create,
    and delete restores it.
    """
    def arn(service: str, resource: str, in_region: bool = True, own: bool = True) -> str:
        return (f"arn:{partition}:{service}:{region if in_region else ''}:"
                f"{account if own else ''}:{resource}")

    roles = arn("iam", f"role/{DEPLOYER_PREFIX}*", in_region=False)
    tagged = {"Null": {f"aws:ResourceTag/{TAG_BACKUP}": "false"}}
    return {"Version": VERSION, "Statement": [
        {"Sid": "ReadState", "Effect": "Allow", "Resource": "*",  # no resource types
         "Action": ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeImages",
                    "ec2:DescribeLaunchTemplateVersions", "scheduler:ListSchedules",
                    # preview counts rules and roles against their quotas (quotas.py)
                    "events:ListRules", "iam:ListRoles",
                    *IMAGE_REFERENCE_READS]},  # teardown asks what uses each image
        {"Sid": "Roles", "Effect": "Allow", "Resource": roles,
         "Action": ["iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:PutRolePolicy",
                    "iam:GetRolePolicy", "iam:DeleteRolePolicy", "iam:ListRolePolicies",
                    "iam:ListRoleTags",
                    "iam:TagRole", "iam:UntagRole"]},
        {"Sid": "PassRolesToRunnerAndSchedule", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": roles,
         "Condition": {"StringEquals": {"iam:PassedToService": ROLE_SERVICES}}},
        {"Sid": "Function", "Effect": "Allow",
         "Resource": arn("lambda", f"function:{DEPLOYER_PREFIX}*"),
         "Action": ["lambda:CreateFunction", "lambda:GetFunction", "lambda:UpdateFunctionCode",
                    "lambda:GetFunctionConfiguration", "lambda:UpdateFunctionConfiguration",
                    "lambda:PutFunctionConcurrency", "lambda:DeleteFunction",
                    "lambda:ListTags", "lambda:TagResource", "lambda:UntagResource"]},
        {"Sid": "Schedule", "Effect": "Allow",
         "Resource": arn("scheduler", f"schedule/default/{DEPLOYER_PREFIX}*"),
         "Action": ["scheduler:CreateSchedule", "scheduler:UpdateSchedule",
                    "scheduler:GetSchedule", "scheduler:DeleteSchedule"]},
        {"Sid": "RunnerLogs", "Effect": "Allow", "Action": "logs:DeleteLogGroup",
         "Resource": arn("logs", f"log-group:/aws/lambda/{DEPLOYER_PREFIX}*")},
        {"Sid": "RunLocksAndTemplateClaims", "Effect": "Allow",
         "Action": ["ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter"],
         "Resource": arn("ssm", "parameter/amibackup/*")},
        {"Sid": "DeleteBackupImages", "Effect": "Allow", "Condition": tagged,
         "Action": ["ec2:DeregisterImage", "ec2:DeleteSnapshot", "ec2:CreateTags"],
         "Resource": [arn("ec2", "image/*", own=False), arn("ec2", "snapshot/*", own=False)]},
        {"Sid": "ImageEventRule", "Effect": "Allow",
         "Resource": arn("events", f"rule/{DEPLOYER_PREFIX}*"),
         "Action": ["events:PutRule", "events:DescribeRule", "events:DeleteRule",
                    "events:PutTargets", "events:RemoveTargets", "events:ListTargetsByRule"]},
        {"Sid": "RuleInvokesFunction", "Effect": "Allow",
         "Resource": arn("lambda", f"function:{DEPLOYER_PREFIX}*"),
         "Action": ["lambda:AddPermission", "lambda:RemovePermission", "lambda:GetPolicy"]},
        {"Sid": "Alarms", "Effect": "Allow",
         "Resource": arn("cloudwatch", f"alarm:{DEPLOYER_PREFIX}*"),
         "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms",
                    "cloudwatch:DeleteAlarms"]},
        # The record's signing key (provision/record_key.py): made, tagged, its policy kept
        # and its deletion scheduled by the deployer, who may verify the record (refresh,
        # teardown) but never sign one: only the key policy's runner role may GenerateMac.
        {"Sid": "RecordKeyCreate", "Effect": "Allow", "Resource": "*",  # no resource yet
         "Action": ["kms:CreateKey", "kms:TagResource"],
         "Condition": {"Null": {f"aws:RequestTag/{TAG_BACKUP}": "false"}}},
        {"Sid": "RecordKeys", "Effect": "Allow", "Resource": arn("kms", "key/*"),
         "Condition": {"Null": {f"aws:ResourceTag/{TAG_BACKUP}": "false"}},
         "Action": ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:VerifyMac",
                    "kms:CreateAlias", "kms:ScheduleKeyDeletion", "kms:TagResource",
                    "kms:ListResourceTags"]},
        {"Sid": "RecordKeyAliases", "Effect": "Allow", "Action": "kms:CreateAlias",
         "Resource": arn("kms", "alias/amibackup/*")},
        {"Sid": "RestoreGroupTemplate", "Effect": "Allow",
         "Action": ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"],
         "Resource": arn("ec2", "launch-template/*")},
    ]}


def deployer_policy_json(partition: str = "aws", account: str = "*", region: str = "*") -> str:
    """The rendering checked in as policies/deployer.json (any account and region)."""
    return json.dumps(deployer_policy(partition, account, region), indent=2) + "\n"
