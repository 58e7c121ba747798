"""The backup's own record of the images it made: the one proof of ownership.

Tags are labels anyone with EC2 rights can copy (CreateTags, CopyImage with its tags), so
they never decide what a backup may promote, prune or deregister. This record, an SSM
parameter under the backup's own path that only the runner (under its run lock) and
teardown may write, does. Standard library + boto3 only (it ships in the runner's zip).

A run writes a `runs` entry before CreateImage; its image, pending, is adopted into `images`
by the image's own event (or the next run, or teardown): an image holding the run's name
(AWS refuses a second one with InvalidAMIName.Duplicate) is adopted only if the record says
that run started before the image was created, from the instance it was made from.

Signed (issue 15): anyone allowed `ssm:PutParameter` on `/amibackup/*` could write a record,
so the stored value carries an HMAC made by the backup's own KMS key (KeySpec HMAC_256,
`alias/amibackup/<backup>`), whose key policy lets only the runner's role GenerateMac. The
MAC covers the parameter's name, the SSM version the value is written as, and the record:
a value copied from another backup, an old value put back, or one edited by hand fails the
check, and the run refuses to act on it (it fails, so the alarm fires). Signing wraps the
serialised record and nothing else: fields added to Record are signed with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from amibackup.runner.seal import Seal

__all__ = ["Record", "RecordForged", "Seal", "adoption_refused", "delete", "read", "write"]

DESCRIPTION = "amibackup: the images this backup made (written by its runner and teardown only)"
TIER = "Intelligent-Tiering"  # Standard stops at 4 KB; this grows to Advanced's 8 KB when needed
RUNS_KEPT = 5  # started runs remembered (a run that never made its image is forgotten after)
RUN_SECONDS = 900  # the runner function's timeout (Lambda's maximum): a run's CreateImage
# comes within this of its start, so an image created later is not that run's


@dataclass(frozen=True)
class Record:
    """Runs started (run key -> when, from which instance) and images made (id -> run key).

    Kept compact: a hundred images (the largest retention) fit well within the 8 KB of an
    Advanced parameter.
    """

    runs: dict[str, dict[str, str]] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)
    # Snapshots of deregistered images that AWS did not delete yet (id -> image): retried.
    snapshots: dict[str, str] = field(default_factory=dict)
    # A promotion under way on a $Default group: {"image": id, "from": the default's number}
    # written before CreateLaunchTemplateVersion, cleared once the default moved (or the
    # operator's change won). Left set, it tells the next run that the newest version, made by
    # the runner with that image, is its own unfinished promotion, not an operator's choice.
    promoting: dict[str, str] = field(default_factory=dict)
    # The newest scheduled run that started an image (its run key): a rate(...) schedule's
    # next one must come at least the rate later (plan.too_soon).
    scheduled: str = ""
    # The SSM version this record was read or written as (0: none yet). Not content: two
    # records with the same entries are equal whatever their versions.
    version: int = field(default=0, compare=False)

    @classmethod
    def from_json(cls, text: str) -> Record:
        data = json.loads(text)
        return cls(dict(data.get("runs", {})), dict(data.get("images", {})),
                   dict(data.get("snapshots", {})), dict(data.get("promoting", {})),
                   str(data.get("scheduled", "")))

    def to_json(self) -> str:
        data: dict[str, Any] = {"runs": self.runs, "images": self.images}
        if self.snapshots:  # written only when set: the common record stays as it was
            data["snapshots"] = self.snapshots
        if self.promoting:
            data["promoting"] = self.promoting
        if self.scheduled:
            data["scheduled"] = self.scheduled
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def owns(self, image_id: str) -> bool:
        return image_id in self.images

    def started(self, key: str, instance_id: str, at: datetime, scheduled: bool = False
                ) -> Record:
        """The run `key` is about to call CreateImage; a retry keeps the first start (a
        later one cannot pass an image made between for the run's) and notes its own
        (`attempt`: the run's image may be created up to RUN_SECONDS after it).
        `scheduled`: a run of the schedule (not an operator's `amibackup run`)."""
        if key in self.runs:
            return replace(self, runs={**self.runs, key: {**self.runs[key],
                                                          "attempt": _stamp(at)}})
        runs = {**self.runs, key: {"started": _stamp(at), "instance": instance_id}}
        newest = sorted(runs)[-RUNS_KEPT:]
        last = max(self.scheduled, key) if scheduled else self.scheduled  # keys sort as times
        return replace(self, runs={k: runs[k] for k in newest}, scheduled=last)

    def made(self, image_id: str, key: str) -> Record:
        runs = {k: v for k, v in self.runs.items() if k != key}
        return replace(self, runs=runs, images={**self.images, image_id: key})

    def forget(self, image_ids: set[str]) -> Record:
        return replace(self, images={k: v for k, v in self.images.items()
                                     if k not in image_ids})

    def forget_runs(self, keys: set[str]) -> Record:
        """Started runs that made no image (AWS has none by their name)."""
        return replace(self, runs={k: v for k, v in self.runs.items() if k not in keys})

    def snapshots_left(self, image_id: str, snapshot_ids: tuple[str, ...]) -> Record:
        return replace(self, snapshots={**self.snapshots, **dict.fromkeys(snapshot_ids, image_id)})

    def snapshots_gone(self, snapshot_ids: tuple[str, ...]) -> Record:
        return replace(self, snapshots={k: v for k, v in self.snapshots.items()
                                        if k not in snapshot_ids})

    def promotion_started(self, image_id: str, default_version: int) -> Record:
        return replace(self, promoting={"image": image_id, "from": str(default_version)})

    def promotion_ended(self) -> Record:
        return replace(self, promoting={})


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds")


def adoption_refused(record: Record, key: str, image: dict[str, Any]) -> str | None:
    """Why an image holding run `key`'s name is not this run's (None: it is, adopt it).

    It must be created after the record's start of the run (AWS reports CreationDate to the
    second, so the start is compared to the second) and before that run's invocation could
    have ended (RUN_SECONDS), and from the run's instance where AWS reports the source
    (`SourceInstanceId`). A run leaves its image pending to its event: the end bound stops
    an image made later under the same name (its own deregistered meanwhile) from passing
    for it.
    """
    run = record.runs.get(key)
    image_id = image.get("ImageId")
    if run is None:
        return f"image {image_id} holds run {key}'s name, but the record has no start of that run"
    created = datetime.fromisoformat(str(image["CreationDate"]))
    started = datetime.fromisoformat(run["started"]).replace(microsecond=0)
    last_attempt = datetime.fromisoformat(run.get("attempt", run["started"]))
    if created < started:
        return (f"image {image_id} holds run {key}'s name but was created at "
                f"{created.isoformat()}, before the run started ({run['started']})")
    if created > last_attempt + timedelta(seconds=RUN_SECONDS + 1):
        return (f"image {image_id} holds run {key}'s name but was created at "
                f"{created.isoformat()}, after that run had ended (its last attempt started "
                f"{run.get('attempt', run['started'])}; an invocation lasts at most "
                f"{RUN_SECONDS} s)")
    source = image.get("SourceInstanceId")
    if source and source != run["instance"]:
        return (f"image {image_id} holds run {key}'s name but was made from {source}, not from "
                f"the run's instance {run['instance']}")
    return None


def adopted(owned: Record, names: dict[str, str], described: Iterable[dict[str, Any]]
            ) -> tuple[Record, list[dict[str, Any]], list[str]]:
    """Adopt the described images that hold the name of a run the record started (`names`:
    image name -> run key) and that `adoption_refused` accepts: the record with them made,
    the adopted images, and why the others were refused.

    A run records its start before CreateImage and leaves its image, while pending, to be
    adopted here: by the image's own event, the next run, or teardown.
    """
    adopted_images: list[dict[str, Any]] = []
    refusals: list[str] = []
    for raw in described:
        key = names.get(str(raw.get("Name")))
        if key is None or owned.owns(str(raw["ImageId"])):
            continue
        refused = adoption_refused(owned, key, raw)
        if refused:
            refusals.append(refused)
            continue
        owned = owned.made(str(raw["ImageId"]), key)
        adopted_images.append(raw)
    return owned, adopted_images, refusals


class RecordForged(RuntimeError):
    """The record's value was not written by this backup's runner: nothing may act on it."""


def signed_message(name: str, version: int, body: str) -> bytes:
    """What the MAC covers: the parameter, the SSM version the value is written as, the record."""
    return f"amibackup-record\n{name}\n{version}\n{body}".encode()


def read(ssm: Any, name: str, seal: Seal) -> Record:
    """The record as the runner last wrote it; RecordForged when its MAC does not hold."""
    try:
        parameter = ssm.get_parameter(Name=name)["Parameter"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return Record()
        raise
    return _opened(parameter, name, seal)


def _opened(parameter: dict[str, Any], name: str, seal: Seal) -> Record:
    value, version = str(parameter["Value"]), int(parameter["Version"])
    try:
        envelope = json.loads(value)
        content, mac, signed_version = envelope["record"], envelope["mac"], envelope["version"]
        if not isinstance(content, dict) or not isinstance(mac, str) \
                or not isinstance(signed_version, int) or set(envelope) != ENVELOPE:
            raise TypeError
        body = _canonical(content)
    except (ValueError, KeyError, TypeError):
        return _unsigned(parameter, name, seal, value, version)
    if not seal.valid(signed_message(name, signed_version, body), mac):
        raise RecordForged(f"record {name} (version {version}) fails its MAC check: it was not "
                           "written by this backup's runner")
    if signed_version != version:
        raise RecordForged(f"record {name} was signed as version {signed_version} but AWS "
                           f"holds version {version}: someone put an old or copied value back")
    return replace(Record.from_json(body), version=version)


def _unsigned(parameter: dict[str, Any], name: str, seal: Seal, value: str,
              version: int) -> Record:
    """A record without a MAC: one written before its backup had a key (AWS's stamps tell),
    taken as it is once; anything later is forged."""
    written = parameter["LastModifiedDate"]
    if written < seal.created():
        return replace(Record.from_json(value), version=version)
    raise RecordForged(f"record {name} (version {version}, written {written.isoformat()}) "
                       "carries no MAC: it was not written by this backup's runner")


ENVELOPE = {"mac", "record", "version"}


def _canonical(content: Any) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"))


def write(ssm: Any, name: str, record: Record, seal: Seal) -> Record:
    """Sign and store `record` as the parameter's next version; that version's record.

    The value is `{"mac": ..., "record": {...}, "version": N}`; the MAC is over the record's
    canonical JSON (sorted keys, no spaces), which re-serialising the stored object yields.
    """
    body = record.to_json()
    version = record.version + 1
    envelope = _canonical({"record": json.loads(body), "version": version,
                           "mac": seal.mac(signed_message(name, version, body))})
    stored = int(ssm.put_parameter(Name=name, Value=envelope, Type="String", Overwrite=True,
                                   Tier=TIER, Description=DESCRIPTION)["Version"])
    if stored != version:  # someone wrote between our read and this write
        raise RecordForged(f"record {name} was rewritten by someone else while this run held "
                           f"it (AWS stored version {stored}, this run expected {version})")
    return replace(record, version=version)


def delete(ssm: Any, name: str) -> None:
    try:
        ssm.delete_parameter(Name=name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
