"""Removing a backup's images safely: point the group elsewhere first, then deregister.

Deregistration and snapshot deletion run in parallel (boto3 clients are thread-safe),
so a backup with hundreds of leftover images goes in a fraction of the time a
one-at-a-time loop takes (see bench/).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from amibackup import access
from amibackup.names import TAG_KEPT, Names
from amibackup.provision.errors import ProvisionError
from amibackup.runner import plan, record

WORKERS = 16


@dataclass
class Teardown:
    """What deleting a backup did to the group and to the images."""

    restored_image: str | None = None
    restored_version: int | None = None
    restored_latest: int | None = None  # the new $Latest, where it was another version
    deregistered: list[str] = field(default_factory=list)
    deleted_snapshots: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


LAUNCHED = ("$Default", "$Latest")  # what a group on a floating version launches


@dataclass(frozen=True)
class Launched:
    """One template's launched versions: what its groups run, resolved and as written."""

    spec: dict[str, Any]
    template_id: str
    default: dict[str, Any]
    latest: dict[str, Any]


def _image(version: dict[str, Any]) -> str | None:
    image = version.get("LaunchTemplateData", {}).get("ImageId")
    return str(image) if image else None


def launched(ec2: Any, spec: dict[str, Any]) -> Launched | None:
    """The template's `$Default` and `$Latest` versions (aliases resolved); None when gone."""
    try:
        found = {v["VersionNumber"]: v for v in access.template_versions(ec2, spec, list(LAUNCHED))}
    except ClientError as err:
        if access.is_not_found(err):
            return None
        raise
    default = next(v for v in found.values() if v.get("DefaultVersion"))
    latest = found[max(found)]
    return Launched(spec, str(default["LaunchTemplateId"]), default, latest)


def templates_to_restore(ec2: Any, asg: Any, group_name: str, template_id: str | None
                         ) -> tuple[list[Launched], dict[str, Any] | None]:
    """The recorded template and the one the group launches now (once each, by id), and
    the group's own template reference (None when the group is gone)."""
    group = access.describe_group(asg, group_name)
    current = access.template_of(group) if group else None
    specs = [current] if current else []
    if template_id:
        specs.append({"LaunchTemplateId": template_id})
    found: dict[str, Launched] = {}
    for spec in specs:
        template = launched(ec2, spec)
        if template is not None:
            found.setdefault(template.template_id, template)
    return list(found.values()), current


def _restore_image(ec2: Any, versions: list[dict[str, Any]], ours: set[str], floor: int
                   ) -> str | None:
    """The image to launch instead of a backup: of the newest version from `floor` on (else
    older) whose image is not a backup and still exists (an operator's newer choice wins)."""
    candidates = sorted(versions, key=lambda v: (v["VersionNumber"] >= floor,
                                                 v["VersionNumber"]), reverse=True)
    for version in candidates:
        image = _image(version)
        if image and image not in ours and not image.startswith("resolve:") and (
                access.image_exists(ec2, image)):
            return image
    return None


def restore_launched(ec2: Any, template: Launched, ours: set[str], floor: int,
                     result: Teardown) -> None:
    """Make `$Default` and `$Latest` launch an image that outlives the backup.

    Each new version copies the version it replaces (`SourceVersion`) with only the image
    changed. A new default also becomes the latest, so when the latest was another version
    it is copied again after it: a `$Latest` group keeps launching what it launched, with
    the image changed only where it was a backup.
    """
    default_ours = _image(template.default) in ours
    latest_ours = _image(template.latest) in ours
    if not (default_ours or latest_ours):
        return
    versions = access.all_template_versions(ec2, template.spec)  # as written: no aliases resolved
    image = _restore_image(ec2, versions, ours, floor)
    if image is None:
        return  # nothing to point at: the launched backups are kept (see kept_launched)
    what = f"amibackup: restored {image} when the backup was deleted"
    same = template.default["VersionNumber"] == template.latest["VersionNumber"]
    if default_ours:
        number = access.promote(ec2, template.spec, template.default, image, what)
        result.restored_image, result.restored_version = image, number
    if not same and (latest_ours or default_ours):
        # As written (an alias stays an alias); only a backup's image is replaced.
        raw = next(v for v in versions
                   if v["VersionNumber"] == template.latest["VersionNumber"])
        keep = image if latest_ours else (_image(raw) or image)
        number = access.promote(ec2, template.spec, template.latest, keep,
                                what if latest_ours else
                                f"amibackup: $Latest kept as version "
                                f"{template.latest['VersionNumber']} when the backup was deleted",
                                make_default=False)
        if latest_ours:
            result.restored_image, result.restored_latest = image, number


