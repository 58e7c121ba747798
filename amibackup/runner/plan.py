"""Decisions of one backup cycle, as pure functions on plain data.

Nothing here calls AWS: `cycle.py` gathers the state, asks these functions what to
do, and does it. Standard library only (this ships to AWS Lambda).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from amibackup.names import (
    TAG_BACKUP,
    TAG_CREATED_AT,
    TAG_GROUP,
    TAG_RUN,
    TAG_SOURCE_IMAGE,
    TAG_SOURCE_INSTANCE,
    image_name,
)

__all__ = ["TAG_BACKUP", "TAG_CREATED_AT", "TAG_GROUP", "TAG_RUN", "TAG_SOURCE_IMAGE",
           "TAG_SOURCE_INSTANCE", "image_name"]  # re-exported: the cycle's vocabulary

IN_USE_STATES = frozenset({"pending", "running", "stopping", "stopped"})


@dataclass(frozen=True)
class Instance:
    instance_id: str
    image_id: str
    launch_time: datetime
    lifecycle_state: str  # the Auto Scaling lifecycle state, e.g. InService, Standby
    health_status: str  # Healthy / Unhealthy
    state: str = "running"  # the EC2 state


@dataclass(frozen=True)
class Image:
    image_id: str
    name: str
    state: str  # pending / available / failed / ...
    created: datetime
    snapshot_ids: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def source_image(self) -> str | None:
        return self.tags.get(TAG_SOURCE_IMAGE)

    @property
    def run(self) -> str | None:
        return self.tags.get(TAG_RUN)

    @property
    def order(self) -> tuple[str, str]:
        """Age order: the scheduled run it belongs to, then the image id for ties."""
        return (self.run or run_key(self.created), self.image_id)


def run_key(scheduled: datetime) -> str:
    """The identity of one scheduled run: its minute in UTC (schedules are >= 10 min apart)."""
    return scheduled.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def image_tags(
    backup_id: str, group: str, source: Instance, key: str, created: datetime,
    user_tags: dict[str, str],
) -> dict[str, str]:
    tags = dict(user_tags)
    tags.update({
        TAG_BACKUP: backup_id,
        TAG_GROUP: group,
        TAG_SOURCE_INSTANCE: source.instance_id,
        TAG_SOURCE_IMAGE: source.image_id,
        TAG_CREATED_AT: created.astimezone(UTC).isoformat(timespec="seconds"),
        TAG_RUN: key,
        "Name": image_name(backup_id, key),
    })
    return tags


def newest_instance(instances: Iterable[Instance]) -> Instance | None:
    """The newest healthy in-service instance: never Standby, Pending, Terminating or warm pool."""
    eligible = [
        i for i in instances
        if (i.lifecycle_state, i.health_status, i.state) == ("InService", "Healthy", "running")
    ]
    if not eligible:
        return None
    return max(eligible, key=lambda i: (i.launch_time, i.instance_id))


def newest(images: Iterable[Image], state: str = "available") -> Image | None:
    candidates = [i for i in images if i.state == state]
    return max(candidates, key=lambda i: i.order) if candidates else None


@dataclass(frozen=True)
class CreateDecision:
    """Whether to take an image now; `reason` says why not, `existing` is a retry's image."""

    create: bool
    reason: str = ""
    existing: Image | None = None


def decide_create(
    images: list[Image], source: Instance | None, key: str, default_image: str | None,
) -> CreateDecision:
    """Skip when no instance qualifies, a run is already imaged, or an image is still pending.

    A default image that amibackup did not make is a manual change: back up only an
    instance that already runs it, so the hand-picked AMI is never silently replaced.
    """
    for image in images:
        if image.run == key:
            return CreateDecision(False, f"run {key} already made {image.image_id}", image)
    pending = [i.image_id for i in images if i.state == "pending"]
    if pending:
        return CreateDecision(False, f"image {pending[0]} is still pending; not starting another")
    if source is None:
        return CreateDecision(False, "no InService and Healthy instance in the group")
    ours = {i.image_id for i in images}
    if default_image and default_image not in ours and source.image_id != default_image:
        return CreateDecision(False, (
            f"manual change: the template launches {default_image}, which amibackup did not make, "
            f"and the newest instance {source.instance_id} still runs {source.image_id}; waiting "
            f"until an instance runs {default_image} (roll the group)"))
    return CreateDecision(True)


def choose_promotion(images: list[Image], default_image: str | None) -> Image | None:
    """The newest available backup, if the template should move to it.

    Never moves backwards, never promotes a failed image, and never replaces a
    hand-picked default with a backup of an instance that ran an older AMI.
    """
    target = newest(images)
    if target is None or target.image_id == default_image:
        return None
    by_id = {i.image_id: i for i in images}
    current = by_id.get(default_image or "")
    if current is not None:  # the template launches one of our backups
        return target if target.order > current.order else None
    if default_image and target.source_image != default_image:
        return None  # manual change: wait for a backup of an instance running it
    return target


@dataclass(frozen=True)
class PruneDecision:
    delete: tuple[Image, ...]
    kept: tuple[Image, ...]
    protected: tuple[str, ...]  # ids kept beyond retention because something uses them


def decide_prune(images: list[Image], retention: int, in_use: Iterable[str]) -> PruneDecision:
    """Keep the newest `retention` available backups; delete older ones nobody uses.

    Pending images are never touched; failed images are not backups and go.
    `in_use` holds the images a template version or a live instance refers to.
    """
    used = set(in_use)
    available = sorted(
        (i for i in images if i.state == "available"),
        key=lambda i: i.order, reverse=True,
    )
    kept = available[:retention]
    delete: list[Image] = []
    protected: list[str] = []
    for image in available[retention:]:
        if image.image_id in used:
            protected.append(image.image_id)
        else:
            delete.append(image)
    delete.extend(
        i for i in images
        if i.state in ("failed", "invalid", "error") and i.image_id not in used
    )
    return PruneDecision(tuple(delete), tuple(kept), tuple(protected))
