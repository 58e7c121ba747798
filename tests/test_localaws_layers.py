"""install_layers(): idempotent, reversible, and effective for both ways of running moto."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.ec2.models.amis import AMIS, AmiBackend
from moto.ec2.responses.launch_templates import LaunchTemplates

from amibackup.local.moto_server import FAKE_CREDENTIALS, moto_server
from devkit.localaws import layers


def test_install_is_idempotent_and_uninstall_restores_moto() -> None:
    was_installed = layers.installed()
    layers.uninstall_layers()
    plain_create = AmiBackend.create_image
    plain_describe = LaunchTemplates.describe_launch_template_versions
    try:
        layers.install_layers()
        strict_create = AmiBackend.create_image
        layers.install_layers()
        assert AmiBackend.create_image is strict_create
        assert strict_create is not plain_create and layers.installed()
        with layers.plain_moto():
            assert AmiBackend.create_image is plain_create and not layers.installed()
        assert AmiBackend.create_image is strict_create
        layers.uninstall_layers()
        assert AmiBackend.create_image is plain_create
        assert LaunchTemplates.describe_launch_template_versions is plain_describe
        assert not layers.installed()
    finally:
        if was_installed:
            layers.install_layers()


def test_layers_apply_to_a_threaded_moto_server(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    with layers.strict(), moto_server() as endpoint:
        ec2 = boto3.client("ec2", endpoint_url=endpoint)
        instance = ec2.run_instances(ImageId=AMIS[0]["ami_id"], MinCount=1, MaxCount=1)
        instance_id = instance["Instances"][0]["InstanceId"]
        ec2.create_image(InstanceId=instance_id, Name="served")
        with pytest.raises(ClientError) as refused:
            ec2.create_image(InstanceId=instance_id, Name="served")
        assert refused.value.response["Error"]["Code"] == "InvalidAMIName.Duplicate"
        with layers.plain_moto():
            ec2.create_image(InstanceId=instance_id, Name="served")  # plain moto: accepted
