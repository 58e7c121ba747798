"""What AWS authorizes for one API call: actions, resource ARNs and condition keys.

Each entry follows the Service Authorization Reference ("Actions, resources, and condition
keys for Amazon EC2 / AWS Lambda / IAM / EventBridge Scheduler / Systems Manager / CloudWatch
Logs / Auto Scaling"): the resource types an action lists, the ARN format of each, and the
extra authorizations AWS makes for the same call (CreateImage with tag specifications also
authorizes `ec2:CreateTags` with `ec2:CreateAction`; CreateFunction and CreateSchedule pass
a role, so `iam:PassRole` with `iam:PassedToService`; CreateRole with tags needs
`iam:TagRole`; CreateFunction with tags needs `lambda:TagResource`, and GetFunction of a
tagged function `lambda:ListTags`: Lambda Developer Guide, "Using tags on Lambda functions").

An operation not listed here raises `Unmapped`: extend the table from the reference rather
than letting a call through unchecked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devkit.localaws.iam_policy import Request

# Actions whose only resource type is "*" in the Service Authorization Reference.
STAR_ONLY = frozenset({
    "ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeSnapshots",
    "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions", "ec2:DescribeTags",
    "autoscaling:DescribeAutoScalingGroups", "scheduler:ListSchedules",
    "lambda:ListFunctions", "ssm:DescribeParameters", "events:ListRules", "iam:ListRoles",
    "ec2:DescribeImageReferences",
})
# Needs no permission at all ("GetCallerIdentity": "No permissions are required").
UNAUTHORIZED_OK = frozenset({"sts:GetCallerIdentity"})

EC2_KINDS = {"i": "instance", "ami": "image", "snap": "snapshot", "lt": "launch-template",
             "vol": "volume"}
EC2_SHARED = {"image", "snapshot"}  # ARNs without an account field


class Unmapped(LookupError):
    """The table has no entry for this operation: add one from the reference."""


@dataclass(frozen=True)
class Where:
    """The caller's partition, account and region, and how to read the local AWS's state."""

    partition: str
    account: str
    region: str
    ec2_tags: Callable[[str], dict[str, str]]  # resource id -> its current tags
    template_id: Callable[[str], str]  # launch template name -> its id
    function_tags: Callable[[str], dict[str, str]] = field(default=lambda _arn: {})
    image_snapshots: Callable[[str], list[str]] = field(default=lambda _id: [])
    # any other taggable resource's current tags by ARN (IAM roles, SSM parameters, EventBridge
    # rules, CloudWatch alarms, KMS keys), and a role's permissions boundary ARN by role name
    resource_tags: Callable[[str], dict[str, str]] = field(default=lambda _arn: {})
    role_boundary: Callable[[str], str | None] = field(default=lambda _name: None)
    kms_key: Callable[[str], tuple[str, dict[str, str]]] = field(
        default=lambda key_id: (key_id, {}))  # key id, ARN or alias -> (key ARN, its tags)

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True
            ) -> str:
        return (f"arn:{self.partition}:{service}:{self.region if region else ''}:"
                f"{self.account if account else ''}:{resource}")

    def ec2(self, resource_id: str) -> str:
        kind = EC2_KINDS.get(resource_id.split("-", 1)[0])
        if kind is None:
            raise Unmapped(f"EC2 resource {resource_id!r}: unknown kind, add it to EC2_KINDS")
        return self.arn("ec2", f"{kind}/{resource_id}", account=kind not in EC2_SHARED)


def tag_context(prefix: str, tags: Mapping[str, str]) -> dict[str, list[str]]:
    """`aws:RequestTag/K` (with `aws:TagKeys`) or `aws:ResourceTag/K` keys for `tags`."""
    context = {f"aws:{prefix}/{k}": [v] for k, v in tags.items()}
    if prefix == "RequestTag" and tags:
        context["aws:TagKeys"] = list(tags)
    if prefix == "ResourceTag":
        context.update({f"ec2:ResourceTag/{k}": [v] for k, v in tags.items()})
    return context


def _tags(items: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _spec_tags(params: Mapping[str, Any], kind: str) -> dict[str, str] | None:
    specs = [s for s in params.get("TagSpecifications", []) if s.get("ResourceType") == kind]
    return _tags(specs[0].get("Tags")) if specs else None


def _ec2(op: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    def existing(action: str, resource_id: str, **extra: list[str]) -> Request:
        context = {**tag_context("ResourceTag", where.ec2_tags(resource_id)), **extra}
        return Request(action, where.ec2(resource_id), context)

    if op == "CreateImage":
        made = [existing("ec2:CreateImage", params["InstanceId"])]
        for kind in ("image", "snapshot"):
            tags = _spec_tags(params, kind) or {}
            arn = where.arn("ec2", f"{kind}/*", account=False)
            made.append(Request("ec2:CreateImage", arn, tag_context("RequestTag", tags)))
            if _spec_tags(params, kind) is not None:
                made.append(Request("ec2:CreateTags", arn, {
                    **tag_context("RequestTag", tags), "ec2:CreateAction": ["CreateImage"]}))
        return made
    if op in ("CreateTags", "DeleteTags"):
        request_tags = tag_context("RequestTag", _tags(params.get("Tags")))
        return [existing(f"ec2:{op}", rid, **request_tags) for rid in params["Resources"]]
    if op == "DeregisterImage":
        # DeleteAssociatedSnapshots deletes the image's snapshots too: DeleteSnapshot on each
        # (Service Authorization Reference: DeregisterImage, resource types image, snapshot).
        snapshots = where.image_snapshots(params["ImageId"]) \
            if params.get("DeleteAssociatedSnapshots") else []
        return [existing("ec2:DeregisterImage", params["ImageId"]),
                *(existing("ec2:DeleteSnapshot", snap) for snap in snapshots)]
    if op == "DeleteSnapshot":
        return [existing("ec2:DeleteSnapshot", params["SnapshotId"])]
    if op in ("CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "DeleteLaunchTemplate"):
        template = params.get("LaunchTemplateId") or where.template_id(
            params["LaunchTemplateName"])
        return [existing(f"ec2:{op}", template)]
    raise Unmapped(f"ec2:{op}")


def _function_arn(where: Where, name: str) -> str:
    return name if name.startswith("arn:") else where.arn("lambda", f"function:{name}")


def _role_arn(where: Where, name: str, path: str = "/") -> str:
    return where.arn("iam", f"role{path}{name}", region=False)


def _pass_role(role_arn: str, service: str) -> Request:
    return Request("iam:PassRole", role_arn, {"iam:PassedToService": [service]})


def _lambda(op: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    if op in ("ListTags", "TagResource", "UntagResource"):
        arn = _function_arn(where, params["Resource"])
        return [Request(f"lambda:{op}", arn, tag_context("RequestTag", params.get("Tags", {})))]
    arn = _function_arn(where, params["FunctionName"])
    if op == "CreateFunction":
        tags = dict(params.get("Tags") or {})
        made = [Request("lambda:CreateFunction", arn, tag_context("RequestTag", tags)),
                _pass_role(params["Role"], "lambda.amazonaws.com")]
        if tags:
            made.append(Request("lambda:TagResource", arn, tag_context("RequestTag", tags)))
        return made
    if op == "Invoke":
        return [Request("lambda:InvokeFunction", arn)]
    if op in ("AddPermission", "RemovePermission", "GetPolicy"):
        return [Request(f"lambda:{op}", arn)]
    if op == "GetFunction" and where.function_tags(arn):  # it returns the tags too
        return [Request("lambda:GetFunction", arn), Request("lambda:ListTags", arn)]
    if op in ("GetFunction", "GetFunctionConfiguration", "UpdateFunctionCode",
              "UpdateFunctionConfiguration", "DeleteFunction",
              "PutFunctionConcurrency", "DeleteFunctionConcurrency", "GetFunctionConcurrency"):
        return [Request(f"lambda:{op}", arn)]
    raise Unmapped(f"lambda:{op}")


# IAM actions whose request context carries iam:PermissionsBoundary (Service Authorization
# Reference, IAM): the boundary the request sets, or the one the role has.
SETS_BOUNDARY = {"CreateRole", "PutRolePermissionsBoundary"}
HAS_BOUNDARY = {"PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy",
                "DeleteRolePermissionsBoundary"}
POLICY_OPS = {"CreatePolicy", "GetPolicy", "GetPolicyVersion", "CreatePolicyVersion",
              "DeletePolicy", "DeletePolicyVersion", "SetDefaultPolicyVersion",
              "ListPolicyVersions"}


def _iam(op: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    if op in POLICY_OPS:
        arn = params.get("PolicyArn") or where.arn(
            "iam", f"policy{params.get('Path', '/')}{params['PolicyName']}", region=False)
        tags = tag_context("RequestTag", _tags(params.get("Tags")))
        return [Request(f"iam:{op}", arn, tags if op == "CreatePolicy" else {})]
    if "RoleName" not in params:
        raise Unmapped(f"iam:{op}")
    arn = _role_arn(where, params["RoleName"], params.get("Path", "/"))
    tags = tag_context("RequestTag", _tags(params.get("Tags")))
    boundary: dict[str, list[str]] = {}
    if op in SETS_BOUNDARY and params.get("PermissionsBoundary"):
        boundary = {"iam:PermissionsBoundary": [params["PermissionsBoundary"]]}
    elif op in HAS_BOUNDARY and (current := where.role_boundary(params["RoleName"])):
        boundary = {"iam:PermissionsBoundary": [current]}
    if op in ("AttachRolePolicy", "DetachRolePolicy"):
        boundary["iam:PolicyARN"] = [params["PolicyArn"]]
    if op == "CreateRole":
        made = [Request("iam:CreateRole", arn, {**tags, **boundary})]
        return made + ([Request("iam:TagRole", arn, tags)] if params.get("Tags") else [])
    if op == "UntagRole":
        return [Request("iam:UntagRole", arn, {"aws:TagKeys": list(params["TagKeys"])})]
    if op in ("GetRole", "DeleteRole", "PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy",
              "ListRolePolicies", "ListRoleTags", "TagRole", "ListAttachedRolePolicies",
              "AttachRolePolicy", "DetachRolePolicy", "PutRolePermissionsBoundary",
              "DeleteRolePermissionsBoundary"):
        return [Request(f"iam:{op}", arn, {**tags, **boundary})]
    raise Unmapped(f"iam:{op}")


def _scheduler(op: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    group = params.get("GroupName") or "default"
    arn = where.arn("scheduler", f"schedule/{group}/{params['Name']}")
    if op in ("CreateSchedule", "UpdateSchedule"):
        return [Request(f"scheduler:{op}", arn),
                _pass_role(params["Target"]["RoleArn"], "scheduler.amazonaws.com")]
    if op in ("GetSchedule", "DeleteSchedule"):
        return [Request(f"scheduler:{op}", arn)]
    raise Unmapped(f"scheduler:{op}")


def _ssm(op: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    """PutParameter with Tags also needs ssm:AddTagsToResource (tags go on at creation)."""
    if op == "GetParameters":  # each parameter named is authorized on its own ARN
        return [Request(f"ssm:{op}", where.arn("ssm", f"parameter/{name.lstrip('/')}"))
                for name in params["Names"]]
    if op not in ("PutParameter", "GetParameter", "DeleteParameter"):
        raise Unmapped(f"ssm:{op}")
    arn = where.arn("ssm", f"parameter/{params['Name'].lstrip('/')}")
    tags = tag_context("RequestTag", _tags(params.get("Tags")))
    made = [Request(f"ssm:{op}", arn, tags)]
    if op == "PutParameter" and params.get("Tags"):
        made.append(Request("ssm:AddTagsToResource", arn, tags))
    return made


def _logs(op: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    if op not in ("CreateLogGroup", "DeleteLogGroup", "CreateLogStream", "PutLogEvents"):
        raise Unmapped(f"logs:{op}")
    group = params["logGroupName"]
    stream = f":log-stream:{params['logStreamName']}" if "logStreamName" in params else ""
    return [Request(f"logs:{op}", where.arn("logs", f"log-group:{group}{stream}"))]


def _events(op: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    """Rules on the default bus: `arn:...:events:region:account:rule/name`."""
    if op not in ("PutRule", "DescribeRule", "DeleteRule", "PutTargets", "RemoveTargets",
                  "ListTargetsByRule"):
        raise Unmapped(f"events:{op}")
    name = params.get("Name") or params["Rule"]
    tags = tag_context("RequestTag", _tags(params.get("Tags"))) if op == "PutRule" else {}
    return [Request(f"events:{op}", where.arn("events", f"rule/{name}"), tags)]


def _cloudwatch(op: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    """Alarms: `arn:...:cloudwatch:region:account:alarm:name`, one per named alarm."""
    if op == "PutMetricAlarm":
        names = [params["AlarmName"]]
    elif op in ("DescribeAlarms", "DeleteAlarms") and params.get("AlarmNames"):
        names = list(params["AlarmNames"])
    else:
        raise Unmapped(f"cloudwatch:{op}")
    tags = tag_context("RequestTag", _tags(params.get("Tags"))) if op == "PutMetricAlarm" else {}
    return [Request(f"cloudwatch:{op}", where.arn("cloudwatch", f"alarm:{n}"), tags)
            for n in names]


KMS_ON_KEY = frozenset({"GenerateMac", "VerifyMac", "DescribeKey", "GetKeyPolicy",
                        "PutKeyPolicy", "ScheduleKeyDeletion", "CancelKeyDeletion",
                        "TagResource", "UntagResource", "ListResourceTags"})


def _kms(op: str, params: Mapping[str, Any], where: Where) -> list[Request]:
    """Keys: `arn:...:kms:region:account:key/<id>` (an alias names its key). CreateAlias
    authorizes on the alias and on the key ("Controlling access to aliases")."""
    if op == "CreateKey":
        tags = {t["TagKey"]: t["TagValue"] for t in params.get("Tags", [])}
        made = [Request("kms:CreateKey", "*", tag_context("RequestTag", tags))]
        return made + ([Request("kms:TagResource", "*", tag_context("RequestTag", tags))]
                       if tags else [])
    if op == "CreateAlias":
        key, tags = where.kms_key(params["TargetKeyId"])
        alias = Request("kms:CreateAlias", where.arn("kms", params["AliasName"]))
        return [alias, Request("kms:CreateAlias", key, tag_context("ResourceTag", tags))] \
            if key else [alias]
    if op in KMS_ON_KEY:
        key, tags = where.kms_key(params["KeyId"])  # "": no such key, KMS answers NotFound
        return [Request(f"kms:{op}", key, tag_context("ResourceTag", tags))] if key else []
    raise Unmapped(f"kms:{op}")


SERVICES: dict[str, Callable[[str, Mapping[str, Any], Where], list[Request]]] = {
    "ec2": _ec2, "lambda": _lambda, "iam": _iam, "scheduler": _scheduler, "ssm": _ssm,
    "logs": _logs, "events": _events, "monitoring": _cloudwatch,  # CloudWatch signs as it
    "kms": _kms,
}


# Resource types whose ARN carries aws:ResourceTag (Service Authorization Reference, the
# "Resource types" table of each service): (service, resource prefix after the account).
TAGGED_ARNS = (("iam", "role/"), ("lambda", "function:"), ("ssm", "parameter/"),
               ("events", "rule/"), ("cloudwatch", "alarm:"), ("kms", "key/"))


def _with_resource_tags(request: Request, where: Where) -> Request:
    """An existing resource's tags as aws:ResourceTag keys (absent for one being made)."""
    parts = request.resource.split(":", 5)
    if len(parts) != 6 or any(k.startswith("aws:ResourceTag/") for k in request.context):
        return request
    service, resource = parts[2], parts[5]
    if not any(service == s and resource.startswith(p) for s, p in TAGGED_ARNS):
        return request
    if service == "lambda":
        found = where.function_tags(request.resource)
    else:
        found = where.resource_tags(request.resource)
    if not found:
        return request
    return Request(request.action, request.resource,
                   {**tag_context("ResourceTag", found), **request.context})


def authorizations(service: str, op: str, params: Mapping[str, Any], where: Where
                   ) -> list[Request]:
    """Every authorization AWS makes for `service.op(**params)`; all must be allowed."""
    action = f"{service}:{op}"
    if action in UNAUTHORIZED_OK:
        return []
    if action in STAR_ONLY:
        return [Request(action, "*")]
    if service not in SERVICES:
        raise Unmapped(action)
    return [_with_resource_tags(r, where) for r in SERVICES[service](op, params, where)]
