"""One backup cycle against AWS: gather state, ask `plan`, act, summarise.

The thin imperative shell around `plan.py`. Every AWS call of a cycle is here, so
their number stays small and visible (see bench/). A cycle never waits for an image:
it creates one and returns; the image's own event (or the next run) promotes it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from amibackup import access
from amibackup.access import backup_images
from amibackup.names import Names, image_description, template_claim_parameter
from amibackup.runner import lock, plan, reads, record, rule
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
            # The claim and the record, read under the lock in one call (reads.py).
            ahead = reads.read_ahead(clients, [
                Names(job.backup_id).record_parameter,
                template_claim_parameter(job.template_id) if job.template_id else None])
            _cycle(job, ahead, now, key if create else None, summary)
            rule.follow_in_flight(clients, job, summary)  # events of in-flight images only
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


def recorded_images(ec2: Any, owned: record.Record) -> list[plan.Image]:
    """The images the record names that still exist (tags are labels, not proof)."""
    return access.images_by_id(ec2, sorted(owned.images))


def _cycle(job: Job, clients: Clients, now: datetime, key: str | None,
           summary: Summary) -> None:
    ec2, ssm = clients("ec2"), clients("ssm")
    record_name = Names(job.backup_id).record_parameter
    found = _group_template(clients, job, summary)
    versions = _versions(ec2, found[1], summary) if found else None
    if found is None or versions is None:
        return
    group, spec = found
    instances = access.group_instances(ec2, group)
    before = record.read(ssm, record_name)
    images = recorded_images(ec2, before)
    owned = before.forget(set(before.images) - {i.image_id for i in images})
    summary.failed.extend(i.image_id for i in images if i.state in FAILED_STATES)
    raw, launched = _launched(ec2, spec, versions, images, instances)
    promoted = False
    if not launched.exists:
        promoted = _repair(ec2, spec, raw, launched, images, summary, job.recorded_version)
        if not promoted:
            return
        versions = access.template_versions(ec2, spec, list(access.FLOATING_VERSIONS))
        raw, launched = _launched(ec2, spec, versions, images, instances)

    chosen = plan.operator_choice(launched, images)
    written = before  # the record as AWS holds it now
    if key is not None:
        prior = owned
        owned, images = _maybe_create(ec2, ssm, record_name, job, key, now,
                                      (spec, instances, images, chosen), owned, summary)
        if owned is not prior:  # _maybe_create wrote the record it returns
            written = owned

    target = plan.choose_promotion(images, launched)
    if target is not None:
        launched = _promote(ec2, spec, raw, target, target.name, summary)
        promoted = True
    elif chosen and plan.newest(images):
        summary.skipped.append(f"not promoting: the template launches {chosen}, the operator's "
                               "choice; waiting for a backup of an instance that runs it")
    # What the template launches after this run (default, latest, a pinned version) and
    # what live instances run: none of it may be deleted, whoever chose it.
    in_use = {image for image in (launched.image_id, *_still_launched(versions, spec, promoted),
                                  *(i.image_id for i in instances)) if image}
    _prune(ec2, plan.decide_prune(images, job.retention, in_use), summary)
    owned = owned.forget(set(summary.pruned))
    if owned != written:
        record.write(ssm, record_name, owned)
    summary.set_newest_age(plan.newest(i for i in images if i.image_id not in summary.pruned))
    summary.in_flight = [i.image_id for i in images if i.state == "pending"]


def _maybe_create(ec2: Any, ssm: Any, record_name: str, job: Job, key: str, now: datetime,
                  state: tuple[dict[str, Any], list[plan.Instance], list[plan.Image], str | None],
                  owned: record.Record, summary: Summary
                  ) -> tuple[record.Record, list[plan.Image]]:
    """Take this run's image if the plan says so; the record and images after it.

    `state` is the template spec, the group's instances, the recorded images and the
    operator's chosen image (None when the runner's own promotion is launched).
    """
    spec, instances, images, chosen = state
    template = access.template_key(spec)
    source = (plan.newest_instance(instances, template, chosen)
              or plan.newest_instance(instances, template))
    decision = plan.decide_create(images, source, key, chosen)
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
    image_state = access.image_state(ec2, image_id) or "pending"
    summary.available = image_state == "available"
    if image_state in FAILED_STATES:
        summary.failed.append(image_id)
    # Stamped with the real clock, as EC2 stamps CreationDate (`now` names the run).
    made = plan.Image(image_id, plan.image_name(job.backup_id, key), image_state,
                      datetime.now(UTC), (),
                      {plan.TAG_SOURCE_IMAGE: source.image_id, plan.TAG_RUN: key},
                      source.architecture)
    return owned, [*images, made]


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
