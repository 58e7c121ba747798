"""One backup per launch template: a claim parameter, and the groups that share a template.

Two backups of one template would promote over each other's images; a second group on the
template would launch the first group's backups. The claim is an SSM parameter created with
Overwrite=False, so of two creates at once exactly one wins. It holds the backup id and the
owner key of the declaring resource (project/stack/name): a `--replace` of the SAME resource
creates its new backup before deleting the old one, and may take the claim over.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from amibackup import access
from amibackup.access import error_code
from amibackup.names import template_claim_parameter
from amibackup.provision.errors import ProvisionError, ignore_missing


def claim_value(backup_id: str, owner: str | None) -> str:
    return json.dumps({"backup_id": backup_id, "owner": owner or ""}, sort_keys=True)


def holder(ssm: Any, template_id: str) -> dict[str, str] | None:
    """Who claims the template: {"backup_id", "owner"}, or None."""
    found = ignore_missing(lambda: ssm.get_parameter(Name=template_claim_parameter(template_id)))
    if found is None:
        return None
    try:
        value = json.loads(found["Parameter"]["Value"])
    except ValueError:
        value = {}
    return {"backup_id": str(value.get("backup_id", "")), "owner": str(value.get("owner", ""))}


def claim(ssm: Any, template_id: str, backup_id: str, owner: str | None,
          group_name: str = "") -> None:
    """Take the template for `backup_id`, or raise naming the backup that holds it."""
    name = template_claim_parameter(template_id)
    value = claim_value(backup_id, owner)
    try:
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=False,
                          Description="amibackup: the one backup of this launch template")
        return
    except ClientError as err:
        if error_code(err) != "ParameterAlreadyExists":
            raise
    current = holder(ssm, template_id) or {"backup_id": "", "owner": ""}
    if current["backup_id"] == backup_id:
        if owner and current["owner"] != owner:  # the backup moved to another resource
            ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
        return
    if owner and current["owner"] == owner:  # the same resource, replaced: take over
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
        return
    raise ProvisionError(
        f"group_name: launch template {template_id} of group {group_name!r} already has an "
        f"amibackup backup: {current['backup_id']!r} (declared by "
        f"{current['owner'] or 'an unknown program'}); "
        "two backups of one template would promote over each other's images: keep one backup "
        f"per launch template, or give this group its own template (claim: {name})")


def release(ssm: Any, template_id: str, backup_id: str) -> None:
    """Drop the claim if `backup_id` still holds it (a replacement may have taken it)."""
    current = holder(ssm, template_id)
    if current is not None and current["backup_id"] == backup_id:
        ignore_missing(lambda: ssm.delete_parameter(Name=template_claim_parameter(template_id)))


def _templates_of_group(group: dict[str, Any]) -> set[str]:
    """Ids and names of every launch template a group launches, overrides included."""
    found = set()
    mixed = group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {})
    specs = [group.get("LaunchTemplate"), mixed.get("LaunchTemplateSpecification"),
             *(o.get("LaunchTemplateSpecification") for o in mixed.get("Overrides", []))]
    for spec in specs:
        for key in ("LaunchTemplateId", "LaunchTemplateName"):
            if spec and spec.get(key):
                found.add(str(spec[key]))
    return found


def other_groups_on(asg: Any, template: dict[str, str], group_name: str) -> list[str]:
    """Every other group (all pages) that launches the template, by id or name."""
    keys = {v for v in (template.get("LaunchTemplateId"), template.get("LaunchTemplateName"))
            if v}
    others = []
    for page in asg.get_paginator("describe_auto_scaling_groups").paginate():
        for group in page["AutoScalingGroups"]:
            if group["AutoScalingGroupName"] != group_name and keys & _templates_of_group(group):
                others.append(group["AutoScalingGroupName"])
    return sorted(others)


def override_templates(group: dict[str, Any]) -> list[str]:
    """Launch templates that MixedInstancesPolicy overrides name besides the main one."""
    main = access.template_of(group) or {}
    main_keys = {main.get("LaunchTemplateId"), main.get("LaunchTemplateName")} - {None}
    overrides = (group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {})
                 .get("Overrides", []))
    found = []
    for override in overrides:
        spec = override.get("LaunchTemplateSpecification") or {}
        ref = spec.get("LaunchTemplateId") or spec.get("LaunchTemplateName")
        if ref and ref not in main_keys:
            found.append(str(ref))
    return sorted(set(found))


def check_group_alone(asg: Any, group: dict[str, Any], template_id: str,
                      template_name: str) -> None:
    """Refuse overrides with their own template, and a template another group launches."""
    name = group["AutoScalingGroupName"]
    overrides = override_templates(group)
    if overrides:
        raise ProvisionError(
            f"group_name: group {name!r} has MixedInstancesPolicy overrides with their own "
            f"launch template ({', '.join(overrides)}); a backup of the main template's "
            "instances would not fit them (e.g. an arm64 image in an x86 template) and their "
            "template would never be backed up: remove the overrides' launch templates or "
            "back up a group with one template")
    others = other_groups_on(asg, {"LaunchTemplateId": template_id,
                                   "LaunchTemplateName": template_name}, name)
    if others:
        raise ProvisionError(
            f"group_name: launch template {template_id} of group {name!r} is also used by "
            f"group(s) {', '.join(others)}; they would launch {name!r}'s backups: give each "
            "group its own launch template (one backup per template)")
