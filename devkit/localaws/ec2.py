"""CreateImage as AWS does it: snapshot tags, unique names, images that take a while.

AWS rules this layer encodes (moto lacks each one):

- `TagSpecifications` with ResourceType `snapshot` tags the image's snapshots ("To tag the
  snapshots that are created of the root volume and of other Amazon EBS volumes that are
  attached to the instance ... the value for ResourceType must be snapshot", EC2 API
  Reference, CreateImage). moto raises NotImplementedError.
- An AMI name is unique per account and region: CreateImage with a name that an image of the
  account already has is refused with `InvalidAMIName.Duplicate` ("AMI name NAME is already in
  use by AMI ID"; EC2 API error codes). moto accepts it.
- A new image is `pending` for minutes before it becomes `available` (or `failed`); EC2 then
  emits an `EC2 AMI State Change` event to EventBridge (EC2 User Guide, "Monitor AMI events
  using EventBridge"). moto makes images `available` at once and emits nothing. Here images
  stay `pending` inside `images_pending()` until they are released, and each release calls the
  listeners registered with `on_ami_event()`.
- An AMI name is 3 to 128 characters of letters, numbers, `( ) [ ] . / - ' @ _` and spaces
  ("Constraints: 3-128 alphanumeric characters, parentheses (()), square brackets ([]), spaces
  ( ), periods (.), slashes (/), dashes (-), single quotes ('), at-signs (@), or underscores(_)",
  EC2 API Reference, CreateImage `Name`): `InvalidAMIName.Malformed`. A description holds at
  most 255 characters (CreateImage `Description`: "Constraints: Up to 255 characters"):
  `InvalidParameterValue`. moto accepts any name and description.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami, AmiBackend

from devkit.localaws.layers import Patch

AmiEvent = dict[str, Any]
_plain_create_image = AmiBackend.create_image
_plain_describe_images = AmiBackend.describe_images
_lock = threading.RLock()
_listeners: list[Callable[[AmiEvent], None]] = []


@dataclass
class Hold:
    """Images made inside images_pending(): `pending` until released, or for `seconds`."""

    seconds: float | None
    image_ids: list[str]


_hold: Hold | None = None
_held: dict[str, tuple[str, str, float | None]] = {}  # image id -> account, region, deadline


AMI_NAME = re.compile(r"[A-Za-z0-9()\[\] ./'@_-]{3,128}")
DESCRIPTION_MAX = 255


def check_image_request(name: str, description: str | None) -> None:
    """CreateImage's name and description constraints, as AWS refuses them."""
    if not AMI_NAME.fullmatch(name or ""):
        raise EC2ClientError(
            "InvalidAMIName.Malformed",
            f"AMI names must be between 3 and 128 characters long, and may contain letters, "
            f"numbers, '(', ')', '.', '-', '/' and '_'; got {name!r}")
    if description and len(description) > DESCRIPTION_MAX:
        raise EC2ClientError(
            "InvalidParameterValue",
            f"Value ({description[:40]}...) for parameter description is invalid. Length "
            f"exceeds maximum of {DESCRIPTION_MAX} characters ({len(description)})")


class DuplicateAmiName(EC2ClientError):
    """AWS's answer to CreateImage with a name the account already uses."""

    code = "InvalidAMIName.Duplicate"

    def __init__(self, name: str, image_id: str) -> None:
        super().__init__(self.code, f"AMI name {name} is already in use by AMI {image_id}")


def on_ami_event(callback: Callable[[AmiEvent], None]) -> Callable[[], None]:
    """Call `callback` with each EC2 AMI State Change event; returns the unsubscribe."""
    with _lock:
        _listeners.append(callback)

    def unsubscribe() -> None:
        with _lock:
            if callback in _listeners:
                _listeners.remove(callback)
    return unsubscribe


@contextmanager
def images_pending(seconds: float | None = None) -> Iterator[Hold]:
    """Keep images created in the block `pending`: for `seconds`, or until release_images().

    Yields the hold, whose `image_ids` lists the images it made so far. Images still held
    when the block ends stay `pending` until released.
    """
    global _hold
    hold = Hold(seconds, [])
    with _lock:
        previous, _hold = _hold, hold
    try:
        yield hold
    finally:
        with _lock:
            _hold = previous


