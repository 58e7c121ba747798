"""The one place that reads and writes EC2 and Auto Scaling for a backup.

The runner's cycle, provisioning, teardown and the CLI all call these functions, so a
group's template reference, a backup's images, promotion and "not found" each mean
one thing. boto3 + standard library only: this module ships in the runner's zip.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from amibackup.names import TAG_BACKUP, template_claim_parameter
from amibackup.runner import plan

# Every "it is not there" answer of the services amibackup calls. A delete that meets one
# has nothing left to do; a lookup that meets one found nothing.
NOT_FOUND = frozenset({
    "NoSuchEntity", "ResourceNotFoundException", "NotFoundException", "ParameterNotFound",
    "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidAMIID.Malformed",
    "InvalidSnapshot.NotFound", "InvalidSnapshotID.NotFound",
    "InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException",
    "InvalidLaunchTemplateId.VersionNotFound", "InvalidLaunchTemplateId.Malformed",
})
FLOATING_VERSIONS = ("$Default", "$Latest")


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def is_not_found(err: ClientError) -> bool:
    return error_code(err) in NOT_FOUND


# ------------------------------------------------------------------ groups and templates

def describe_group(asg: Any, group_name: str) -> dict[str, Any] | None:
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])
    found: list[dict[str, Any]] = groups["AutoScalingGroups"]
    return found[0] if found else None


def template_of(group: dict[str, Any]) -> dict[str, Any] | None:
    """The group's launch template specification, also inside a MixedInstancesPolicy."""
    spec = group.get("LaunchTemplate")
    if spec is None:
        spec = (group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {})
                .get("LaunchTemplateSpecification"))
    return spec


def template_ref(spec: dict[str, Any]) -> dict[str, str]:
    """The keyword that names the template in EC2 calls: its id, else its name."""
    if spec.get("LaunchTemplateId"):
        return {"LaunchTemplateId": spec["LaunchTemplateId"]}
    return {"LaunchTemplateName": spec["LaunchTemplateName"]}


def pinned_version(spec: dict[str, Any]) -> str:
    """The version the group launches: $Default, $Latest or a pinned number."""
    return str(spec.get("Version", "$Default"))


def is_pinned(spec: dict[str, Any]) -> bool:
    """A pinned number never launches a backup the cycle promotes."""
    return pinned_version(spec) not in FLOATING_VERSIONS


def template_versions(ec2: Any, spec: dict[str, Any], versions: list[str]
                      ) -> list[dict[str, Any]]:
    """The named versions, each once (the default is often also the latest).

    `resolve:ssm:` image aliases come back resolved to the AMI id (ResolveAlias), so an
    alias is compared, protected and followed as the image it names today.
    """
    raw = ec2.describe_launch_template_versions(**template_ref(spec), Versions=versions,
                                                ResolveAlias=True)
    unique = {v["VersionNumber"]: v for v in raw["LaunchTemplateVersions"]}
    return list(unique.values())


def template_key(spec: dict[str, Any]) -> str:
    """How instances and claims name a template: its id, else its name."""
    return str(spec.get("LaunchTemplateId") or spec.get("LaunchTemplateName") or "")


def default_version(ec2: Any, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The template's default version; None when the template is gone."""
    try:
        return template_versions(ec2, spec, ["$Default"])[0]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise


def all_template_versions(ec2: Any, spec: dict[str, Any]) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_launch_template_versions").paginate(
        **template_ref(spec))
    return [v for page in pages for v in page["LaunchTemplateVersions"]]


def promote(ec2: Any, spec: dict[str, Any], source: dict[str, Any], image_id: str,
            description: str, make_default: bool = True) -> int:
    """A new template version identical to the `source` version (as described) but for the image.

    A group on `$Default` needs the new version made the default; one on `$Latest` launches
    it as soon as it exists (the default, which the group does not use, is left alone).
    """
    number = new_version(ec2, spec, source, image_id, description)
    if make_default:
        set_default(ec2, spec, number)
    return number


