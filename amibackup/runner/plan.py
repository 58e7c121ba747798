"""Decisions of one backup cycle, as pure functions on plain data.

Nothing here calls AWS: `cycle.py` gathers the state, asks these functions what to
do, and does it. Standard library only (this ships to AWS Lambda).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

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
# Every template version the runner makes (promotion, repair) is described with this prefix:
# a launched version without it was made by someone else, so it is the operator's choice.
PROMOTION_MARK = "amibackup: "


@dataclass(frozen=True)
class Instance:
    instance_id: str
    image_id: str
    launch_time: datetime
    lifecycle_state: str  # the Auto Scaling lifecycle state, e.g. InService, Standby
    health_status: str  # Healthy / Unhealthy
    state: str = "running"  # the EC2 state
    launch_template: str | None = None  # id (else name) of the template it was launched from
    architecture: str | None = None  # x86_64, arm64, ...


@dataclass(frozen=True)
class Image:
    image_id: str
    name: str
    state: str  # pending / available / failed / ...
    created: datetime
    snapshot_ids: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    architecture: str | None = None
    # The run that made it, from the backup's record (never from the `amibackup:run` tag,
    # which anyone with ec2:CreateTags may rewrite); None for an image the record lacks.
    run: str | None = None

    @property
    def source_image(self) -> str | None:
        return self.tags.get(TAG_SOURCE_IMAGE)

    @property
    def order(self) -> tuple[datetime, str]:
        """Age order: the time of the recorded run that made it (else its creation), then
        the image id for ties. Compared as times, never as text."""
        at = run_time(self.run) if self.run else None
        return (at or self.created.astimezone(UTC), self.image_id)

    def of_run(self, key: str | None) -> Image:
        """This image as the record knows it: made by run `key`."""
        return replace(self, run=key)


_RUN_KEY = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})Z")


def run_key(scheduled: datetime) -> str:
    """The identity of one scheduled run: its minute in UTC (schedules are >= 10 min apart).

    The year is always four digits (`strftime("%Y")` gives `999` for year 999 on Linux,
    which would sort after every real run as text).
    """
    at = scheduled.astimezone(UTC)
    return f"{at.year:04d}{at:%m%dT%H%M}Z"


RATE_PRECISION = timedelta(seconds=60)  # Scheduler invokes within the minute of a firing


def too_soon(key: str, last: str | None, rate: timedelta | None) -> str | None:
    """Why scheduled run `key` may make no image (None: it may).

    A rate(...) schedule fires `rate` apart, counted from when it was created, so no single
    time can be checked; two scheduled runs that made images are never closer than that,
    whichever of them came first (a late retry of an older firing is allowed). `last`: the
    newest scheduled run that started an image.
    """
    at, before = run_time(key), run_time(last or "")
    if rate is None or at is None or before is None or key == last:
        return None
    gap = abs(at - before)
    if gap >= rate - RATE_PRECISION:
        return None
    return (f"scheduled_time of run {key} is {gap} from run {last}, which made an image: the "
            f"schedule fires every {rate}, so Scheduler never names two runs that close; "
            "someone invoked the runner with a made-up time (CloudTrail: lambda Invoke); "
            "no image made")


def run_time(key: str) -> datetime | None:
    """The UTC minute a run key names; None for anything else (e.g. an unpadded year)."""
    found = _RUN_KEY.fullmatch(key)
    if not found:
        return None
    year, month, day, hour, minute = map(int, found.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=UTC)
    except ValueError:
        return None


RUN_SKEW = timedelta(minutes=5)  # a run's image is never made before its scheduled time


def not_the_runs(image: Image, backup_id: str) -> str | None:
    """Why an image the record lists is not what its run made, by facts only AWS sets: the
    name CreateImage gave it (AMI names never change) and when AWS made it. None: it is."""
    if image.run is None:
        return None
    if image.name != image_name(backup_id, image.run):
        return (f"image {image.image_id} is recorded for run {image.run} but is named "
                f"{image.name!r}, not {image_name(backup_id, image.run)!r}")
    at = run_time(image.run)
    if at is not None and image.created.astimezone(UTC) < at - RUN_SKEW:
        return (f"image {image.image_id} is recorded for run {image.run} but AWS made it at "
                f"{image.created.isoformat()}, before that run was scheduled")
    return None


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


def newest_instance(instances: Iterable[Instance], template: str | None = None,
                    image_id: str | None = None) -> Instance | None:
    """The newest healthy in-service instance: never Standby, Pending, Terminating or warm pool.

    With `template`, only instances launched from that template count (a mixed-instances
    override with its own template launches other images, often of another architecture).
    With `image_id`, only instances running that image count.
    """
    eligible = [
        i for i in instances
        if (i.lifecycle_state, i.health_status, i.state) == ("InService", "Healthy", "running")
        and (template is None or i.launch_template == template)
        and (image_id is None or i.image_id == image_id)
    ]
    if not eligible:
        return None
    return max(eligible, key=lambda i: (i.launch_time, i.instance_id))


def newest(images: Iterable[Image], state: str = "available") -> Image | None:
    candidates = [i for i in images if i.state == state]
    return max(candidates, key=lambda i: i.order) if candidates else None


@dataclass(frozen=True)
class Launched:
    """The template version the group launches ($Default or $Latest), as decisions need it."""

    version: int
    image_id: str | None  # `resolve:ssm:` aliases already resolved
    by_runner: bool  # made by a promotion or repair (its description starts with PROMOTION_MARK)
    is_latest: bool  # no newer version exists
    created: datetime | None = None
    latest_image: str | None = None  # the image of the template's newest version
    latest_by_runner: bool = False
    architecture: str | None = None  # of the launched image (or of the group's instances)
    exists: bool = True  # False: the image was deregistered (the template is broken)


def operator_choice(launched: Launched, images: Iterable[Image]) -> str | None:
    """The image the operator chose, or None when the group launches the runner's own choice.

    The runner's own choice is the newest template version, made by the runner, launching one
    of its backups. Anything else is someone's decision: a version made by hand (a golden
    AMI, a new instance type, an older backup brought back), or the default moved back to an
    older version. It is respected until an instance runs it.
    """
    ours = {i.image_id for i in images}
    if launched.by_runner and launched.is_latest and launched.image_id in ours:
        return None
    return launched.image_id


@dataclass(frozen=True)
class CreateDecision:
    """Whether to take an image now; `reason` says why not, `existing` is a retry's image."""

    create: bool
    reason: str = ""
    existing: Image | None = None


