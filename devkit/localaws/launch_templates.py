"""Launch template versions as AWS makes and describes them.

Three AWS rules moto lacks:

1. `CreateLaunchTemplateVersion` with `SourceVersion` bases the new version on the source
   version: "the new version will have the same launch template data as the source version,
   except for the parameters that you specify in LaunchTemplateData" (EC2 API Reference,
   CreateLaunchTemplateVersion, SourceVersion). Parameters are top-level keys of the data: a
   key given in the request replaces the source's whole value (a new `MetadataOptions` is not
   merged into the old one). moto ignores `SourceVersion` and keeps only the request's data.
2. Describe answers carry response-only fields. `DescribeLaunchTemplateVersions` and
   `CreateLaunchTemplateVersion` return `ResponseLaunchTemplateData`, which has members that
   the request shape `RequestLaunchTemplateData` lacks (for example `MetadataOptions.State`).
   Sending such an answer back as LaunchTemplateData is refused by botocore ("Unknown
   parameter"). moto echoes the request's data, so that failure never shows; this layer adds
   every response-only member, derived from botocore's EC2 service model.
3. `DescribeLaunchTemplateVersions` with `ResolveAlias=true` answers a `resolve:ssm:` ImageId
   with the AMI id the parameter holds. moto ignores ResolveAlias.
"""

from __future__ import annotations

import contextvars
import copy
from functools import cache
from typing import Any

import botocore.session
from moto.core.responses import ActionResult
from moto.ec2.models.launch_templates import LaunchTemplate, LaunchTemplateVersion
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.ssm.models import ssm_backends

from devkit.localaws.layers import Patch

ALIAS_PREFIX = "resolve:ssm:"  # an ImageId that names an SSM parameter holding the AMI id
Path = tuple[str, ...]  # member names; "[]" steps into every element of a list

# Realistic values for response-only members, where the shape's type alone would mislead.
# MetadataOptions.State: "applied" once the options are in effect (ResponseLaunchTemplateData,
# LaunchTemplateInstanceMetadataOptions.State). Checked against the derived paths by a test.
REALISTIC_VALUES: dict[Path, Any] = {
    ("MetadataOptions", "State"): "applied",
    ("NetworkInterfaces", "[]", "Ipv6Addresses", "[]", "IsPrimaryIpv6"): False,
    ("Operator", "Managed"): False,
    ("Operator", "HiddenByDefault"): False,
}

_source_data: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "source_data", default=None)
_plain_create_version = LaunchTemplate.create_version
_plain_create_version_response = LaunchTemplates.create_launch_template_version
_plain_describe_versions = LaunchTemplates.describe_launch_template_versions


def _response_only(response: Any, request: Any, path: Path) -> list[tuple[Path, Any]]:
    """Paths (and shapes) of members in `response` that `request` lacks, recursively."""
    if response.type_name == "list":
        if request is None or request.type_name != "list":
            return []
        return _response_only(response.member, request.member, (*path, "[]"))
    if response.type_name != "structure":
        return []
    found: list[tuple[Path, Any]] = []
    for name, member in response.members.items():
        request_members = request.members if request is not None else {}
        if name not in request_members:
            found.append(((*path, name), member))
        else:
            found.extend(_response_only(member, request_members[name], (*path, name)))
    return found


@cache
def response_only_fields() -> dict[Path, Any]:
    """Each response-only member of launch template data, with the value this layer gives it."""
    model = botocore.session.get_session().get_service_model("ec2")
    fields = _response_only(model.shape_for("ResponseLaunchTemplateData"),
                            model.shape_for("RequestLaunchTemplateData"), ())
    return {path: REALISTIC_VALUES.get(path, _typed_default(shape)) for path, shape in fields}


def _typed_default(shape: Any) -> Any:
    """A plain value of the shape's type, for a member REALISTIC_VALUES does not name."""
    if shape.type_name == "string":
        return shape.enum[0] if shape.enum else ""
    return {"boolean": False, "integer": 0, "long": 0, "structure": {}, "list": []}.get(
        shape.type_name)