def kept_launched(ec2: Any, templates: list[Launched], group_spec: dict[str, Any] | None,
                  ours: set[str]) -> dict[str, str]:
    """Backups any of the templates still launches after the restore, each with the reason:
    never deregistered, whatever the restore managed."""
    keep: dict[str, str] = {}
    for template in templates:
        now = launched(ec2, template.spec)
        if now is None:
            continue
        for which, version in (("$Default", now.default), ("$Latest", now.latest)):
            image = _image(version)
            if image in ours:
                keep.setdefault(str(image), (
                    f"launch template {now.template_id} {which} (version "
                    f"{version['VersionNumber']}) launches it and no image outside the backup "
                    "exists to point it at; delete it after changing the template's AMI"))
    if group_spec and access.is_pinned(group_spec):  # a pinned version cannot be changed
        for version in access.template_versions(ec2, group_spec,
                                                [access.pinned_version(group_spec)]):
            image = _image(version)
            if image in ours:
                keep.setdefault(str(image), (
                    f"the group pins launch template version {version['VersionNumber']}, which "
                    "launches it; delete it after moving the group to another version"))
    return keep


def restore_templates(ec2: Any, asg: Any, group_name: str, recorded_version: int | None,
                      ours: set[str], result: Teardown, template_id: str | None = None
                      ) -> dict[str, str]:
    """Make every template the backup touched launch images that outlive it; return the
    backups that must stay (image -> why).

    The templates are the recorded one (`template_id`, also with the group gone: other
    groups may launch it later) and the one the group launches now (the group may have
    moved). On each, `$Default` and `$Latest` (whichever a group launches) are pointed back
    at the image of the version recorded at create, or of a later version made by hand,
    whichever is newest and still exists. A backup still launched afterwards is kept.
    """
    templates, group_spec = templates_to_restore(ec2, asg, group_name, template_id)
    for template in templates:
        floor = (recorded_version or 0) if template.template_id == template_id else 0
        restore_launched(ec2, template, ours, floor, result)
    return kept_launched(ec2, templates, group_spec, ours)


