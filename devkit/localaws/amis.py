"""What AWS does when an image is checked for use, protected, disabled and deregistered.

AWS rules this layer encodes (moto 5.2.5 lacks each one; RULES.md rows r18-1 to r18-5):

- `DescribeImageReferences` lists the account's resources that reference each image: EC2
  instances (option `state-name`, default all states), launch templates (option
  `version-depth`, the most recent N versions, default 10), Systems Manager parameters of data
  type `aws:ec2:image`, and Image Builder recipes (none here). At most 10 image ids per
  call. (EC2 API Reference, DescribeImageReferences, ResourceTypeRequest, ResourceTypeOption;
  EC2 User Guide, "Identify your resources referencing specified AMIs".) moto: not
  implemented.
- Deregistration protection: after `EnableImageDeregistrationProtection` a `DeregisterImage`
  is refused until `DisableImageDeregistrationProtection` (EC2 User Guide, "Protect an AMI
  from deregistration"). AWS does not document the error code; here `OperationNotPermitted`.
  moto: neither call exists, and every image can be deregistered.
- `DescribeImages` leaves out disabled images unless `IncludeDisabled` is true (EC2 API
  Reference, DescribeImages: "By default, disabled AMIs are not included in the response").
  moto lists them.
- `DeregisterImage` with `DeleteAssociatedSnapshots` deletes the image's snapshots and
  answers `DeleteSnapshotResults` with a `ReturnCode` per snapshot (`success`,
  `skipped`, `missing-permissions`, `internal-error`, `client-error`): a snapshot may remain
  (EC2 API Reference, DeregisterImage, DeleteSnapshotReturnCode). moto ignores the parameter.
- Right after deregistration a snapshot may still be "in use" for a while: `DeleteSnapshot`
  answers `InvalidSnapshot.InUse` (EC2 User Guide, "Delete an Amazon EBS snapshot": a
  snapshot used by a registered AMI cannot be deleted; deregistration is not instant).
  Opt in with `snapshots_stay(attempts)`: each snapshot of an image deregistered in the block
  refuses its next `attempts` deletions (`DeleteSnapshot` with InvalidSnapshot.InUse, a
  `DeleteAssociatedSnapshots` deletion with ReturnCode `client-error`). moto deletes it at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError, InvalidSnapshotInUse
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.responses.amis import AmisResponse

from devkit.localaws.layers import Patch

MAX_IDS = 10  # image ids per DescribeImageReferences call
DEFAULT_DEPTH = 10  # launch template versions checked, from the most recent
RESOURCE_TYPES = ("ec2:Instance", "ec2:LaunchTemplate", "ssm:Parameter",
                  "imagebuilder:ImageRecipe", "imagebuilder:ContainerRecipe")
_plain_describe_images = AmisResponse.describe_images
_plain_deregister_image = AmisResponse.deregister_image
_plain_delete_snapshot = EBSBackend.delete_snapshot
_lock = threading.RLock()
_protected: set[str] = set()  # image ids with deregistration protection
_stay: list[int] = []  # the attempts a snapshot refuses after deregistration (innermost last)
_refusals: dict[str, int] = {}  # snapshot id -> deletions it still refuses


class Refused(EC2ClientError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


@contextmanager
def snapshots_stay(attempts: int = 1) -> Iterator[None]:
    """Snapshots of images deregistered in the block refuse their next `attempts` deletions."""
    with _lock:
        _stay.append(attempts)
    try:
        yield
    finally:
        with _lock:
            _stay.pop()


def _options(request: dict[str, Any]) -> dict[str, list[str]]:
    return {o.get("OptionName", ""): list(o.get("OptionValues", []))
            for o in request.get("ResourceTypeOptions", [])}


def _arn(backend: Any, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{backend.region_name}:{backend.account_id}:{resource}"


def _instance_refs(backend: Any, ids: set[str], options: dict[str, list[str]]
                   ) -> list[dict[str, str]]:
    states = set(options.get("state-name", []))
    return [{"ImageId": i.image_id, "ResourceType": "ec2:Instance",
             "Arn": _arn(backend, "ec2", f"instance/{i.id}")}
            for i in backend.all_instances()
            if i.image_id in ids and (not states or i._state.name in states)]


def _template_refs(backend: Any, ids: set[str], options: dict[str, list[str]]
                   ) -> list[dict[str, str]]:
    depth = int((options.get("version-depth") or [str(DEFAULT_DEPTH)])[0])
    refs: list[dict[str, str]] = []
    for template in backend.launch_templates.values():
        recent = {v.data.get("ImageId") for v in template.versions[-depth:]}
        refs.extend({"ImageId": image, "ResourceType": "ec2:LaunchTemplate",
                     "Arn": _arn(backend, "ec2", f"launch-template/{template.id}")}
                    for image in sorted(ids & recent))
    return refs


def _parameter_refs(backend: Any, ids: set[str]) -> list[dict[str, str]]:
    from moto.ssm.models import ssm_backends

    ssm = ssm_backends[backend.account_id][backend.region_name]
    refs: list[dict[str, str]] = []
    for name, versions in list(ssm._parameters.items()):
        if versions and versions[-1].data_type == "aws:ec2:image" and versions[-1].value in ids:
            refs.append({"ImageId": versions[-1].value, "ResourceType": "ssm:Parameter",
                         "Arn": _arn(backend, "ssm", f"parameter/{name.lstrip('/')}")})
    return refs


def image_references(backend: Any, image_ids: list[str], requests: list[dict[str, Any]],
                     include_all: bool) -> list[dict[str, str]]:
    """The references AWS reports for `image_ids` (the response's ImageReferences)."""
    if not image_ids or len(image_ids) > MAX_IDS:
        raise Refused("InvalidParameterValue",
                      f"ImageIds: between 1 and {MAX_IDS} image ids are allowed per request")
    wanted = {r.get("ResourceType"): _options(r) for r in requests}
    if include_all:
        wanted = {t: wanted.get(t, {}) for t in RESOURCE_TYPES}
    if not wanted:
        raise Refused("MissingParameter", "specify ResourceTypes or IncludeAllResourceTypes")
    ids = set(image_ids)
    refs: list[dict[str, str]] = []
    if "ec2:Instance" in wanted:
        refs += _instance_refs(backend, ids, wanted["ec2:Instance"])
    if "ec2:LaunchTemplate" in wanted:
        refs += _template_refs(backend, ids, wanted["ec2:LaunchTemplate"])
    if "ssm:Parameter" in wanted:
        refs += _parameter_refs(backend, ids)
    return refs


def describe_image_references(self: AmisResponse) -> ActionResult:
    self.error_on_dryrun()
    refs = image_references(self.ec2_backend, self._get_param("ImageIds", []),
                            self._get_param("ResourceTypes", []),
                            bool(self._get_param("IncludeAllResourceTypes", False)))
    return ActionResult({"ImageReferences": refs})


def _known_image(backend: Any, image_id: str) -> None:
    if image_id not in backend.amis:
        raise Refused("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist")


def _set_protection(self: AmisResponse, enabled: bool) -> ActionResult:
    """Enable or Disable ImageDeregistrationProtection: the image must exist."""
    image_id = self._get_param("ImageId")
    _known_image(self.ec2_backend, image_id)
    with _lock:
        (_protected.add if enabled else _protected.discard)(image_id)
    return ActionResult({"Return": "enabled-without-cooldown" if enabled else "disabled"})


def enable_image_deregistration_protection(self: AmisResponse) -> ActionResult:
    return _set_protection(self, True)


def disable_image_deregistration_protection(self: AmisResponse) -> ActionResult:
    return _set_protection(self, False)


def describe_images(self: AmisResponse) -> ActionResult:
    """moto's answer without disabled images, unless IncludeDisabled is true."""
    result = _plain_describe_images(self)
    if not self._get_bool_param("IncludeDisabled", False):
        answer: dict[str, Any] = result.result  # type: ignore[assignment]
        images = [i for i in answer["Images"] if getattr(i, "state", "") != "disabled"]
        result = ActionResult({**answer, "Images": images})
    return result


def deregister_image(self: AmisResponse) -> ActionResult:
    """Refused under deregistration protection; deletes the snapshots when asked."""
    image_id = self._get_param("ImageId")
    with _lock:
        if image_id in _protected:
            raise Refused("OperationNotPermitted",
                          f"The image {image_id} has deregistration protection enabled; "
                          "disable it before deregistering the image")
    image = self.ec2_backend.amis.get(image_id)
    snapshots = [image.ebs_snapshot.id] if image is not None and image.ebs_snapshot else []
    result = _plain_deregister_image(self)
    with _lock:
        if _stay:
            _refusals.update({s: _stay[-1] for s in snapshots})
    if not self._get_bool_param("DeleteAssociatedSnapshots", False):
        return result
    outcomes = []
    for snapshot_id in snapshots:
        try:
            self.ec2_backend.delete_snapshot(snapshot_id)
            outcomes.append({"SnapshotId": snapshot_id, "ReturnCode": "success"})
        except EC2ClientError:
            outcomes.append({"SnapshotId": snapshot_id, "ReturnCode": "client-error"})
    answer: dict[str, Any] = result.result  # type: ignore[assignment]
    return ActionResult({**answer, "DeleteSnapshotResults": outcomes})


def delete_snapshot(self: EBSBackend, snapshot_id: str) -> Any:
    """Refused while a freshly deregistered image's snapshot is still "in use"."""
    with _lock:
        left = _refusals.get(snapshot_id, 0)
        if left > 0:
            _refusals[snapshot_id] = left - 1
            raise InvalidSnapshotInUse(snapshot_id, "a deregistered image (still releasing)")
        _refusals.pop(snapshot_id, None)
    return _plain_delete_snapshot(self, snapshot_id)


def patches() -> list[Patch]:
    return [Patch(AmisResponse, "describe_image_references", describe_image_references),
            Patch(AmisResponse, "enable_image_deregistration_protection",
                  enable_image_deregistration_protection),
            Patch(AmisResponse, "disable_image_deregistration_protection",
                  disable_image_deregistration_protection),
            Patch(AmisResponse, "describe_images", describe_images),
            Patch(AmisResponse, "deregister_image", deregister_image),
            Patch(EBSBackend, "delete_snapshot", delete_snapshot)]