def new_version(ec2: Any, spec: dict[str, Any], source: dict[str, Any], image_id: str,
                description: str) -> int:
    """CreateLaunchTemplateVersion from `source` with only the image changed; its number.

    AWS copies `SourceVersion` and applies only what is sent: the new ImageId. Nothing read
    from a describe call is sent back: AWS's describe answers carry response-only fields
    (e.g. `MetadataOptions.State` on IMDSv2 templates) that a request may not contain.
    """
    created = ec2.create_launch_template_version(
        **template_ref(spec), SourceVersion=str(source["VersionNumber"]),
        VersionDescription=description[:255], LaunchTemplateData={"ImageId": image_id})
    return int(created["LaunchTemplateVersion"]["VersionNumber"])


def set_default(ec2: Any, spec: dict[str, Any], number: int) -> None:
    ec2.modify_launch_template(**template_ref(spec), DefaultVersion=str(number))


def group_instances(ec2: Any, group: dict[str, Any]) -> list[plan.Instance]:
    """The group's members with their EC2 state and image."""
    members = {i["InstanceId"]: i for i in group.get("Instances", [])}
    if not members:
        return []
    pages = ec2.get_paginator("describe_instances").paginate(InstanceIds=list(members))
    return [plan.Instance(raw["InstanceId"], raw.get("ImageId", ""), raw["LaunchTime"],
                          members[raw["InstanceId"]]["LifecycleState"],
                          members[raw["InstanceId"]]["HealthStatus"], raw["State"]["Name"],
                          template_key(members[raw["InstanceId"]].get("LaunchTemplate", {})),
                          raw.get("Architecture"))
            for page in pages for reservation in page["Reservations"]
            for raw in reservation["Instances"]]


# ------------------------------------------------------------------------------ images

def parse_image(raw: dict[str, Any]) -> plan.Image:
    snaps = tuple(m["Ebs"]["SnapshotId"] for m in raw.get("BlockDeviceMappings", [])
                  if m.get("Ebs", {}).get("SnapshotId"))
    created = datetime.fromisoformat(raw["CreationDate"])
    return plan.Image(raw["ImageId"], raw.get("Name", ""), raw["State"], created, snaps,
                      {t["Key"]: t["Value"] for t in raw.get("Tags", [])},
                      raw.get("Architecture"))


def tagged_images(ec2: Any, key: str, value: str) -> list[plan.Image]:
    """Images this account owns whose tag `key` is exactly `value`."""
    pages = ec2.get_paginator("describe_images").paginate(
        Owners=["self"], IncludeDisabled=True, Filters=[{"Name": f"tag:{key}", "Values": [value]}])
    return [parse_image(raw) for page in pages for raw in page["Images"]
            if any(t["Key"] == key and t["Value"] == value for t in raw.get("Tags", []))]


def backup_images(ec2: Any, backup_id: str) -> list[plan.Image]:
    """Images that carry this backup's tag: labels for people (the record decides ownership)."""
    return tagged_images(ec2, TAG_BACKUP, backup_id)


def image_exists(ec2: Any, image_id: str) -> bool:
    """Whether the image can still be launched (or soon can: pending)."""
    return describe_image(ec2, image_id) is not None


class DuplicateName(Exception):
    """CreateImage refused the name: an image of the account holds it (`image`, as described)."""

    def __init__(self, image: dict[str, Any]) -> None:
        super().__init__(f"AMI name {image.get('Name')} is already used by {image.get('ImageId')}")
        self.image = image


def describe_image(ec2: Any, image_id: str) -> plan.Image | None:
    """The image as EC2 describes it; None once it is deregistered (or never existed)."""
    try:
        found = ec2.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise
    image = parse_image(found[0]) if found else None
    return image if image and image.state in ("available", "pending") else None


def claimed_by(ssm: Any, template: str) -> str | None:
    """The backup id that claims the launch template (one backup per template), or None.

    The claim parameter holds JSON with the owner's `backup_id` (plain text: the id).
    """
    try:
        value = ssm.get_parameter(Name=template_claim_parameter(template))["Parameter"]["Value"]
    except ClientError as err:
        if is_not_found(err):
            return None
        raise
    try:
        parsed = json.loads(value)
    except ValueError:
        return str(value).strip() or None
    return str(parsed.get("backup_id")) if isinstance(parsed, dict) else str(parsed)


