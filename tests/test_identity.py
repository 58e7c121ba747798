"""Which account and region: pulumi_aws's config rules, pure."""

from __future__ import annotations

from amibackup.identity import (
    AssumeRole,
    AwsSettings,
    from_props,
    from_stack_config,
    recorded_region,
    region_for,
)
from amibackup.messages import engine_address


def test_stack_config_as_pulumi_aws_spells_it() -> None:
    config = {"aws:region": "eu-west-1", "aws:profile": "prod",
              "aws:assumeRoles": '[{"roleArn": "arn:aws:iam::1:role/a", "sessionName": "ci"},'
                                 ' {"roleArn": "arn:aws:iam::2:role/b", "externalId": "x"}]'}
    settings = from_stack_config(config.get)
    assert settings == AwsSettings("eu-west-1", "prod", (
        AssumeRole("arn:aws:iam::1:role/a", "ci"),
        AssumeRole("arn:aws:iam::2:role/b", "amibackup", "x")))
    single = from_stack_config({"aws:assumeRole": '{"roleArn": "arn:aws:iam::1:role/a"}'}.get)
    assert single.assume_roles == (AssumeRole("arn:aws:iam::1:role/a"),)
    assert from_stack_config({}.get) == AwsSettings()


def test_region_precedence_and_the_recorded_region() -> None:
    stack = AwsSettings(region="us-east-1")
    explicit = {"aws_identity": {"region": "eu-west-1"}}
    assert region_for({}, stack) == "us-east-1"
    assert region_for(explicit, stack) == "eu-west-1"
    assert region_for({**explicit, "region": "ap-south-1"}, stack) == "ap-south-1"
    # Once created, the recorded region wins over every later setting.
    assert recorded_region({**explicit, "resolved_region": "us-west-2"}, stack) == "us-west-2"
    assert from_props(None) is None and from_props(explicit["aws_identity"]) == AwsSettings(
        "eu-west-1")


def test_engine_address_is_the_plugins_last_plain_argument() -> None:
    assert engine_address(["python", "127.0.0.1:40123"]) == "127.0.0.1:40123"
    assert engine_address(["python", "--logtostderr", "-v=9", "127.0.0.1:1"]) == "127.0.0.1:1"
    assert engine_address(["python"]) is None