def release_images(image_ids: list[str] | None = None, state: str = "available",
                   reason: str = "") -> list[str]:
    """End the `pending` state of held images (all when None); returns the ids released."""
    if state not in ("available", "failed"):
        raise ValueError(f"state: {state!r} is not 'available' or 'failed'")
    with _lock:
        chosen = [i for i in _held if image_ids is None or i in image_ids]
        released = [(i, *_held.pop(i)[:2]) for i in chosen]
    events = [event for image_id, account, region in released
              if (event := _finish(image_id, account, region, state, reason)) is not None]
    for event in events:
        for listener in tuple(_listeners):  # a listener may unsubscribe
            listener(event)
    return [event["detail"]["ImageId"] for event in events]


def _finish(image_id: str, account: str, region: str, state: str,
            reason: str) -> AmiEvent | None:
    """Move a still-existing image to its final state; the event AWS would emit, or None."""
    image = ec2_backends[account][region].amis.get(image_id)
    if image is None or image.state != "pending":
        return None  # deregistered meanwhile, or the emulator was reset
    image.state = state
    image.ebs_snapshot.status = "completed" if state == "available" else "error"
    error = reason or ("" if state == "available" else "Client.InternalError: image failed")
    return ami_state_change_event(image, account, region, state, error)


def ami_state_change_event(image: Ami, account: str, region: str, state: str,
                           error_reason: str) -> AmiEvent:
    """The EventBridge event EC2 sends for an AMI state change (EC2 User Guide's example)."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "EC2 AMI State Change",
        "source": "aws.ec2", "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
        "resources": [f"arn:aws:ec2:{region}::image/{image.id}"],
        "detail": {"RequestId": str(uuid.uuid4()), "ImageId": image.id, "State": state,
                   "ErrorReason": error_reason},
    }


def _release_expired() -> None:
    """Release held images whose time is up (so describe calls and waiters see it)."""
    now = time.monotonic()
    with _lock:
        expired = [i for i, (_, _, deadline) in _held.items()
                   if deadline is not None and deadline <= now]
    if expired:
        release_images(expired)


def create_image(self: AmiBackend, instance_id: str, name: str, description: str,
                 tag_specifications: list[dict[str, Any]]) -> Ami:
    """Refuse a malformed or duplicate name or a long description, tag the snapshots, and
    hold the image when asked."""
    check_image_request(name, description)
    for image in self.amis.values():
        if image.name == name and image.owner_id == self.account_id:  # type: ignore[attr-defined]
            raise DuplicateAmiName(name, image.id)
    snapshot_tags = {tag["Key"]: tag["Value"] for spec in tag_specifications
                     if spec["ResourceType"] == "snapshot" for tag in spec.get("Tags", [])}
    other_specs = [spec for spec in tag_specifications if spec["ResourceType"] != "snapshot"]
    image = _plain_create_image(self, instance_id, name, description, other_specs)
    if snapshot_tags:
        self.create_tags([image.ebs_snapshot.id], snapshot_tags)  # type: ignore[attr-defined]
    with _lock:
        if _hold is not None:
            account, region = self.account_id, self.region_name  # type: ignore[attr-defined]
            image.state = "pending"
            image.ebs_snapshot.status = "pending"
            deadline = None if _hold.seconds is None else time.monotonic() + _hold.seconds
            _held[image.id] = (account, region, deadline)
            _hold.image_ids.append(image.id)
    return image


def describe_images(self: AmiBackend, *args: Any, **kwargs: Any) -> list[Ami]:
    """moto's describe, after releasing images whose hold has expired."""
    _release_expired()
    return _plain_describe_images(self, *args, **kwargs)


def patches() -> list[Patch]:
    return [Patch(AmiBackend, "create_image", create_image),
            Patch(AmiBackend, "describe_images", describe_images)]