def create_image(ec2: Any, instance_id: str, name: str, description: str, tags: dict[str, str],
                 no_reboot: bool) -> str:
    """CreateImage with the tags applied atomically.

    A duplicate name raises DuplicateName with the image that holds it: a retry of a
    CreateImage whose answer was lost, or someone else's image. The caller decides which.
    """
    tag_list = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    # Snapshots carry the backup's tag from birth: the runner's DeleteSnapshot permission
    # is conditioned on it, so an untagged snapshot could never be cleaned up.
    specs = [{"ResourceType": rtype, "Tags": tag_list} for rtype in ("image", "snapshot")]
    try:
        response = ec2.create_image(InstanceId=instance_id, Name=name, Description=description,
                                    NoReboot=no_reboot, TagSpecifications=specs)
    except ClientError as err:
        if error_code(err) != "InvalidAMIName.Duplicate":
            raise
        found = ec2.describe_images(Owners=["self"],
                                    Filters=[{"Name": "name", "Values": [name]}])["Images"]
        if not found:
            raise
        raise DuplicateName(found[0]) from None
    return str(response["ImageId"])


def images_by_id(ec2: Any, image_ids: list[str]) -> list[plan.Image]:
    """The listed images of this account that still exist (missing ones are left out).

    Disabled images count (`IncludeDisabled`): AWS leaves them out of DescribeImages unless
    asked, and an image left out is not gone.
    """
    return [parse_image(raw) for raw in described_images(ec2, image_ids)]


def described_images(ec2: Any, image_ids: list[str]) -> list[dict[str, Any]]:
    """The listed images of this account that still exist, as AWS describes them (one call
    per page; none for no ids)."""
    if not image_ids:
        return []
    pages = ec2.get_paginator("describe_images").paginate(
        Owners=["self"], IncludeDisabled=True,
        Filters=[{"Name": "image-id", "Values": image_ids}])
    return [raw for page in pages for raw in page["Images"] if raw["ImageId"] in image_ids]


def gone(ec2: Any, image_ids: list[str]) -> set[str]:
    """Which of these images AWS says are deregistered or never existed (one call each).

    For images a listing left out: only AWS's own "not found" (or a `deregistered` state)
    lets a record forget an image; anything else keeps it.
    """
    found: set[str] = set()
    for image_id in image_ids:
        try:
            images = ec2.describe_images(ImageIds=[image_id], IncludeDisabled=True)["Images"]
        except ClientError as err:
            if is_not_found(err):
                found.add(image_id)
                continue
            raise
        if all(i.get("State") == "deregistered" for i in images):
            found.add(image_id)
    return found


def images_named(ec2: Any, names: list[str]) -> list[dict[str, Any]]:
    """This account's images holding one of `names`, as described (one call)."""
    if not names:
        return []
    return list(ec2.describe_images(Owners=["self"], IncludeDisabled=True,
                                    Filters=[{"Name": "name", "Values": names}])["Images"])


# The resources AWS checks for references to an image (DescribeImageReferences). Instances in
# any state but terminated; launch templates: their newest REFERENCE_DEPTH versions.
REFERENCE_BATCH = 10  # image ids per DescribeImageReferences call (the API's maximum)
REFERENCE_DEPTH = 100
LIVE_INSTANCE_STATES = ("pending", "running", "shutting-down", "stopping", "stopped")
REFERENCE_TYPES = (
    {"ResourceType": "ec2:Instance", "ResourceTypeOptions": [
        {"OptionName": "state-name", "OptionValues": list(LIVE_INSTANCE_STATES)}]},
    {"ResourceType": "ec2:LaunchTemplate", "ResourceTypeOptions": [
        {"OptionName": "version-depth", "OptionValues": [str(REFERENCE_DEPTH)]}]},
    {"ResourceType": "ssm:Parameter"},
    {"ResourceType": "imagebuilder:ImageRecipe"},
    {"ResourceType": "imagebuilder:ContainerRecipe"},
)


