"""One backup cycle against AWS: gather state, ask `plan`, act, summarise.

The thin imperative shell around `plan.py`. Every AWS call of a cycle is here, so
their number stays small and visible (see bench/).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from amibackup import access
from amibackup.access import backup_images
from amibackup.names import Names, image_description
from amibackup.runner import lock, plan
from amibackup.runner.clients import Clients
from amibackup.schema import DEFAULTS

log = logging.getLogger("amibackup.runner")


@dataclass(frozen=True)
class Job:
    """What one backup asks of the runner: the schedule target's Input, parsed."""

    backup_id: str
    group_name: str
    retention: int = DEFAULTS["retention"]
    no_reboot: bool = DEFAULTS["no_reboot"]
    tags: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    template_id: str | None = None  # the group's template at deploy; another one is refused
    recorded_version: int | None = None  # the template's default at deploy (repair's fallback)
    scheduled_time: str | None = None  # Scheduler fills in <aws.scheduler.scheduled-time>
    wait_delay: int = 15  # seconds between polls while an image becomes available

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Job:
        missing = [k for k in ("backup_id", "group_name") if not event.get(k)]
        if missing:
            raise ValueError(f"runner event lacks {', '.join(missing)}: {json.dumps(event)[:300]}")
        known = {k: event[k] for k in cls.__dataclass_fields__ if k in event}
        known["retention"] = int(known.get("retention", cls.retention))
        return cls(**known)

    def scheduled(self, now: datetime) -> datetime:
        if self.scheduled_time and not self.scheduled_time.startswith("<"):
            return datetime.fromisoformat(self.scheduled_time)
        return now


@dataclass
class Summary:
    """The one JSON line a run logs: what it made, promoted, pruned, and what it skipped."""

    backup: str
    group: str
    run: str
    request_id: str | None = None  # the Lambda invocation's, to find its other log lines
    source_instance: str | None = None
    created: str | None = None
    available: bool | None = None
    promoted: str | None = None
    template_version: int | None = None
    pruned: list[str] = field(default_factory=list)
    deleted_snapshots: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def run_cycle(job: Job, clients: Clients, now: datetime | None = None,
              time_left: Callable[[], float] = lambda: 600.0,
              request_id: str | None = None) -> Summary:
    """Run one backup cycle; never raises for expected conditions, reports them instead."""
    now = now or datetime.now(UTC)
    key = plan.run_key(job.scheduled(now))
    summary = Summary(job.backup_id, job.group_name, key, request_id)
    ssm = clients("ssm")
    try:
        with lock.held(ssm, Names(job.backup_id).lock_parameter,
                       owner=lock.unique_owner(f"run {key}")):
            _cycle(job, clients, now, key, summary, time_left)
    except lock.Busy as busy:
        summary.skipped.append(f"{busy}; this run does nothing")
    log.info(summary.to_json())
    return summary


