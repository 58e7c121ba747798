"""One backup cycle against AWS: gather state, ask `plan`, act, summarise.

The thin imperative shell around `plan.py`. Every AWS call of a cycle is here, so
their number stays small and visible (see bench/). A cycle never waits for an image:
it creates one and returns; the image's own event (or the next run) promotes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from amibackup import access
from amibackup.access import backup_images
from amibackup.names import Names, image_description, template_claim_parameter
from amibackup.runner import lock, plan, reads, record, rule
from amibackup.runner.clients import Clients
from amibackup.runner.config import Job
from amibackup.runner.seal import Seal, of_backup
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
              label: str | None = None, adhoc: bool = False,
              seal: Seal | None = None, event_image: str | None = None) -> Summary:
    """Run one backup cycle; never raises for expected conditions, reports them instead.

    `create=False` (an image event) promotes and prunes but makes no image. `adhoc` (the
    CLI's `run --backup ID`): on a template another backup claims, the run makes and prunes
    its own images but never touches the template (that backup promotes). `seal`: the
    backup's signing key (default: by its alias), for the lock and the record.
    `event_image`: the image an event is about; an image the record does not show this
    backup made (or started) stops the cycle before anything else is read.
    """
    seal = seal or of_backup(clients("kms"), job.backup_id)
    now = now or datetime.now(UTC)
    key = plan.run_key(scheduled(job, now))
    summary = Summary(job.backup_id, job.group_name, label or key, request_id)
    ssm = clients("ssm")
    try:
        with lock.held(ssm, Names(job.backup_id).lock_parameter,
                       owner=lock.unique_owner(f"run {label or key}"), seal=seal):
            # The claim and the record, read under the lock in one call (reads.py).
            ahead = reads.read_ahead(clients, [
                Names(job.backup_id).record_parameter,
                template_claim_parameter(job.template_id) if job.template_id else None])
            _cycle(job, ahead, now, key if create else None, summary, seal, adhoc,
                   event_image)
            if summary.created in (summary.in_flight or ()):  # a new image awaits its event
                rule.follow_in_flight(clients, job, summary, only_if_deployed=adhoc)
    except lock.Busy as busy:
        if create:  # a scheduled run that cannot run fails, so the error metric and alarm fire
            summary.failed.append(f"{busy}; this scheduled run did nothing")
        else:  # an image event: the run holding the lock promotes it
            summary.skipped.append(f"{busy}; this run does nothing")
    except Exception as err:
        # Whatever ends the run, its summary (and the Failed metric the alarm watches) is
        # written, with the reason; the error then fails the invocation (Lambda's Errors).
        summary.failed.append(f"run failed: {type(err).__name__}: {err}")
        log.info(summary.to_json())
        raise
    log.info(summary.to_json())
    return summary


@dataclass
class _Book:
    """The record as this run holds it (`owned`) and as AWS holds it (`written`)."""

    ssm: Any
    name: str
    owned: record.Record
    written: record.Record
    seal: Seal

    def save(self) -> None:
        if self.owned != self.written:  # signed as the parameter's next version
            self.owned = self.written = record.write(self.ssm, self.name, self.owned,
                                                     self.seal)


class _Instances:
    """The group's instances, described on first use (DescribeInstances): a run needs them to
    choose its source; an image event only when its template's image is gone. Pruning does
    not: DescribeImageReferences, asked before any deregistration, names every instance in
    the account and region that runs an image."""

    def __init__(self, ec2: Any, group: dict[str, Any]) -> None:
        self._ec2, self._group = ec2, group
        self._read: list[plan.Instance] | None = None

    def all(self) -> list[plan.Instance]:
        if self._read is None:
            self._read = access.group_instances(self._ec2, self._group)
        return self._read

    def images_if_read(self) -> list[str]:
        """The images the instances run, if they were described (else AWS's references say)."""
        return [i.image_id for i in self._read or [] if i.image_id]


def _group_template(clients: Clients, job: Job, summary: Summary, adhoc: bool = False
                    ) -> tuple[dict[str, Any], dict[str, Any], bool] | None:
    """The group, its launch template spec and whether this run may change the template;
    None (and why, in `summary`) to stop."""
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
    owner = access.claimed_by(clients("ssm"), access.template_key(spec))
    conflict = plan.template_conflict(owner, job.backup_id, access.template_key(spec),
                                      job.template_id)
    if conflict and adhoc and owner and owner != job.backup_id:
        summary.skipped.append(f"ad-hoc backup: launch template {access.template_key(spec)} "
                               f"is claimed by backup {owner}, which promotes; this run makes "
                               "and prunes its own images only")
        return group, spec, False
    if conflict:
        summary.failed.append(f"not touching the template: {conflict}")
        return None
    return group, spec, True


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
              images: list[plan.Image], instances: _Instances
              ) -> tuple[dict[str, Any], plan.Launched]:
    """The version the group launches (a pinned group: the default, as it is warned)."""
    latest = max(versions, key=lambda v: int(v["VersionNumber"]))
    raw = latest if _follows_latest(spec) else next(v for v in versions if v["DefaultVersion"])
    image_id = raw["LaunchTemplateData"].get("ImageId")
    known = {i.image_id: i for i in images}.get(image_id or "")
    described = known or (access.describe_image(ec2, image_id) if image_id else None)
    architecture = described.architecture if described else None
    if architecture is None:  # the image is gone: its instances still tell
        runs = plan.newest_instance(instances.all(), access.template_key(spec))
        architecture = runs.architecture if runs else None
    return raw, plan.Launched(
        int(raw["VersionNumber"]), image_id, _by_runner(raw),
        raw["VersionNumber"] == latest["VersionNumber"], raw.get("CreateTime"),
        latest["LaunchTemplateData"].get("ImageId"), _by_runner(latest), architecture,
        exists=described is not None or not image_id)


def _by_runner(version: dict[str, Any]) -> bool:
    return str(version.get("VersionDescription", "")).startswith(plan.PROMOTION_MARK)


def _default_number(versions: list[dict[str, Any]]) -> int:
    return int(next(v for v in versions if v["DefaultVersion"])["VersionNumber"])


def _latest_number(versions: list[dict[str, Any]]) -> int:
    return max(int(v["VersionNumber"]) for v in versions)


def _promote(ec2: Any, book: _Book, spec: dict[str, Any], versions: list[dict[str, Any]],
             raw: dict[str, Any], image: plan.Image, description: str, summary: Summary
             ) -> plan.Launched | None:
    """Copy the launched version with only the image changed; what the group launches now.

    None: the template changed under this run (an operator's rollback), which wins. A group
    on $Default: the promotion is recorded before its version is made (so a run cut before
    the default moves is finished by the next one), and the default is re-read just before
    ModifyLaunchTemplate. A group on $Latest: $Latest is re-read before the version is made.
    """
    make_default = not _follows_latest(spec)
    expected = _default_number(versions) if make_default else _latest_number(versions)
    if not make_default and not _unchanged(ec2, spec, "$Latest", expected, summary):
        return None
    if make_default:
        book.owned = book.owned.promotion_started(image.image_id, expected)
        book.save()
    number = access.new_version(ec2, spec, raw, image.image_id,
                                f"{plan.PROMOTION_MARK}{description}")
    if make_default:
        book.owned = book.owned.promotion_ended()
        if not _unchanged(ec2, spec, "$Default", expected, summary):
            return None
        access.set_default(ec2, spec, number)
    summary.template_version, summary.promoted = number, image.image_id
    return plan.Launched(number, image.image_id, True, True, None, image.image_id, True,
                         image.architecture)


def _unchanged(ec2: Any, spec: dict[str, Any], which: str, expected: int,
               summary: Summary) -> bool:
    """Whether the template's `which` version is still number `expected` (re-read now)."""
    (now,) = access.template_versions(ec2, spec, [which])
    if int(now["VersionNumber"]) == expected:
        return True
    summary.skipped.append(
        f"not promoting: the template's {which} changed to version {now['VersionNumber']} "
        f"during this run (it was {expected}); the operator's change wins")
    return False


def _finish_promotion(ec2: Any, book: _Book, spec: dict[str, Any],
                      versions: list[dict[str, Any]], summary: Summary
                      ) -> list[dict[str, Any]] | None:
    """Complete a promotion an earlier run recorded but was cut before making it the default.

    Its own unfinished version is the newest one, made by the runner, launching the recorded
    image, with the default still where the record says it was; anything else (the operator
    moved the default, or made a newer version) is left as it is. The versions after it.
    """
    pending = book.owned.promoting
    if not pending:
        return versions
    book.owned = book.owned.promotion_ended()
    latest = max(versions, key=lambda v: int(v["VersionNumber"]))
    if (_follows_latest(spec) or latest["DefaultVersion"] or not _by_runner(latest)
            or latest["LaunchTemplateData"].get("ImageId") != pending.get("image")
            or str(_default_number(versions)) != pending.get("from")):
        return versions
    access.set_default(ec2, spec, int(latest["VersionNumber"]))
    summary.template_version, summary.promoted = int(latest["VersionNumber"]), pending["image"]
    summary.warnings.append(f"finished the promotion of {pending['image']} (version "
                            f"{latest['VersionNumber']}) that an earlier run was cut in")
    return _versions(ec2, spec, summary)


def recorded_images(ec2: Any, owned: record.Record) -> list[plan.Image]:
    """The images the record names that still exist (tags are labels, not proof), each with
    the run the record says made it (its order and retry guard)."""
    return [image.of_run(owned.images[image.image_id])
            for image in access.images_by_id(ec2, sorted(owned.images))]


class NotTheRunsImage(RuntimeError):
    """A recorded image whose AWS facts (name, creation time) contradict its recorded run."""


def _recorded(ec2: Any, job: Job, book: _Book, summary: Summary,
              event_image: str | None = None) -> list[plan.Image]:
    """The record's images; an image is forgotten only when AWS says it is gone, and the
    image of a started run (left pending by its run, or by a cut) is adopted by its name.

    `event_image` (an image event's): described in the same call as the recorded ones, so
    its run's image is adopted without a search by name.
    """
    extra = [event_image] if event_image and not book.owned.owns(event_image) else []
    raws = access.described_images(ec2, sorted({*book.owned.images, *extra}))
    images = [access.parse_image(raw).of_run(book.owned.images[raw["ImageId"]])
              for raw in raws if book.owned.owns(raw["ImageId"])]
    missing = sorted(set(book.owned.images) - {i.image_id for i in images})
    if missing:
        book.owned = book.owned.forget(access.gone(ec2, missing))
        if set(missing) & set(book.owned.images):  # AWS says they exist: keep them listed
            images = recorded_images(ec2, book.owned)
    unfinished = {plan.image_name(job.backup_id, k): k for k in book.owned.runs}
    if not unfinished:
        return _checked(images, job)
    candidates = [raw for raw in raws if raw["ImageId"] in extra]
    searched = not any(str(raw.get("Name")) in unfinished for raw in candidates)
    if searched:
        candidates = access.images_named(ec2, sorted(unfinished))
    book.owned, adopted, refusals = record.adopted(book.owned, unfinished, candidates)
    summary.warnings.extend(f"not adopting: {why}" for why in refusals)
    if searched:  # the started runs no image was adopted for made none that is theirs
        book.owned = book.owned.forget_runs(set(unfinished.values()))
    for raw in adopted:
        images.append(access.parse_image(raw).of_run(book.owned.images[raw["ImageId"]]))
        if searched:  # found by name: an image its run never saw through (a cut, a lost event)
            summary.adopted.append(raw["ImageId"])
    return _checked(images, job)


def _checked(images: list[plan.Image], job: Job) -> list[plan.Image]:
    """The recorded images, if AWS's facts about each match its recorded run."""
    wrong = [why for why in (plan.not_the_runs(i, job.backup_id) for i in images) if why]
    if wrong:  # a signed record cannot say this: touch nothing, fail loudly
        raise NotTheRunsImage("; ".join(wrong))
    return images


def _cycle(job: Job, clients: Clients, now: datetime, key: str | None,
           summary: Summary, seal: Seal, adhoc: bool = False,
           event_image: str | None = None) -> None:
    ec2, ssm = clients("ec2"), clients("ssm")
    record_name = Names(job.backup_id).record_parameter
    before = record.read(ssm, record_name, seal)  # RecordForged: the run touches nothing
    if event_image and not before.owns(event_image) and not before.runs:
        summary.skipped.append(f"image {event_image} is not in this backup's record")
        return  # someone else's image (a stale or forged delivery): nothing is read or written
    found = _group_template(clients, job, summary, adhoc)
    versions = _versions(ec2, found[1], summary) if found else None
    if found is None or versions is None:
        return
    group, spec, touch = found
    instances = _Instances(ec2, group)
    book = _Book(ssm, record_name, before, before, seal)
    images = _recorded(ec2, job, book, summary, event_image)
    if event_image and not book.owned.owns(event_image):
        summary.skipped.append(f"image {event_image} is not in this backup's record")
        book.save()
        return
    summary.failed.extend(i.image_id for i in images if i.state in FAILED_STATES)
    versions = _finish_promotion(ec2, book, spec, versions, summary) if touch else versions
    if versions is None:
        return
    raw, launched = _launched(ec2, spec, versions, images, instances)
    promoted = summary.promoted is not None
    if not launched.exists and touch:
        promoted = _repair(ec2, book, spec, versions, raw, launched, images, summary,
                           job.recorded_version)
        if not promoted:
            book.save()
            return
        versions = access.template_versions(ec2, spec, list(access.FLOATING_VERSIONS))
        raw, launched = _launched(ec2, spec, versions, images, instances)

    # An ad-hoc run that may not touch the template images the group as it runs: it has no
    # promotion of its own for an operator's choice to override.
    chosen = plan.operator_choice(launched, images) if touch else None
    if key is not None:
        images = _maybe_create(ec2, book, job, key, now, (spec, instances.all(), images, chosen),
                               summary)

    target = plan.choose_promotion(images, launched) if touch else None
    if target is not None:
        made = _promote(ec2, book, spec, versions, raw, target, target.name, summary)
        if made is not None:
            launched, promoted = made, True
    elif chosen and plan.newest(images):
        summary.skipped.append(f"not promoting: the template launches {chosen}, the operator's "
                               "choice; waiting for a backup of an instance that runs it")
    # What the template launches after this run (default, latest, a pinned version) and
    # what live instances run: none of it may be deleted, whoever chose it.
    in_use = {image for image in (launched.image_id, *_still_launched(versions, spec, promoted),
                                  *instances.images_if_read()) if image}
    _retry_snapshots(ec2, book, summary)
    _prune(ec2, book, spec, plan.decide_prune(images, job.retention, in_use), summary)
    book.save()
    summary.set_newest_age(plan.newest(i for i in images if i.image_id not in summary.pruned))
    summary.in_flight = [i.image_id for i in images if i.state == "pending"]


def _maybe_create(ec2: Any, book: _Book, job: Job, key: str, now: datetime,
                  state: tuple[dict[str, Any], list[plan.Instance], list[plan.Image], str | None],
                  summary: Summary) -> list[plan.Image]:
    """Take this run's image if the plan says so; the images after it.

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
        return images
    is_scheduled = bool(job.scheduled_time) and not str(job.scheduled_time).startswith("<")
    too_soon = plan.too_soon(key, book.owned.scheduled, job.rate) if is_scheduled else None
    if too_soon:  # fails the run: the error metric and alarm fire
        summary.failed.append(too_soon)
        return images
    summary.source_instance = source.instance_id
    # The start is written before CreateImage: only then may a duplicate name be this run's.
    book.owned = book.owned.started(key, source.instance_id, datetime.now(UTC), is_scheduled)
    book.save()
    image_id = _create_image(ec2, job, source, key, now, book.owned)
    summary.created = image_id
    # One look, no waiting: an image already available is promoted now, else on its event.
    image_state = access.image_state(ec2, image_id) or "pending"
    summary.available = image_state == "available"
    if image_state in FAILED_STATES:
        summary.failed.append(image_id)
    if image_state != "pending":  # acted on now: recorded now (with this run's other writes)
        book.owned = book.owned.made(image_id, key)
    # Pending, it stays a started run in the record: its event (or the next run, or
    # teardown) adopts it by name, and this run writes the record once, not twice.
    # Stamped with the real clock, as EC2 stamps CreationDate (`now` names the run).
    made = plan.Image(image_id, plan.image_name(job.backup_id, key), image_state,
                      datetime.now(UTC), (),
                      {plan.TAG_SOURCE_IMAGE: source.image_id, plan.TAG_RUN: key},
                      source.architecture, run=key)
    return [*images, made]


def _repair(ec2: Any, book: _Book, spec: dict[str, Any], versions: list[dict[str, Any]],
            raw: dict[str, Any], launched: plan.Launched, images: list[plan.Image],
            summary: Summary, recorded_version: int | None) -> bool:
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
    if _promote(ec2, book, spec, versions, raw, target, f"repair: {target.name or target.image_id}"
                f" replaces deregistered {launched.image_id}", summary) is None:
        return False
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


def _retry_snapshots(ec2: Any, book: _Book, summary: Summary) -> None:
    """Delete the snapshots an earlier deregistration left (AWS said "in use", say)."""
    if not book.owned.snapshots:
        return
    deleted, warnings, _ = access.delete_snapshots(ec2, sorted(book.owned.snapshots))
    book.owned = book.owned.snapshots_gone(deleted)
    summary.deleted_snapshots.extend(deleted)
    summary.warnings.extend(warnings)


def _prune(ec2: Any, book: _Book, spec: dict[str, Any], prune: plan.PruneDecision,
           summary: Summary) -> None:
    """Deregister what the plan prunes, unless AWS says it is in use, or refuses.

    Just before deregistering, the template is read again (an operator's rollback during the
    run wins) and AWS is asked what references each image anywhere in the account and region
    (DescribeImageReferences: instances, launch templates, SSM parameters, Image Builder
    recipes; one call per 10 images). The group's own template counts only for the versions
    it launches: its older versions hold older backups by design.
    """
    summary.kept = [i.image_id for i in prune.kept]
    summary.protected = list(prune.protected)
    summary.reasons.update({i: "a version the group's template launches, or an instance of "
                            "the group, uses it" for i in prune.protected})
    if not prune.delete:
        return
    now = _versions(ec2, spec, summary)
    if now is None:
        return
    launched_now = {v["LaunchTemplateData"].get("ImageId") for v in now}
    own = {str(v.get("LaunchTemplateId")) for v in now if v.get("LaunchTemplateId")}
    candidates = [i for i in prune.delete if i.image_id not in launched_now]
    refs = access.image_references(ec2, [i.image_id for i in candidates], own)
    for image in prune.delete:
        why = ("the group's template launches it now (changed during this run)"
               if image.image_id in launched_now else
               "in use: " + ", ".join(refs[image.image_id]) if image.image_id in refs else None)
        if why is None:
            removed = access.delete_image(ec2, image)
            summary.warnings.extend(removed.warnings)
            why = None if removed.deregistered else f"deregistration refused: {removed.refused}"
        if why is not None:
            summary.protected.append(image.image_id)
            summary.reasons[image.image_id] = why
            continue
        summary.pruned.append(image.image_id)
        summary.deleted_snapshots.extend(removed.snapshots)
        book.owned = book.owned.forget({image.image_id}).snapshots_left(image.image_id,
                                                                       removed.left)


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