def image_references(ec2: Any, image_ids: Collection[str], ignore_templates: Collection[str] = ()
                     ) -> dict[str, list[str]]:
    """Image id -> what references it anywhere in the account and region (ARNs), per AWS.

    One DescribeImageReferences call per 10 images (none for none). `ignore_templates`
    (launch template ids) are left out: the caller checks those itself, version by version
    (the group's own template keeps older backups in its older versions).
    """
    refs: dict[str, list[str]] = {}
    ids = sorted(set(image_ids))
    for start in range(0, len(ids), REFERENCE_BATCH):
        pages = ec2.get_paginator("describe_image_references").paginate(
            ImageIds=ids[start:start + REFERENCE_BATCH], ResourceTypes=list(REFERENCE_TYPES))
        for page in pages:
            for ref in page.get("ImageReferences", []):
                arn = str(ref.get("Arn", ""))
                if any(arn.endswith(f"launch-template/{t}") for t in ignore_templates):
                    continue
                refs.setdefault(str(ref["ImageId"]), []).append(arn)
    return refs


def image_state(ec2: Any, image_id: str) -> str | None:
    """The image's state now (one call, no waiting); None when it is gone."""
    found = images_by_id(ec2, [image_id])
    return found[0].state if found else None


@dataclass(frozen=True)
class Removed:
    """What deleting one image did: its snapshots gone, snapshots left (to retry), and, when
    AWS refused the deregistration, why (the image is kept)."""

    image_id: str
    snapshots: tuple[str, ...]
    warnings: tuple[str, ...]
    left: tuple[str, ...] = ()  # snapshots still there: delete_snapshots() later
    refused: str | None = None  # the deregistration was refused: the image stays

    @property
    def deregistered(self) -> bool:
        return self.refused is None


def delete_image(ec2: Any, image: plan.Image) -> Removed:
    """Deregister with its snapshots (`DeleteAssociatedSnapshots`); report what is left.

    "Not found" is success: a retry, or a second teardown, finishes the job. Any other
    refusal (deregistration protection, a permission, a limit) keeps the image: the caller
    warns and carries on. A snapshot AWS did not delete is returned in `left`.
    """
    try:
        answer = ec2.deregister_image(ImageId=image.image_id, DeleteAssociatedSnapshots=True)
    except ClientError as err:
        if not is_not_found(err):
            reason = f"{error_code(err)}: {err.response.get('Error', {}).get('Message', '')}"
            return Removed(image.image_id, (), (
                f"image {image.image_id} kept: AWS refused to deregister it ({reason})",),
                refused=reason)
        answer = {}
    results = {r["SnapshotId"]: r.get("ReturnCode", "") for r in
               answer.get("DeleteSnapshotResults", [])}
    deleted = tuple(s for s in image.snapshot_ids if results.get(s) == "success")
    left = tuple(s for s in image.snapshot_ids if s not in deleted)
    if not left:
        return Removed(image.image_id, deleted, ())
    more, warnings, still = delete_snapshots(ec2, list(left))
    return Removed(image.image_id, deleted + more, warnings, still)


