"""install_layers(): idempotent, reversible, and effective for both ways of running moto."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.ec2.models.amis import AMIS, AmiBackend
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.server import ThreadedMotoServer

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


def test_layers_apply_to_a_threaded_moto_server() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        _duplicate_name_refused_then_accepted(f"http://{host}:{port}")
        with layers.strict():  # a route the layer adds, served over HTTP too
            settings = boto3.client("lambda", endpoint_url=f"http://{host}:{port}")
            assert settings.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 1000
    finally:
        server.stop()


def _duplicate_name_refused_then_accepted(endpoint: str) -> None:
    """Over HTTP: refused by the strict layer, accepted by plain moto."""
    with layers.strict():
        ec2 = boto3.client("ec2", endpoint_url=endpoint)
        instance = ec2.run_instances(ImageId=AMIS[0]["ami_id"], MinCount=1, MaxCount=1)
        instance_id = instance["Instances"][0]["InstanceId"]
        ec2.create_image(InstanceId=instance_id, Name="served")
        with pytest.raises(ClientError) as refused:
            ec2.create_image(InstanceId=instance_id, Name="served")
        assert refused.value.response["Error"]["Code"] == "InvalidAMIName.Duplicate"
        with layers.plain_moto():
            ec2.create_image(InstanceId=instance_id, Name="served")  # plain moto: accepted
