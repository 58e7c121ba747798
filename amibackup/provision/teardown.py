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

from botocore.exceptions import WaiterError

from amibackup import access
from amibackup.names import TAG_KEPT, Names
from amibackup.runner import plan, record

WORKERS = 16


@dataclass
class Teardown:
    """What deleting a backup did to the group and to the images."""

    restored_image: str | None = None
    restored_version: int | None = None
    deregistered: list[str] = field(default_factory=list)
    deleted_snapshots: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def restore_template(ec2: Any, asg: Any, group_name: str, recorded_version: int | None,
                     ours: set[str], result: Teardown, template_id: str | None = None
                     ) -> set[str]:
    """Make the group launch an image that outlives the backup; return images to keep.

    The new default is the current default with only the image changed back: to the
    image of the version recorded at create, or of a later version made by hand (an
    operator's newer choice wins), whichever is newest and still exists. If no such
    image exists, the backup the group uses is kept, not deleted. With the group gone, the
    recorded template (`template_id`) is still restored: other groups may launch it later.
    """
    group = access.describe_group(asg, group_name)
    spec = access.template_of(group) if group else None
    if spec is None and template_id:
        spec = {"LaunchTemplateId": template_id}
    default = access.default_version(ec2, spec) if spec else None
    if spec is None or default is None:
        return set()
    current = default["LaunchTemplateData"].get("ImageId")
    if current not in ours:
        return set()
    versions = access.all_template_versions(ec2, spec)
    # Newest first; versions older than the recorded one only if nothing newer survives.
    floor = recorded_version or 0
    candidates = sorted(versions, key=lambda v: (v["VersionNumber"] >= floor,
                                                 v["VersionNumber"]), reverse=True)
    for version in candidates:
        image = version["LaunchTemplateData"].get("ImageId")
        if image and image not in ours and access.image_exists(ec2, image):
            number = access.promote(
                ec2, spec, default, image,
                f"amibackup: restored {image} when the backup was deleted")
            result.restored_image, result.restored_version = image, number
            return set()
    result.warnings.append(
        f"no image outside this backup to point the group at; kept {current} (the template's "
        "default) so the group never launches a deleted AMI")
    return {current}


def settle_pending(ec2: Any, images: list[plan.Image], max_wait: int = 600) -> None:
    """A run in flight may still be making an image: let it finish before deregistering."""
    pending = [i.image_id for i in images if i.state == "pending"]
    if pending:
        with suppress(WaiterError):  # failed or still pending: deregistering it is still right
            ec2.get_waiter("image_available").wait(
                ImageIds=pending, WaiterConfig={"Delay": 15, "MaxAttempts": max(max_wait // 15, 1)})


def delete_images(ec2: Any, images: list[plan.Image], keep: set[str], result: Teardown) -> None:
    doomed = [i for i in images if i.image_id not in keep]
    result.kept.extend(i.image_id for i in images if i.image_id in keep)
    if result.kept:  # say why on the image itself: the deleted backup can say nothing else
        ec2.create_tags(Resources=result.kept, Tags=[{"Key": TAG_KEPT, "Value": (
            "the group launches it and no other image exists; delete it after changing "
            "the group's AMI")}])
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for removed in pool.map(lambda i: access.delete_image(ec2, i), doomed):
            result.deregistered.append(removed.image_id)
            result.deleted_snapshots.extend(removed.snapshots)
            result.warnings.extend(removed.warnings)


def remove_images(ec2: Any, asg: Any, ssm: Any, backup_id: str, group_name: str,
                  recorded_version: int | None, template_id: str | None = None) -> Teardown:
    """Point the group away from the backup's images, then delete them and their snapshots.

    Only images in the backup's record go: a tag anyone could copy proves nothing. The
    record goes last, so a teardown that fails half-way still knows what is left. With the
    group gone, the recorded template (`template_id`) is still pointed at an existing image.
    """
    result = Teardown()
    record_name = Names(backup_id).record_parameter
    owned = sorted(record.read(ssm, record_name).images)
    images = access.images_by_id(ec2, owned)
    settle_pending(ec2, images)
    keep = restore_template(ec2, asg, group_name, recorded_version,
                            {i.image_id for i in images}, result, template_id)
    # Described again: an image that was pending lists its snapshots only once available.
    delete_images(ec2, access.images_by_id(ec2, owned), keep, result)
    record.delete(ssm, record_name)  # a kept image is the operator's now (tagged why)
    return result
