"""IAM enforced on the local AWS: calls made inside `enforce(policy)` must be allowed by it.

moto enforces nothing by default, and its optional enforcement compares EC2 calls against
resource `*`, so resource-scoped statements never match. Here every botocore client made
inside the block (in-process `mock_aws` or a moto server alike, also the clients that
`amibackup.runner.handler.handler` makes for itself) checks each call before it is sent:
the authorizations `iam_requests` derives from the Service Authorization Reference are
evaluated against the policy with `iam_policy`, current resource tags read from the local
AWS. A denied call raises the ClientError AWS answers: `UnauthorizedOperation` from EC2,
`AccessDenied` from the query-protocol services (IAM, STS, Auto Scaling) and
`AccessDeniedException` from the JSON ones (Lambda, Scheduler, SSM, Logs).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from amibackup.runner.clients import forget_shared
from devkit.localaws import kms_policy
from devkit.localaws.iam_policy import Decision, Request, evaluate_bounded
from devkit.localaws.iam_requests import Unmapped, Where, authorizations

_LOOKUP_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"})
_active = threading.Lock()


@dataclass
class Enforcer:
    """The policy in force and what it decided, for tests to inspect."""

    policy: Mapping[str, Any]
    principal: str
    access_key_id: str | None = None
    decisions: list[tuple[Request, Decision]] = field(default_factory=list)
    recording: str | None = None  # a file each decision is appended to, one JSON line each
    boundary: Mapping[str, Any] | None = None  # the identity's permissions boundary
    principal_tags: Mapping[str, str] = field(default_factory=dict)  # aws:PrincipalTag/K

    def judge(self, request: Request) -> tuple[Request, Decision]:
        """The request with the principal's context keys, and what AWS decides for it."""
        if self.principal_tags:
            request = Request(request.action, request.resource, {
                **{f"aws:PrincipalTag/{k}": [v] for k, v in self.principal_tags.items()},
                **request.context})
        return request, evaluate_bounded(self.policy, request, self.boundary)

    def decide(self, call: str, request: Request, decision: Decision) -> None:
        self.decisions.append((request, decision))
        if self.recording is not None:
            line = {"call": call, "action": request.action, "resource": request.resource,
                    "effect": decision.effect, "statement": decision.statement}
            with open(self.recording, "a", encoding="utf-8") as out:
                out.write(json.dumps(line, sort_keys=True) + "\n")

    def unmapped(self, call: str, error: Unmapped) -> None:
        """A call the table cannot authorize: recorded, then raised (never let through)."""
        if self.recording is not None:
            with open(self.recording, "a", encoding="utf-8") as out:
                out.write(json.dumps({"call": call, "unmapped": str(error)}) + "\n")

    def denied(self) -> list[Request]:
        return [r for r, d in self.decisions if not d.allowed]

    def used_statements(self) -> set[str]:
        return {str(d.statement) for _, d in self.decisions if d.allowed}


def error_code(service: str, protocol: str) -> str:
    if service == "ec2":
        return "UnauthorizedOperation"
    return "AccessDenied" if protocol == "query" else "AccessDeniedException"


def denial_message(principal: str, request: Request, decision: Decision) -> str:
    """AWS's wording, which names the action, the resource and why."""
    if decision.effect == "ExplicitDeny":
        why = "with an explicit deny in " + (
            "a permissions boundary" if str(decision.statement).startswith("boundary")
            else "an identity-based policy")
    elif decision.statement == "boundary":
        why = f"because no permissions boundary allows the {request.action} action"
    else:
        why = f"because no identity-based policy allows the {request.action} action"
    return (f"User: {principal} is not authorized to perform: {request.action} on resource: "
            f"{request.resource} {why}")


