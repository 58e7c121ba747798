"""Names and tags checked against the constraints in botocore's service models.

AWS validates every request member against its model's `pattern`, `min` and `max` and answers
"N validation error(s) detected: Value 'V' at 'member' failed to satisfy constraint: Member
must satisfy regular expression pattern: P" (IAM: ValidationError; Lambda and Scheduler:
ValidationException). The constraints are read here from botocore's loader, not typed by hand:
for example IAM role names `[\\w+=,.@-]+` up to 64, Lambda function names `[a-zA-Z0-9-_]+`,
and IAM/Lambda tag values `[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`, which refuse `&`, `,` and `'`
although EC2 tags allow them. moto checks none of these. This module covers the IAM and Lambda
calls amibackup makes; scheduler.py applies the same check to Scheduler.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.session
import regex  # botocore's patterns use \p{L}-style classes, which `re` lacks
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaBackend
from moto.iam.exceptions import ValidationError
from moto.iam.models import IAMBackend

from devkit.localaws.layers import Patch


@cache
def _input_shape(service: str, operation: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape


_ASCII_CLASSES = {"w": "a-zA-Z0-9_", "d": "0-9"}


def java_semantics(pattern: str) -> str:
    """The pattern with `\\w` and `\\d` made ASCII, as in AWS's (Java) validators.

    Python's `\\w` also matches letters such as `é`; `\\p{L}` must stay Unicode, so the
    ASCII flag cannot be used instead.
    """
    out, in_class, index = [], False, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            ascii_class = _ASCII_CLASSES.get(escaped)
            if ascii_class is None:
                out.append(char + escaped)
            else:
                out.append(ascii_class if in_class else f"[{ascii_class}]")
            index += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


@cache
def _compiled(pattern: str) -> Any:
    return regex.compile(java_semantics(pattern))


def _label(name: str) -> str:
    """AWS names members in messages in lower camel case (RoleName -> roleName)."""
    return name[:1].lower() + name[1:]


def _check_string(value: str, shape: Any, where: str) -> list[str]:
    meta, found = shape.metadata, []
    prefix = f"Value '{value}' at '{where}' failed to satisfy constraint: Member must"
    if "max" in meta and len(value) > meta["max"]:
        found.append(f"{prefix} have length less than or equal to {meta['max']}")
    if "min" in meta and len(value) < meta["min"]:
        found.append(f"{prefix} have length greater than or equal to {meta['min']}")
    if "pattern" in meta and not _compiled(meta["pattern"]).fullmatch(value):
        found.append(f"{prefix} satisfy regular expression pattern: {meta['pattern']}")
    return found


def _check(value: Any, shape: Any, where: str, query: bool) -> list[str]:
    """Every constraint of `shape` (recursively) that `value` breaks."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "string" and isinstance(value, str):
        return _check_string(value, shape, where)
    found: list[str] = []
    if kind in ("list", "map") and "max" in meta and len(value) > meta["max"]:
        found.append(f"Value '{value}' at '{where}' failed to satisfy constraint: "
                     f"Member must have length less than or equal to {meta['max']}")
    if kind == "list" and isinstance(value, list):
        step = ".member" if query else ""
        for index, element in enumerate(value, start=1):
            found += _check(element, shape.member, f"{where}.{index}{step}", query)
    elif kind == "map" and isinstance(value, dict):
        for key, element in value.items():
            found += _check(key, shape.key, f"{where}.{key}", query)
            found += _check(element, shape.value, f"{where}.{key}", query)
    elif kind == "structure" and isinstance(value, dict):
        for name, element in value.items():
            if name in shape.members and element is not None:
                found += _check(element, shape.members[name], f"{where}.{_label(name)}", query)
    return found


def violations(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """What AWS would refuse in these request members of `operation` (None means absent)."""
    shape = _input_shape(service, operation)
    query = service in ("iam",)
    found: list[str] = []
    for name, value in params.items():
        if value is not None:
            found += _check(value, shape.members[name], _label(name), query)
    return found


def refuse(found: list[str], error: Callable[[str], Exception]) -> None:
    """Raise AWS's validation error listing every violation, if there is any."""
    if found:
        plural = "s" if len(found) > 1 else ""
        raise error(f"{len(found)} validation error{plural} detected: " + "; ".join(found))


def lambda_validation(message: str) -> Exception:
    return LambdaClientError("ValidationException", message)


_plain: dict[str, Callable[..., Any]] = {
    "create_role": IAMBackend.create_role, "tag_role": IAMBackend.tag_role,
    "put_role_policy": IAMBackend.put_role_policy,
    "create_function": LambdaBackend.create_function,
    "tag_resource": LambdaBackend.tag_resource,
}


def create_role(self: IAMBackend, role_name: str, assume_role_policy_document: str,
                path: str, permissions_boundary: str | None, description: str,
                tags: list[dict[str, str]], *args: Any, **kwargs: Any) -> Any:
    refuse(violations("iam", "CreateRole", {
        "RoleName": role_name, "Path": path, "Description": description, "Tags": tags}),
        ValidationError)
    return _plain["create_role"](self, role_name, assume_role_policy_document, path,
                                 permissions_boundary, description, tags, *args, **kwargs)


def tag_role(self: IAMBackend, role_name: str, tags: list[dict[str, str]]) -> None:
    refuse(violations("iam", "TagRole", {"RoleName": role_name, "Tags": tags}),
           ValidationError)
    _plain["tag_role"](self, role_name, tags)


def put_role_policy(self: IAMBackend, role_name: str, policy_name: str,
                    policy_json: str) -> None:
    refuse(violations("iam", "PutRolePolicy", {"RoleName": role_name,
                                               "PolicyName": policy_name}), ValidationError)
    _plain["put_role_policy"](self, role_name, policy_name, policy_json)


def create_function(self: LambdaBackend, spec: dict[str, Any]) -> Any:
    refuse(violations("lambda", "CreateFunction", {
        "FunctionName": spec.get("FunctionName"), "Tags": spec.get("Tags")}),
        lambda_validation)
    return _plain["create_function"](self, spec)


def tag_resource(self: LambdaBackend, resource_arn: str, tags: dict[str, str]) -> None:
    refuse(violations("lambda", "TagResource", {"Tags": tags}), lambda_validation)
    _plain["tag_resource"](self, resource_arn, tags)


def patches() -> list[Patch]:
    return [
        Patch(IAMBackend, "create_role", create_role),
        Patch(IAMBackend, "tag_role", tag_role),
        Patch(IAMBackend, "put_role_policy", put_role_policy),
        Patch(LambdaBackend, "create_function", create_function),
        Patch(LambdaBackend, "tag_resource", tag_resource),
    ]
