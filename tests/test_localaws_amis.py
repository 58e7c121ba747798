"""Strict local AWS: image references, deregistration protection, disabled images, snapshots
deleted with (or briefly in use after) their image (devkit/localaws/amis.py, RULES r18-1..5).

Each test makes the same calls on plain moto (`plain_moto()`) and shows it answers otherwise.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from devkit.localaws import amis
from devkit.localaws.layers import plain_moto
from devkit.scenarios import group_instances

ALL_TYPES = [{"ResourceType": t} for t in amis.RESOURCE_TYPES]


def _image(clients, group, name: str) -> str:
    instance = group_instances(clients, group.group_name)[0]["InstanceId"]
    return str(clients("ec2").create_image(InstanceId=instance, Name=name)["ImageId"])


def _snapshots(clients, image_id: str) -> list[str]:
    (image,) = clients("ec2").describe_images(ImageIds=[image_id])["Images"]
    return [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]


def _snapshot_ids(clients) -> set[str]:
    return {s["SnapshotId"] for s in
            clients("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def test_image_references_name_instances_templates_and_parameters(clients, group):
    """r18-1: DescribeImageReferences; plain moto does not implement it."""
    ec2 = clients("ec2")
    image = _image(clients, group, "referenced")
    with plain_moto(), pytest.raises(Exception):  # noqa: B017 - moto: not implemented (500)
        ec2.describe_image_references(ImageIds=[image], ResourceTypes=ALL_TYPES)
    assert ec2.describe_image_references(ImageIds=[image], ResourceTypes=ALL_TYPES)[
        "ImageReferences"] == []
    template = ec2.create_launch_template(LaunchTemplateName="other", LaunchTemplateData={
        "ImageId": image})["LaunchTemplate"]["LaunchTemplateId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    clients("ssm").put_parameter(Name="/ami/web", Value=image, Type="String",
                                 DataType="aws:ec2:image")
    clients("ssm").put_parameter(Name="/just/text", Value=image, Type="String")  # not aws:ec2:image
    refs = ec2.describe_image_references(ImageIds=[image], ResourceTypes=ALL_TYPES)[
        "ImageReferences"]
    assert sorted(r["Arn"].split(":", 5)[5] for r in refs) == sorted([
        f"instance/{instance['InstanceId']}", f"launch-template/{template}", "parameter/ami/web"])
    # The group's instances run the group's base image: referenced too (every state asked).
    base = ec2.describe_image_references(ImageIds=[group.base_image], ResourceTypes=[
        {"ResourceType": "ec2:Instance"}])["ImageReferences"]
    assert len(base) == 2
    stopped_only = ec2.describe_image_references(ImageIds=[group.base_image], ResourceTypes=[
        {"ResourceType": "ec2:Instance", "ResourceTypeOptions": [
            {"OptionName": "state-name", "OptionValues": ["stopped"]}]}])["ImageReferences"]
    assert stopped_only == []
    with pytest.raises(ClientError, match="between 1 and 10"):
        ec2.describe_image_references(ImageIds=[image] * 11, ResourceTypes=ALL_TYPES)


def test_launch_template_references_look_back_version_depth_versions(clients, group):
    ec2 = clients("ec2")
    image = _image(clients, group, "old-version")
    template = ec2.create_launch_template(LaunchTemplateName="deep", LaunchTemplateData={
        "ImageId": image})["LaunchTemplate"]["LaunchTemplateId"]
    for _ in range(10):  # ten newer versions: the default depth (10) no longer reaches v1
        ec2.create_launch_template_version(LaunchTemplateId=template, SourceVersion="1",
                                           LaunchTemplateData={"ImageId": group.base_image})
    lt = [{"ResourceType": "ec2:LaunchTemplate"}]
    assert ec2.describe_image_references(ImageIds=[image], ResourceTypes=lt)[
        "ImageReferences"] == []
    deeper = [{"ResourceType": "ec2:LaunchTemplate", "ResourceTypeOptions": [
        {"OptionName": "version-depth", "OptionValues": ["11"]}]}]
    assert len(ec2.describe_image_references(ImageIds=[image], ResourceTypes=deeper)[
        "ImageReferences"]) == 1


def test_deregistration_protection_refuses_deregister_image(clients, group):
    """r18-2: moto has neither call, and deregisters any image."""
    ec2 = clients("ec2")
    image = _image(clients, group, "protected")
    with plain_moto(), pytest.raises(Exception):  # noqa: B017 - not implemented
        ec2.enable_image_deregistration_protection(ImageId=image)
    ec2.enable_image_deregistration_protection(ImageId=image)
    with pytest.raises(ClientError, match="deregistration protection"):
        ec2.deregister_image(ImageId=image)
    ec2.disable_image_deregistration_protection(ImageId=image)
    ec2.deregister_image(ImageId=image)


def test_disabled_images_are_left_out_unless_include_disabled(clients, group):
    """r18-3: plain moto lists a disabled image as if nothing happened."""
    ec2 = clients("ec2")
    image = _image(clients, group, "disabled")
    ec2.disable_image(ImageId=image)
    mine = {"Owners": ["self"], "Filters": [{"Name": "image-id", "Values": [image]}]}
    with plain_moto():
        assert [i["State"] for i in ec2.describe_images(**mine)["Images"]] == ["disabled"]
    assert ec2.describe_images(**mine)["Images"] == []
    assert [i["State"] for i in ec2.describe_images(**mine, IncludeDisabled=True)[
        "Images"]] == ["disabled"]


def test_deregister_image_deletes_associated_snapshots_when_asked(clients, group):
    """r18-4: plain moto ignores DeleteAssociatedSnapshots (the snapshot stays)."""
    ec2 = clients("ec2")
    plain_image = _image(clients, group, "plain-moto")
    (plain_snap,) = _snapshots(clients, plain_image)
    with plain_moto():
        answer = ec2.deregister_image(ImageId=plain_image, DeleteAssociatedSnapshots=True)
    assert "DeleteSnapshotResults" not in answer and plain_snap in _snapshot_ids(clients)
    image = _image(clients, group, "strict")
    (snap,) = _snapshots(clients, image)
    answer = ec2.deregister_image(ImageId=image, DeleteAssociatedSnapshots=True)
    assert answer["DeleteSnapshotResults"] == [{"SnapshotId": snap, "ReturnCode": "success"}]
    assert snap not in _snapshot_ids(clients)


def test_a_snapshot_can_stay_in_use_for_a_while_after_deregistration(clients, group):
    """r18-5: opt-in; plain moto deletes the snapshot of a deregistered image at once."""
    ec2 = clients("ec2")
    image = _image(clients, group, "in-use")
    (snap,) = _snapshots(clients, image)
    with amis.snapshots_stay(attempts=2):
        answer = ec2.deregister_image(ImageId=image, DeleteAssociatedSnapshots=True)
    assert answer["DeleteSnapshotResults"] == [{"SnapshotId": snap, "ReturnCode": "client-error"}]
    with pytest.raises(ClientError, match="InvalidSnapshot.InUse"):
        ec2.delete_snapshot(SnapshotId=snap)
    ec2.delete_snapshot(SnapshotId=snap)  # the third attempt: released
    assert snap not in _snapshot_ids(clients)
    other = _image(clients, group, "in-use-plain")
    (other_snap,) = _snapshots(clients, other)
    with plain_moto(), amis.snapshots_stay(attempts=2):
        ec2.deregister_image(ImageId=other)
        ec2.delete_snapshot(SnapshotId=other_snap)
    assert other_snap not in _snapshot_ids(clients)