class _Lookups:
    """Unenforced reads of the local AWS through the same session and endpoint."""

    def __init__(self, create: Any, session: Any, client: Any) -> None:
        self._create, self._session, self._client = create, session, client
        self._made: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._made:
            endpoint = self._client.meta.endpoint_url \
                if service == self._client.meta.service_model.service_name else None
            self._made[service] = self._create(
                self._session, service, region_name=self._client.meta.region_name,
                endpoint_url=endpoint, config=_LOOKUP_CONFIG)
        return self._made[service]

    def ec2_tags(self, resource_id: str) -> dict[str, str]:
        found = self.client("ec2").describe_tags(
            Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
        return {t["Key"]: t["Value"] for t in found}

    def template_id(self, name: str) -> str:
        try:
            found = self.client("ec2").describe_launch_templates(LaunchTemplateNames=[name])
        except ClientError:
            return f"lt-unknown-{name}"
        return str(found["LaunchTemplates"][0]["LaunchTemplateId"])

    def function_tags(self, arn: str) -> dict[str, str]:
        try:
            return dict(self.client("lambda").list_tags(Resource=arn).get("Tags", {}))
        except ClientError:
            return {}  # no such function: Lambda answers that, not IAM

    def resource_tags(self, arn: str) -> dict[str, str]:
        """Current tags of an IAM role, SSM parameter, EventBridge rule, alarm or KMS key."""
        service, resource = arn.split(":")[2], arn.split(":", 5)[5]
        try:
            if service == "iam":
                found = self.client("iam").list_role_tags(
                    RoleName=resource.rsplit("/", 1)[1])["Tags"]
            elif service == "ssm":
                found = self.client("ssm").list_tags_for_resource(
                    ResourceType="Parameter",
                    ResourceId="/" + resource.removeprefix("parameter/"))["TagList"]
            elif service in ("events", "cloudwatch"):
                found = self.client(service).list_tags_for_resource(ResourceARN=arn)["Tags"]
            elif service == "kms":
                found = [{"Key": t["TagKey"], "Value": t["TagValue"]} for t in self.client(
                    "kms").list_resource_tags(KeyId=arn)["Tags"]]
            else:
                return {}
        except ClientError:
            return {}  # no such resource (yet): AWS has no resource tags to compare
        return {t["Key"]: t["Value"] for t in found}

    def role_boundary(self, name: str) -> str | None:
        try:
            role = self.client("iam").get_role(RoleName=name)["Role"]
        except ClientError:
            return None
        boundary = role.get("PermissionsBoundary") or {}
        return boundary.get("PermissionsBoundaryArn")

    def image_snapshots(self, image_id: str) -> list[str]:
        try:
            found = self.client("ec2").describe_images(ImageIds=[image_id],
                                                       IncludeDisabled=True)["Images"]
        except ClientError:
            return []
        return [m["Ebs"]["SnapshotId"] for i in found for m in i.get("BlockDeviceMappings", [])
                if m.get("Ebs", {}).get("SnapshotId")]

    def kms_key(self, key_id: str) -> tuple[str, dict[str, str]]:
        try:
            arn = str(self.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])
            tags = self.client("kms").list_resource_tags(KeyId=arn.rpartition("/")[2])["Tags"]
        except ClientError:
            return "", {}  # no such key: KMS answers that, not IAM
        return arn, {t["TagKey"]: t["TagValue"] for t in tags}

    def key_policy(self, arn: str) -> dict[str, Any]:
        policy = self.client("kms").get_key_policy(KeyId=arn.rpartition("/")[2],
                                                   PolicyName="default")["Policy"]
        return dict(json.loads(policy))

    def where(self) -> Where:
        arn = self.client("sts").get_caller_identity()["Arn"]
        partition, account = arn.split(":")[1], arn.split(":")[4]
        return Where(partition, account, self._client.meta.region_name, self.ec2_tags,
                     self.template_id, self.function_tags, self.image_snapshots,
                     self.resource_tags, self.role_boundary, self.kms_key)