def _group_template(clients: Clients, job: Job, summary: Summary
                    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The group and its launch template spec; None (and why, in `summary`) to stop."""
    group = access.describe_group(clients("autoscaling"), job.group_name)
    if group is None:
        summary.failed.append(f"group {job.group_name} not found: it was deleted outside this "
                              "backup; delete the backup too (pulumi destroy), or recreate the "
                              "group")
        return None
    spec = access.template_of(group)
    if spec is None:
        summary.failed.append("the group has no launch template (launch configurations are not "
                              "supported: migrate the group to a launch template)")
        return None
    if access.is_pinned(spec):
        summary.warnings.append(f"the group pins launch template version "
                                f"{access.pinned_version(spec)}; set it to $Default so new "
                                "instances launch from the newest backup")
    conflict = plan.template_conflict(
        access.claimed_by(clients("ssm"), access.template_key(spec)), job.backup_id,
        access.template_key(spec), job.template_id)
    if conflict:
        summary.failed.append(f"not touching the template: {conflict}")
        return None
    return group, spec


def _versions(ec2: Any, spec: dict[str, Any], summary: Summary) -> list[dict[str, Any]] | None:
    """The versions the group may launch ($Default, $Latest, a pinned one); None if gone."""
    pinned = [access.pinned_version(spec)] if access.is_pinned(spec) else []
    try:
        return access.template_versions(ec2, spec, [*access.FLOATING_VERSIONS, *pinned])
    except ClientError as err:
        if not access.is_not_found(err):
            raise
        summary.failed.append(f"launch template {access.template_key(spec)} not found "
                              f"({access.error_code(err)}): it was deleted outside this backup; "
                              "give the group a template, then run `pulumi up`")
        return None


def _follows_latest(spec: dict[str, Any]) -> bool:
    return access.pinned_version(spec) == "$Latest"


def _launched(ec2: Any, spec: dict[str, Any], versions: list[dict[str, Any]],
              images: list[plan.Image], instances: list[plan.Instance]
              ) -> tuple[dict[str, Any], plan.Launched]:
    """The version the group launches (a pinned group: the default, as it is warned)."""
    latest = max(versions, key=lambda v: int(v["VersionNumber"]))
    raw = latest if _follows_latest(spec) else next(v for v in versions if v["DefaultVersion"])
    image_id = raw["LaunchTemplateData"].get("ImageId")
    known = {i.image_id: i for i in images}.get(image_id or "")
    described = known or (access.describe_image(ec2, image_id) if image_id else None)
    architecture = described.architecture if described else None
    if architecture is None:  # the image is gone: its instances still tell
        runs = plan.newest_instance(instances, access.template_key(spec))
        architecture = runs.architecture if runs else None
    return raw, plan.Launched(
        int(raw["VersionNumber"]), image_id, _by_runner(raw),
        raw["VersionNumber"] == latest["VersionNumber"], raw.get("CreateTime"),
        latest["LaunchTemplateData"].get("ImageId"), _by_runner(latest), architecture,
        exists=described is not None or not image_id)


def _by_runner(version: dict[str, Any]) -> bool:
    return str(version.get("VersionDescription", "")).startswith(plan.PROMOTION_MARK)


def _promote(ec2: Any, spec: dict[str, Any], raw: dict[str, Any], image: plan.Image,
             description: str, summary: Summary) -> plan.Launched:
    """Copy the launched version with only the image changed; what the group launches now."""
    number = access.promote(ec2, spec, raw, image.image_id,
                            f"{plan.PROMOTION_MARK}{description}",
                            make_default=not _follows_latest(spec))
    summary.template_version, summary.promoted = number, image.image_id
    return plan.Launched(number, image.image_id, True, True, None, image.image_id, True,
                         image.architecture)


def _cycle(job: Job, clients: Clients, now: datetime, key: str, summary: Summary,
           time_left: Callable[[], float]) -> None:
    ec2 = clients("ec2")
    found = _group_template(clients, job, summary)
    versions = _versions(ec2, found[1], summary) if found else None
    if found is None or versions is None:
        return
    group, spec = found
    instances = access.group_instances(ec2, group)
    images = backup_images(ec2, job.backup_id)
    raw, launched = _launched(ec2, spec, versions, images, instances)
    promoted = False
    if not launched.exists:
        promoted = _repair(ec2, spec, raw, launched, images, summary, job.recorded_version)
        if not promoted:
            return
        raw, launched = _launched(ec2, spec, access.template_versions(
            ec2, spec, list(access.FLOATING_VERSIONS)), images, instances)

    chosen = plan.operator_choice(launched, images)
    template = access.template_key(spec)
    source = (plan.newest_instance(instances, template, chosen)
              or plan.newest_instance(instances, template))
    decision = plan.decide_create(images, source, key, chosen)
    if decision.create and source is not None:
        summary.source_instance = source.instance_id
        image_id = _create_image(ec2, job, source, key, now)
        summary.created = image_id
        # Stamped with the real clock, as EC2 stamps CreationDate (`now` names the run).
        images.append(plan.Image(image_id, plan.image_name(job.backup_id, key), "pending",
                                 datetime.now(UTC),
                                 (), {plan.TAG_SOURCE_IMAGE: source.image_id, plan.TAG_RUN: key},
                                 source.architecture))
    else:
        summary.skipped.append(decision.reason)

    images = _await_pending(ec2, images, job, summary, time_left)

    target = plan.choose_promotion(images, launched)
    if target is not None:
        launched = _promote(ec2, spec, raw, target, target.name, summary)
        promoted = True
    elif chosen and plan.newest(images):
        summary.skipped.append(f"not promoting: the template launches {chosen}, the operator's "
                               "choice; waiting for a backup of an instance that runs it")
    in_use = {image for image in (launched.image_id, *_still_launched(versions, spec, promoted),
                                  *(i.image_id for i in instances)) if image}
    _prune(ec2, plan.decide_prune(images, job.retention, in_use), summary)


def _repair(ec2: Any, spec: dict[str, Any], raw: dict[str, Any], launched: plan.Launched,
            images: list[plan.Image], summary: Summary, recorded_version: int | None) -> bool:
    """Point a template whose image was deregistered at the newest backup (else the image of
    the version recorded at deploy), at once."""
    target = plan.choose_repair(images, launched)
    if target is None and recorded_version is not None:
        recorded = _version_image(ec2, spec, recorded_version)
        target = plan.choose_repair([recorded] if recorded else [], launched)
    if target is None:
        summary.failed.append(f"the template launches {launched.image_id}, which no longer "
                              "exists, and no available backup of the same architecture can "
                              "replace it: set the template's image by hand")
        return False
    _promote(ec2, spec, raw, target, f"repair: {target.name or target.image_id} replaces "
             f"deregistered {launched.image_id}", summary)
    summary.warnings.append(f"the template launched {launched.image_id}, which no longer "
                            f"exists; repaired: it launches {target.image_id}")
    return True


def _version_image(ec2: Any, spec: dict[str, Any], number: int) -> plan.Image | None:
    """The image a version launches, if that version and its image still exist."""
    try:
        (version,) = access.template_versions(ec2, spec, [str(number)])
    except ClientError as err:
        if access.is_not_found(err):
            return None
        raise
    image_id = version["LaunchTemplateData"].get("ImageId")
    return access.describe_image(ec2, image_id) if image_id else None


def _still_launched(versions: list[dict[str, Any]], spec: dict[str, Any], promoted: bool
                    ) -> set[str | None]:
    """Images of the versions that stay default, latest or pinned after this run."""
    latest = max(int(v["VersionNumber"]) for v in versions)
    pinned = access.pinned_version(spec)
    default_moved = promoted and not _follows_latest(spec)
    return {v["LaunchTemplateData"].get("ImageId") for v in versions
            if (v["DefaultVersion"] and not default_moved)
            or (int(v["VersionNumber"]) == latest and not promoted)
            or str(v["VersionNumber"]) == pinned}


def _prune(ec2: Any, prune: plan.PruneDecision, summary: Summary) -> None:
    summary.kept = [i.image_id for i in prune.kept]
    summary.protected = list(prune.protected)
    for image in prune.delete:
        removed = access.delete_image(ec2, image)
        summary.pruned.append(removed.image_id)
        summary.deleted_snapshots.extend(removed.snapshots)
        summary.warnings.extend(removed.warnings)


def _create_image(ec2: Any, job: Job, source: plan.Instance, key: str, now: datetime) -> str:
    tags = plan.image_tags(job.backup_id, job.group_name, source, key, now, job.tags)
    return access.create_image(ec2, source.instance_id, plan.image_name(job.backup_id, key),
                               image_description(job.backup_id, job.group_name, key), tags,
                               job.no_reboot)


def _await_pending(ec2: Any, images: list[plan.Image], job: Job, summary: Summary,
                   time_left: Callable[[], float]) -> list[plan.Image]:
    """Wait, within the invocation's time, for pending images; mark what they became."""
    pending = [i for i in images if i.state == "pending"]
    if not pending:
        return images
    attempts = int((time_left() - 30) // max(job.wait_delay, 1))
    if attempts < 1:
        summary.warnings.append("no time left to wait for the image; the next run promotes it")
        return images
    ids = [i.image_id for i in pending]
    try:
        ec2.get_waiter("image_available").wait(
            ImageIds=ids, WaiterConfig={"Delay": job.wait_delay, "MaxAttempts": attempts})
        states = {i: "available" for i in ids}
    except WaiterError as err:
        last = err.last_response or {}
        states = {raw["ImageId"]: raw["State"] for raw in last.get("Images", [])}
        failed = [i for i, s in states.items() if s in ("failed", "invalid", "error")]
        summary.failed.extend(failed)
        if not failed:
            summary.warnings.append("image not available in time; the next run promotes it")
    if summary.created:
        summary.available = states.get(summary.created) == "available"
    return [plan.Image(i.image_id, i.name, states.get(i.image_id, i.state), i.created,
                       i.snapshot_ids, i.tags) for i in images]