def delete_snapshots(ec2: Any, snapshot_ids: list[str]
                     ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """DeleteSnapshot each: (deleted or already gone, warnings, still there).

    A snapshot is briefly "in use" after its image is deregistered (InvalidSnapshot.InUse):
    it is left for a later try, never forgotten.
    """
    deleted, warnings, left = [], [], []
    for snap in snapshot_ids:
        try:
            ec2.delete_snapshot(SnapshotId=snap)
            deleted.append(snap)
        except ClientError as err:
            if is_not_found(err):
                deleted.append(snap)
                continue
            left.append(snap)
            warnings.append(f"snapshot {snap} kept for now ({error_code(err)}); "
                            "deleting it is retried")
    return tuple(deleted), tuple(warnings), tuple(left)


# DeleteSnapshot until the snapshot is gone: AWS answers InvalidSnapshot.InUse for a while after
# its image is deregistered. A botocore waiter over DeleteSnapshot itself (no sleep loop).
_SNAPSHOT_GONE = {"version": 2, "waiters": {"SnapshotDeleted": {
    "operation": "DeleteSnapshot", "delay": 5, "maxAttempts": 24,
    "acceptors": [
        {"state": "success", "matcher": "status", "expected": 200},
        {"state": "success", "matcher": "error", "expected": "InvalidSnapshot.NotFound"},
        {"state": "retry", "matcher": "error", "expected": "InvalidSnapshot.InUse"},
    ]}}}


def delete_snapshot_waiting(ec2: Any, snapshot_id: str, delay: int = 5, attempts: int = 24
                            ) -> str | None:
    """Delete a snapshot, retrying while AWS says it is in use; None, or why it is left."""
    from botocore.exceptions import WaiterError
    from botocore.waiter import WaiterModel, create_waiter_with_client

    waiter = create_waiter_with_client("SnapshotDeleted", WaiterModel(_SNAPSHOT_GONE), ec2)
    try:
        waiter.wait(SnapshotId=snapshot_id, WaiterConfig={"Delay": delay,
                                                          "MaxAttempts": attempts})
    except WaiterError as err:
        return f"snapshot {snapshot_id} left: {err.last_response.get('Error', {}).get('Code', err)}"
    return None


# ------------------------------------------------------------------ the AMI event rule

AMI_EVENT_SOURCE, AMI_EVENT_TYPE = "aws.ec2", "EC2 AMI State Change"
AMI_RULE_STATES = ("available", "failed")  # the states the runner acts on
NO_IMAGE = "amibackup:none"  # no AMI event carries this ImageId: the rule matches nothing
MAX_PATTERN_CHARS = 2048  # EventBridge's default quota on an event pattern's size


def ami_event_pattern(image_ids: Iterable[str]) -> dict[str, Any]:
    """The rule's pattern: these images' `available`/`failed` events, nothing else.

    With no image in flight it names an ImageId no event carries, so it matches nothing.
    Ids that would take the pattern past EventBridge's size quota are left out (their
    images are promoted by the next scheduled run instead).
    """
    wanted = sorted(set(image_ids))
    while True:
        pattern = {"source": [AMI_EVENT_SOURCE], "detail-type": [AMI_EVENT_TYPE],
                   "detail": {"ImageId": wanted or [NO_IMAGE], "State": list(AMI_RULE_STATES)}}
        if len(json.dumps(pattern, sort_keys=True)) <= MAX_PATTERN_CHARS or not wanted:
            return pattern
        wanted = wanted[:-1]


def pattern_images(pattern: str | None) -> list[str]:
    """The image ids a rule's pattern (JSON) names; [] for none or a pattern of another kind."""
    try:
        ids = json.loads(pattern or "{}").get("detail", {}).get("ImageId", [])
    except (ValueError, AttributeError):
        return []
    return [i for i in ids if isinstance(i, str) and i != NO_IMAGE]


def ami_rule_request(rule_name: str, backup_id: str, image_ids: Iterable[str] = (),
                     enabled: bool = True) -> dict[str, Any]:
    """PutRule's whole request: AWS replaces every field a PutRule leaves out."""
    return {"Name": rule_name, "EventBusName": "default",
            "State": "ENABLED" if enabled else "DISABLED",
            "EventPattern": json.dumps(ami_event_pattern(image_ids), sort_keys=True),
            "Description": f"amibackup {backup_id}: its images' AMI state changes to its runner"}


def ami_rule_exists(events: Any, rule_name: str) -> bool:
    """Whether the backup's AMI rule exists (DescribeRule; any error but not-found raises)."""
    try:
        events.describe_rule(Name=rule_name)
    except ClientError as err:
        if is_not_found(err):
            return False
        raise
    return True


def narrow_ami_rule(events: Any, rule_name: str, backup_id: str, image_ids: Iterable[str],
                    enabled: bool = True) -> str:
    """Point the backup's own rule at the images it has in flight; the rule's ARN."""
    answer = events.put_rule(**ami_rule_request(rule_name, backup_id, image_ids, enabled))
    return str(answer["RuleArn"])
