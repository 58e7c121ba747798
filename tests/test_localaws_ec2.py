"""The strict local AWS's EC2 layers: each test shows plain moto's answer, then AWS's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from moto import mock_aws
from moto.ec2.models.amis import AMIS

from devkit.localaws import ec2 as strict_ec2
from devkit.localaws.launch_templates import REALISTIC_VALUES, response_only_fields
from devkit.localaws.layers import plain_moto, strict

IMDSV2_DATA = {
    "ImageId": AMIS[0]["ami_id"], "InstanceType": "t3.small", "UserData": "ZWNobyBoaQ==",
    "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
    "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "app", "Value": "web"}]}],
}


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws(), strict():
        yield boto3.client("ec2", region_name="us-east-1")


@pytest.fixture
def instance_id(ec2: Any) -> str:
    reservation = ec2.run_instances(ImageId=AMIS[0]["ami_id"], MinCount=1, MaxCount=1)
    return str(reservation["Instances"][0]["InstanceId"])


def _version_data(ec2: Any, version: str) -> dict[str, Any]:
    answer = ec2.describe_launch_template_versions(LaunchTemplateName="web-lt",
                                                   Versions=[version])
    return dict(answer["LaunchTemplateVersions"][0]["LaunchTemplateData"])


def test_source_version_is_inherited_then_overridden(ec2: Any) -> None:
    ec2.create_launch_template(LaunchTemplateName="web-lt", LaunchTemplateData=IMDSV2_DATA)
    with plain_moto():
        ec2.create_launch_template_version(
            LaunchTemplateName="web-lt", SourceVersion="1",
            LaunchTemplateData={"ImageId": "ami-00000000000000002"})
        assert _version_data(ec2, "2") == {"ImageId": "ami-00000000000000002"}
    ec2.create_launch_template_version(
        LaunchTemplateName="web-lt", SourceVersion="1",
        LaunchTemplateData={"ImageId": "ami-00000000000000003",
                            "MetadataOptions": {"HttpTokens": "optional"}})
    third = _version_data(ec2, "3")
    assert third["ImageId"] == "ami-00000000000000003"
    assert third["UserData"] == IMDSV2_DATA["UserData"]
    assert third["TagSpecifications"] == IMDSV2_DATA["TagSpecifications"]
    # a top-level key replaces the source's whole value: HttpEndpoint is not inherited
    assert {k: v for k, v in third["MetadataOptions"].items() if k != "State"} == {
        "HttpTokens": "optional"}


def test_unknown_source_version_is_refused(ec2: Any) -> None:
    ec2.create_launch_template(LaunchTemplateName="web-lt", LaunchTemplateData=IMDSV2_DATA)
    with pytest.raises(ClientError) as refused:
        ec2.create_launch_template_version(LaunchTemplateName="web-lt", SourceVersion="9",
                                           LaunchTemplateData={"ImageId": "ami-1"})
    assert refused.value.response["Error"]["Code"] == "InvalidLaunchTemplateId.VersionNotFound"


def test_describe_answer_fed_back_is_refused_by_botocore(ec2: Any) -> None:
    ec2.create_launch_template(LaunchTemplateName="web-lt", LaunchTemplateData=IMDSV2_DATA)
    with plain_moto():
        echoed = _version_data(ec2, "1")
        ec2.create_launch_template_version(LaunchTemplateName="web-lt",
                                           LaunchTemplateData=echoed)  # plain moto: fine
    described = _version_data(ec2, "1")
    assert described["MetadataOptions"]["State"] == "applied"
    with pytest.raises(ParamValidationError, match='MetadataOptions: "State"'):
        ec2.create_launch_template_version(LaunchTemplateName="web-lt",
                                           LaunchTemplateData=described)


def test_response_only_fields_come_from_the_service_model() -> None:
    fields = response_only_fields()
    assert ("MetadataOptions", "State") in fields
    assert set(REALISTIC_VALUES) <= set(fields), "a realistic value names no model member"
    assert all(path[-1] != "ImageId" for path in fields)  # request members are never added


def test_snapshot_tag_specifications(ec2: Any, instance_id: str) -> None:
    specs = [{"ResourceType": "image", "Tags": [{"Key": "amibackup:backup", "Value": "b1"}]},
             {"ResourceType": "snapshot", "Tags": [{"Key": "amibackup:backup", "Value": "b1"}]}]
    with plain_moto(), pytest.raises(NotImplementedError):
        ec2.create_image(InstanceId=instance_id, Name="img-plain", TagSpecifications=specs)
    image_id = ec2.create_image(InstanceId=instance_id, Name="img-strict",
                                TagSpecifications=specs)["ImageId"]
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    snapshot = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert snapshot["Tags"] == [{"Key": "amibackup:backup", "Value": "b1"}]
    assert image["Tags"] == [{"Key": "amibackup:backup", "Value": "b1"}]


def test_duplicate_image_name_is_refused(ec2: Any, instance_id: str) -> None:
    with plain_moto():
        ec2.create_image(InstanceId=instance_id, Name="twice-plain")
        ec2.create_image(InstanceId=instance_id, Name="twice-plain")  # plain moto: accepted
    first = ec2.create_image(InstanceId=instance_id, Name="twice")["ImageId"]
    with pytest.raises(ClientError) as refused:
        ec2.create_image(InstanceId=instance_id, Name="twice")
    assert refused.value.response["Error"]["Code"] == "InvalidAMIName.Duplicate"
    assert refused.value.response["Error"]["Message"] == (
        f"AMI name twice is already in use by AMI {first}")
    ec2.deregister_image(ImageId=first)
    ec2.create_image(InstanceId=instance_id, Name="twice")  # free again once deregistered


def test_image_name_and_description_follow_createimage_constraints(ec2: Any,
                                                                  instance_id: str) -> None:
    """Rule t18-1: names of 3-128 allowed characters, descriptions of at most 255."""
    long_text = "d" * 256
    with plain_moto():
        ec2.create_image(InstanceId=instance_id, Name="n,1", Description=long_text)
        ec2.create_image(InstanceId=instance_id, Name="n" * 129)
    for name, description, code in (("ok-name", long_text, "InvalidParameterValue"),
                                    ("n" * 129, "", "InvalidAMIName.Malformed"),
                                    ("a,b", "", "InvalidAMIName.Malformed")):
        with pytest.raises(ClientError) as refused:
            ec2.create_image(InstanceId=instance_id, Name=name, Description=description)
        assert refused.value.response["Error"]["Code"] == code
    ec2.create_image(InstanceId=instance_id, Name="x(1) [a]/b'c@d_e.f", Description="d" * 255)


def test_images_stay_pending_until_released(ec2: Any, instance_id: str) -> None:
    events: list[dict[str, Any]] = []
    unsubscribe = strict_ec2.on_ami_event(events.append)
    try:
        with strict_ec2.images_pending() as hold:
            good = ec2.create_image(InstanceId=instance_id, Name="good")["ImageId"]
            bad = ec2.create_image(InstanceId=instance_id, Name="bad")["ImageId"]
        assert hold.image_ids == [good, bad]
        states = {i["ImageId"]: i["State"] for i in
                  ec2.describe_images(ImageIds=[good, bad])["Images"]}
        assert states == {good: "pending", bad: "pending"}
        assert events == []
        assert strict_ec2.release_images([good]) == [good]
        assert strict_ec2.release_images([bad], state="failed") == [bad]
        ec2.get_waiter("image_available").wait(ImageIds=[good])
        assert ec2.describe_images(ImageIds=[bad])["Images"][0]["State"] == "failed"
    finally:
        unsubscribe()
    assert [(e["detail"]["ImageId"], e["detail"]["State"]) for e in events] == [
        (good, "available"), (bad, "failed")]
    event = events[0]
    assert event["source"] == "aws.ec2" and event["detail-type"] == "EC2 AMI State Change"
    assert event["resources"] == [f"arn:aws:ec2:us-east-1::image/{good}"]
    assert (event["account"], event["region"]) == ("123456789012", "us-east-1")
    assert event["detail"]["ErrorReason"] == "" and events[1]["detail"]["ErrorReason"]


def test_timed_hold_releases_by_itself(ec2: Any, instance_id: str) -> None:
    with strict_ec2.images_pending(seconds=0):
        image_id = ec2.create_image(InstanceId=instance_id, Name="timed")["ImageId"]
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"] == "available"


def test_plain_moto_images_are_available_at_once(ec2: Any, instance_id: str) -> None:
    with plain_moto(), strict_ec2.images_pending():
        image_id = ec2.create_image(InstanceId=instance_id, Name="instant")["ImageId"]
        assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"] == "available"