def settle_pending(ec2: Any, images: list[plan.Image], max_wait: int = 600) -> None:
    """A run in flight may still be making an image: let it finish before deregistering."""
    pending = [i.image_id for i in images if i.state == "pending"]
    if pending:
        with suppress(WaiterError):  # failed or still pending: deregistering it is still right
            ec2.get_waiter("image_available").wait(
                ImageIds=pending, WaiterConfig={"Delay": 15, "MaxAttempts": max(max_wait // 15, 1)})


def delete_images(ec2: Any, images: list[plan.Image], keep: dict[str, str],
                  result: Teardown) -> None:
    """Deregister every image but those in `keep` (image -> why), which are tagged
    `amibackup:kept` with the reason and reported in the result's warnings."""
    doomed = [i for i in images if i.image_id not in keep]
    for image in images:
        if image.image_id in keep:
            why = keep[image.image_id]
            result.kept.append(image.image_id)
            result.warnings.append(f"kept {image.image_id}: {why}")
            # Say why on the image itself: the deleted backup can say nothing else.
            ec2.create_tags(Resources=[image.image_id],
                            Tags=[{"Key": TAG_KEPT, "Value": why[:256]}])
    left: list[str] = []
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for removed in pool.map(lambda i: access.delete_image(ec2, i), doomed):
            result.warnings.extend(removed.warnings)
            if not removed.deregistered:  # AWS refused (deregistration protection...): kept
                result.kept.append(removed.image_id)
                continue
            result.deregistered.append(removed.image_id)
            result.deleted_snapshots.extend(removed.snapshots)
            left.extend(removed.left)
    delete_snapshots(ec2, left, result)


def delete_snapshots(ec2: Any, snapshot_ids: list[str], result: Teardown) -> None:
    """Delete snapshots of deregistered images, waiting while AWS says they are in use."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for snap, why in zip(snapshot_ids, pool.map(
                lambda s: access.delete_snapshot_waiting(ec2, s), snapshot_ids), strict=True):
            if why is None:
                result.deleted_snapshots.append(snap)
            else:
                result.warnings.append(why)


def in_use_elsewhere(ec2: Any, asg: Any, group_name: str, template_id: str | None,
                     image_ids: list[str]) -> dict[str, str]:
    """Image -> why it stays: AWS says something outside the backup's templates uses it
    (DescribeImageReferences). The group's current and recorded templates are left to
    `restore_templates`, which keeps what they launch (their older versions hold older
    backups by design)."""
    if not image_ids:
        return {}
    own = {t.template_id for t in templates_to_restore(ec2, asg, group_name, template_id)[0]}
    return {image: "in use: " + ", ".join(arns) for image, arns in
            access.image_references(ec2, image_ids, own).items()}


def _adopt_started(ec2: Any, backup_id: str, held: record.Record, result: Teardown
                   ) -> record.Record:
    """The record with the images of its started runs adopted (a run leaves its pending
    image to be adopted by name, as does a run cut after CreateImage): they go too."""
    names = {plan.image_name(backup_id, key): key for key in held.runs}
    if not names:
        return held
    held, _, refusals = record.adopted(held, names, access.images_named(ec2, sorted(names)))
    result.warnings.extend(f"not deregistered (not this backup's): {why}" for why in refusals)
    return held


def remove_images(ec2: Any, asg: Any, ssm: Any, backup_id: str, group_name: str,
                  recorded_version: int | None, template_id: str | None = None, *,
                  seal: record.Seal) -> Teardown:
    """Point the group away from the backup's images, then delete them and their snapshots.

    Only images in the backup's record go: a tag anyone could copy proves nothing. The
    record goes last, so a teardown that fails half-way still knows what is left. With the
    group gone, the recorded template (`template_id`) is still pointed at an existing image.
    `seal` verifies the record (VerifyMac with the backup's key): a record its runner did not
    write deregisters nothing.
    """
    result = Teardown()
    record_name = Names(backup_id).record_parameter
    try:
        held = record.read(ssm, record_name, seal)
    except record.RecordForged as forged:
        raise ProvisionError(
            f"{forged}. No image was deregistered. Find who wrote it (CloudTrail: PutParameter "
            f"on {record_name}); to leave every image of this backup in place, delete that "
            "parameter (or set deregister_on_delete: false), then delete again") from None
    held = _adopt_started(ec2, backup_id, held, result)
    owned = sorted(held.images)
    images = access.images_by_id(ec2, owned)
    settle_pending(ec2, images)
    keep = restore_templates(ec2, asg, group_name, recorded_version,
                             {i.image_id for i in images}, result, template_id)
    # Described again: an image that was pending lists its snapshots only once available.
    now = access.images_by_id(ec2, owned)
    keep.update(in_use_elsewhere(ec2, asg, group_name, template_id,
                                 [i.image_id for i in now if i.image_id not in keep]))
    delete_images(ec2, now, keep, result)
    delete_snapshots(ec2, sorted(held.snapshots), result)  # those earlier runs left
    record.delete(ssm, record_name)  # a kept image is the operator's now (tagged why)
    return result