def _access_key(session: Any) -> str | None:
    credentials = session.get_credentials()
    return credentials.access_key if credentials is not None else None


def _checker(enforcer: Enforcer, client: Any, lookups: _Lookups) -> Any:
    service_model = client.meta.service_model
    service = service_model.service_name
    prefix = service_model.signing_name if service != "ec2" else "ec2"
    where: list[Where] = []

    def check(params: Mapping[str, Any], model: Any, **_: Any) -> None:
        if not where:
            where.append(lookups.where())
        call = f"{prefix}:{model.name}"
        try:
            requests = authorizations(prefix, model.name, params, where[0])
        except Unmapped as err:
            enforcer.unmapped(call, err)
            raise
        for asked in requests:
            request, decision = enforcer.judge(asked)
            if request.action.startswith("kms:") and ":key/" in request.resource:
                decision = kms_policy.decide(lookups.key_policy(request.resource), decision,
                                             enforcer.principal, where[0].account, request)
            enforcer.decide(call, request, decision)
            if decision.allowed:
                continue
            code = error_code(service, service_model.protocol)
            response = {"Error": {"Code": code, "Message": denial_message(
                enforcer.principal, request, decision)},
                "ResponseMetadata": {"HTTPStatusCode": 403}}
            raise client.exceptions.from_code(code)(response, model.name)

    return check


@contextmanager
def enforce(policy: Mapping[str, Any], principal: str = "arn:aws:sts::123456789012:"
            "assumed-role/amibackup-enforced/local", access_key_id: str | None = None,
            recording: str | None = None, boundary: Mapping[str, Any] | None = None,
            principal_tags: Mapping[str, str] | None = None) -> Iterator[Enforcer]:
    """Check every call of every client made in the block against `policy`.

    With `access_key_id`, only clients signing with that key are checked (a second identity
    in the same test stays unrestricted). Clients made before the block are not checked.
    With `recording`, every decision is also appended to that file (a provider process
    enforced by `devkit.localaws.enforced_provider` reports its calls so).
    """
    if not _active.acquire(blocking=False):
        raise RuntimeError("enforce() is already active; nest identities with access_key_id")
    enforcer = Enforcer(policy, principal, access_key_id, recording=recording,
                        boundary=boundary, principal_tags=dict(principal_tags or {}))
    original = botocore.session.Session.create_client
    # The runner keeps its clients across invocations (a warm Lambda); clients made before
    # the block would escape the check, so the block starts cold and leaves cold.
    forget_shared()

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = original(self, service_name, *args, **kwargs)
        key = kwargs.get("aws_access_key_id") or _access_key(self)
        if access_key_id is None or key == access_key_id:
            lookups = _Lookups(original, self, client)
            client.meta.events.register("before-parameter-build",
                                        _checker(enforcer, client, lookups))
        return client

    botocore.session.Session.create_client = create_client
    try:
        yield enforcer
    finally:
        botocore.session.Session.create_client = original
        forget_shared()
        _active.release()


def role_identity(iam: Any, role_name: str) -> dict[str, Any]:
    """What AWS evaluates for a session of `role_name`, read from the local IAM now.

    Keyword arguments for `enforce`: the role's inline policies as one policy, its
    permissions boundary's default version (or None) and its tags as principal tags.
    """
    role = iam.get_role(RoleName=role_name)["Role"]
    statements: list[Any] = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        found = document["Statement"]
        statements.extend([found] if isinstance(found, Mapping) else found)
    boundary = None
    if arn := (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"):
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)[
            "PolicyVersion"]["Document"]
        boundary = json.loads(document) if isinstance(document, str) else document
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role_name)["Tags"]}
    session = role["Arn"].replace(":iam:", ":sts:").replace(":role/", ":assumed-role/")
    return {"policy": {"Version": "2012-10-17", "Statement": statements},
            "boundary": boundary, "principal_tags": tags, "principal": f"{session}/local"}