def _set_path(data: Any, path: Path, value: Any) -> None:
    """Set `value` at `path` inside `data`, only where the parent already exists."""
    head, rest = path[0], path[1:]
    if head == "[]":
        for element in data if isinstance(data, list) else []:
            _set_path(element, rest, value)
    elif not rest:
        if isinstance(data, dict):
            data.setdefault(head, value)
    elif isinstance(data, dict) and head in data:
        _set_path(data[head], rest, value)


def as_described(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of stored request data, as AWS describes it (with response-only members)."""
    described = copy.deepcopy(data)
    for path, value in response_only_fields().items():
        if path[:-1]:
            _set_path(described, path, value)
    return described


def _describe_result(result: ActionResult, key: str) -> ActionResult:
    """Rewrite every LaunchTemplateData of a result as AWS describes it."""
    body = dict(result.result)  # type: ignore[call-overload]
    versions = body[key] if isinstance(body[key], list) else [body[key]]
    rewritten = [{**v, "LaunchTemplateData": as_described(v["LaunchTemplateData"])}
                 for v in versions]
    body[key] = rewritten if isinstance(body[key], list) else rewritten[0]
    return ActionResult(body)


def create_version(self: LaunchTemplate, data: dict[str, Any],
                   description: str) -> LaunchTemplateVersion:
    """Base the new version on the source version's data when the request names one."""
    source = _source_data.get()
    if source is not None:
        data = {**copy.deepcopy(source), **data}
    return _plain_create_version(self, data, description)


def create_launch_template_version(self: LaunchTemplates) -> ActionResult:
    """Resolve SourceVersion (AWS refuses an unknown one), then create and describe."""
    source_version = self._get_param("SourceVersion")
    source = None
    if source_version is not None:
        name = self._get_param("LaunchTemplateName")
        template_id = self._get_param("LaunchTemplateId")
        template = (self.ec2_backend.get_launch_template(template_id) if template_id
                    else self.ec2_backend.get_launch_template_by_name(name))
        source = template.get_version(source_version).data
    token = _source_data.set(source)
    try:
        result = _plain_create_version_response(self)
    finally:
        _source_data.reset(token)
    return _describe_result(result, "LaunchTemplateVersion")


def describe_launch_template_versions(self: LaunchTemplates) -> ActionResult:
    """moto's answer, with the response-only members AWS adds (and aliases resolved if asked)."""
    result = _describe_result(_plain_describe_versions(self), "LaunchTemplateVersions")
    if str(self._get_param("ResolveAlias", "false")).lower() != "true":
        return result
    body = dict(result.result)  # type: ignore[call-overload]
    body["LaunchTemplateVersions"] = [
        {**v, "LaunchTemplateData": resolve_alias(v["LaunchTemplateData"],
                                                  self.current_account, self.region)}
        for v in body["LaunchTemplateVersions"]]
    return ActionResult(body)


def resolve_alias(data: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    """`ImageId: resolve:ssm:<parameter>[:<version or label>]` as the parameter's AMI id.

    AWS (DescribeLaunchTemplateVersions, ResolveAlias): "If true, and if a Systems Manager
    parameter is specified for ImageId, the AMI ID is displayed in the response for imageId."
    A `:<version>` or `:<label>` suffix selects that version, as in AWS.
    """
    image = str(data.get("ImageId", ""))
    if not image.startswith(ALIAS_PREFIX):
        return data
    parameter = ssm_backends[account][region].get_parameter(image[len(ALIAS_PREFIX):])
    return {**data, "ImageId": parameter.value} if parameter is not None else data


def patches() -> list[Patch]:
    return [
        Patch(LaunchTemplate, "create_version", create_version),
        Patch(LaunchTemplates, "create_launch_template_version", create_launch_template_version),
        Patch(LaunchTemplates, "describe_launch_template_versions",
              describe_launch_template_versions),
    ]
