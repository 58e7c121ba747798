"""One backup cycle against AWS: gather state, ask `plan`, act, summarise.

The thin imperative shell around `plan.py`. Every AWS call of a cycle is here, so
their number stays small and visible (see bench/). A cycle never waits for an image:
it creates one and returns; the image's own event (or the next run) promotes it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from amibackup import access
from amibackup.access import backup_images
from amibackup.names import Names, image_description
from amibackup.runner import lock, plan, record
from amibackup.runner.clients import Clients
from amibackup.runner.config import Job
from amibackup.runner.summary import Summary

__all__ = ["Job", "Summary", "backup_images", "run_cycle"]

log = logging.getLogger("amibackup.runner")
FAILED_STATES = ("failed", "invalid", "error")


def scheduled(job: Job, now: datetime) -> datetime:
    """When the job's run was scheduled (now, for a run nobody scheduled)."""
    if job.scheduled_time and not job.scheduled_time.startswith("<"):
        return datetime.fromisoformat(job.scheduled_time)
    return now


def run_cycle(job: Job, clients: Clients, now: datetime | None = None,
              request_id: str | None = None, create: bool = True,
              label: str | None = None) -> Summary:
    """Run one backup cycle; never raises for expected conditions, reports them instead.

    `create=False` (an image event) promotes and prunes but makes no image.
    """
    now = now or datetime.now(UTC)
    key = plan.run_key(scheduled(job, now))
    summary = Summary(job.backup_id, job.group_name, label or key, request_id)
    ssm = clients("ssm")
    try:
        with lock.held(ssm, Names(job.backup_id).lock_parameter,
                       owner=lock.unique_owner(f"run {label or key}")):
            _cycle(job, clients, now, key if create else None, summary)
    except lock.Busy as busy:
        summary.skipped.append(f"{busy}; this run does nothing")
    log.info(summary.to_json())
    return summary


def _group_template(clients: Clients, job: Job, summary: Summary
                    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The group and its launch template spec; None (and why, in `summary`) to stop."""
    group = access.describe_group(clients("autoscaling"), job.group_name)
    if group is None:
        summary.skipped.append(f"group {job.group_name} not found")
        return None
    spec = access.template_of(group)
    if spec is None:
        summary.skipped.append("the group has no launch template (launch configurations are not "
                               "supported: migrate the group to a launch template)")
        return None
    if access.is_pinned(spec):
        summary.warnings.append(f"the group pins launch template version "
                                f"{access.pinned_version(spec)}; set it to $Default so new "
                                "instances launch from the newest backup")
    return group, spec


def recorded_images(ec2: Any, owned: record.Record) -> list[plan.Image]:
    """The images the record names that still exist (tags are labels, not proof)."""
    return access.images_by_id(ec2, sorted(owned.images))


def _cycle(job: Job, clients: Clients, now: datetime, key: str | None,
           summary: Summary) -> None:
    ec2, ssm = clients("ec2"), clients("ssm")
    record_name = Names(job.backup_id).record_parameter
    found = _group_template(clients, job, summary)
    if found is None:
        return
    group, spec = found
    pinned = access.pinned_version(spec)
    instances = access.group_instances(ec2, group)
    before = record.read(ssm, record_name)
    images = recorded_images(ec2, before)
    owned = before.forget(set(before.images) - {i.image_id for i in images})
    summary.failed.extend(i.image_id for i in images if i.state in FAILED_STATES)
    versions = access.template_versions(
        ec2, spec, [*access.FLOATING_VERSIONS, *([pinned] if access.is_pinned(spec) else [])])
    default = next(v for v in versions if v["DefaultVersion"])
    default_image = default["LaunchTemplateData"].get("ImageId")

    if key is not None:
        owned, images = _maybe_create(ec2, ssm, record_name, job, key, now, instances,
                                      images, owned, default_image, summary)

    target = plan.choose_promotion(images, default_image)
    if target is not None:
        summary.template_version = access.promote(ec2, spec, default, target.image_id,
                                                  f"amibackup: {target.name}")
        summary.promoted = target.image_id
        default_image = target.image_id
    elif default_image not in {i.image_id for i in images} and plan.newest(images):
        summary.skipped.append(f"not promoting: the template launches {default_image}, chosen by "
                               "hand; waiting for a backup of an instance that runs it")

    # What the template launches after this run (default, latest, a pinned version) and
    # what live instances run: none of it may be deleted.
    referenced = [v for v in versions if target is None or str(v["VersionNumber"]) == pinned]
    in_use = {default_image, *(v["LaunchTemplateData"].get("ImageId") for v in referenced),
              *(i.image_id for i in instances)}
    _prune(ec2, plan.decide_prune(images, job.retention, in_use), summary)
    owned = owned.forget(set(summary.pruned))
    if owned != before:
        record.write(ssm, record_name, owned)
    summary.set_newest_age(plan.newest(i for i in images if i.image_id not in summary.pruned))


def _maybe_create(ec2: Any, ssm: Any, record_name: str, job: Job, key: str, now: datetime,
                  instances: list[plan.Instance], images: list[plan.Image],
                  owned: record.Record, default_image: str | None, summary: Summary
                  ) -> tuple[record.Record, list[plan.Image]]:
    """Take this run's image if the plan says so; the record and images after it."""
    source = plan.newest_instance(instances)
    decision = plan.decide_create(images, source, key, default_image)
    if not decision.create or source is None:
        summary.skipped.append(decision.reason)
        return owned, images
    summary.source_instance = source.instance_id
    # The start is written before CreateImage: only then may a duplicate name be this run's.
    owned = owned.started(key, source.instance_id, datetime.now(UTC))
    record.write(ssm, record_name, owned)
    image_id = _create_image(ec2, job, source, key, now, owned)
    owned = owned.made(image_id, key)
    record.write(ssm, record_name, owned)
    summary.created = image_id
    # One look, no waiting: an image already available is promoted now, else on its event.
    state = access.image_state(ec2, image_id) or "pending"
    summary.available = state == "available"
    if state in FAILED_STATES:
        summary.failed.append(image_id)
    made = plan.Image(image_id, plan.image_name(job.backup_id, key), state, now, (),
                      {plan.TAG_SOURCE_IMAGE: source.image_id, plan.TAG_RUN: key})
    return owned, [*images, made]


def _prune(ec2: Any, prune: plan.PruneDecision, summary: Summary) -> None:
    summary.kept = [i.image_id for i in prune.kept]
    summary.protected = list(prune.protected)
    for image in prune.delete:
        removed = access.delete_image(ec2, image)
        summary.pruned.append(removed.image_id)
        summary.deleted_snapshots.extend(removed.snapshots)
        summary.warnings.extend(removed.warnings)


class AdoptionRefused(RuntimeError):
    """An image holds this run's name but the record does not show this run made it."""


def _create_image(ec2: Any, job: Job, source: plan.Instance, key: str, now: datetime,
                  owned: record.Record) -> str:
    tags = plan.image_tags(job.backup_id, job.group_name, source, key, now, job.tags)
    name = plan.image_name(job.backup_id, key)
    try:
        return access.create_image(ec2, source.instance_id, name,
                                   image_description(job.backup_id, job.group_name, key), tags,
                                   job.no_reboot)
    except access.DuplicateName as dup:
        refused = record.adoption_refused(owned, key, dup.image)
        if refused:
            raise AdoptionRefused(f"{refused}; not adopting it (delete or rename that image if "
                                  "it is not yours to keep)") from None
        return str(dup.image["ImageId"])