def decide_create(
    images: list[Image], source: Instance | None, key: str, chosen: str | None,
) -> CreateDecision:
    """Skip when no instance qualifies, a run is already imaged, or an image is still pending.

    `chosen` is the operator's choice (see `operator_choice`): back up only an instance that
    already runs it (give the newest such instance as `source`), so the chosen AMI is never
    replaced by an image of an older one.
    """
    for image in images:
        if image.run == key:
            return CreateDecision(False, f"run {key} already made {image.image_id}", image)
    pending = [i.image_id for i in images if i.state == "pending"]
    if pending:
        return CreateDecision(False, f"image {pending[0]} is still pending; not starting another")
    if source is None:
        return CreateDecision(False, "no InService and Healthy instance in the group")
    if chosen and source.image_id != chosen:
        return CreateDecision(False, (
            f"manual change: the template launches {chosen}, which amibackup did not "
            f"promote (the operator's choice), and the newest instance {source.instance_id} "
            f"still runs {source.image_id}; waiting until an instance runs {chosen} "
            "(roll the group)"))
    return CreateDecision(True)


def same_architecture(image: Image, architecture: str | None) -> bool:
    """Never put an image of another architecture into the template (unknown: no refusal)."""
    return architecture is None or image.architecture is None or image.architecture == architecture


def choose_promotion(images: list[Image], launched: Launched) -> Image | None:
    """The backup the template should move to, if any.

    Following its own choice, the runner moves only forward, to its newest available backup.
    Under the operator's choice it promotes only a backup of an instance running the chosen
    image, made after that choice, and never one it had promoted before the operator moved
    the template away from it. Never a failed image, never another architecture.
    """
    candidates = [i for i in images
                  if i.state == "available" and same_architecture(i, launched.architecture)]
    by_id = {i.image_id: i for i in images}
    chosen = operator_choice(launched, images)
    if chosen is None:
        current = by_id.get(launched.image_id or "")
        newer = [c for c in candidates if current is None or c.order > current.order]
    else:
        floor = by_id.get(launched.latest_image or "") if launched.latest_by_runner else None
        newer = [c for c in candidates if c.source_image == chosen
                 and _not_before(c.created, launched.created)
                 and (floor is None or c.order > floor.order)]
    return max(newer, key=lambda i: i.order) if newer else None


def _not_before(made: datetime, choice_made: datetime | None) -> bool:
    """Whether an image was made after the operator's choice (both stamped to the second)."""
    return choice_made is None or made.replace(microsecond=0) >= choice_made.replace(microsecond=0)


def choose_repair(images: list[Image], launched: Launched) -> Image | None:
    """The image for a template whose launched image was deregistered: the newest available
    backup of the same architecture (None: nothing of ours can mend it)."""
    if launched.exists:
        return None
    candidates = [i for i in images
                  if i.state == "available" and same_architecture(i, launched.architecture)]
    return max(candidates, key=lambda i: i.order) if candidates else None


def template_conflict(claimed_by: str | None, backup_id: str, launched_template: str,
                      configured_template: str | None) -> str | None:
    """Why this run must not touch the template (shared with another backup), or None."""
    if configured_template and launched_template != configured_template:
        return (f"the group now launches template {launched_template}, not {configured_template} "
                "that this backup was deployed for; run `pulumi up` to re-scope the backup")
    if claimed_by and claimed_by != backup_id:
        return (f"launch template {launched_template} is claimed by backup {claimed_by}; two "
                "backups must not share one template (give each group its own template)")
    return None


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
