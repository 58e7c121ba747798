"""RULES.md o15-1: a KMS key's policy decides who may use it (plain moto: anyone may)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from amibackup.provision.policy import Scope
from amibackup.provision.record_key import key_policy
from amibackup.runner.clients import Clients
from devkit.localaws.iam_enforce import enforce

ACCOUNT = "123456789012"
RUNNER = f"arn:aws:iam::{ACCOUNT}:role/amibackup-b1-run"
RUNNER_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/amibackup-b1-run/amibackup-b1"
COLLEAGUE = f"arn:aws:iam::{ACCOUNT}:user/colleague"
EVERYTHING = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
NOTHING = {"Version": "2012-10-17", "Statement": []}


@pytest.fixture
def key() -> Iterator[str]:
    with mock_aws():
        policy = key_policy(Scope("aws", "us-east-1", ACCOUNT, "b1", "web", "lt-1"), RUNNER)
        made = Clients("us-east-1")("kms").create_key(
            KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Policy=json.dumps(policy))
        yield str(made["KeyMetadata"]["KeyId"])


def sign(key: str) -> bytes:
    return bytes(Clients("us-east-1")("kms").generate_mac(
        KeyId=key, Message=b"record", MacAlgorithm="HMAC_SHA_256")["Mac"])


def test_plain_moto_lets_anyone_sign(key):
    assert sign(key)  # no principal is named: moto checks no key policy for GenerateMac


def test_only_the_principal_the_key_policy_names_may_sign(key):
    with enforce(EVERYTHING, principal=COLLEAGUE), pytest.raises(ClientError) as denied:
        sign(key)  # kms:* in their IAM policy: the account statement has no GenerateMac
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    with enforce(NOTHING, principal=RUNNER_SESSION) as enforcer:
        mac = sign(key)  # named by the key policy: no IAM statement needed
    assert mac and enforcer.denied() == []


def test_the_account_statement_lets_iam_policies_decide(key):
    def verify() -> bool:
        return bool(Clients("us-east-1")("kms").verify_mac(
            KeyId=key, Message=b"record", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"])

    mac = sign(key)
    with enforce(EVERYTHING, principal=COLLEAGUE):
        assert verify()
    with enforce(NOTHING, principal=COLLEAGUE), pytest.raises(ClientError) as denied:
        verify()
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
