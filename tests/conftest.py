"""Shared fixtures: moto in-process for runner tests, a moto server for provider tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from moto import mock_aws

from amibackup import preview
from amibackup.runner.clients import Clients, forget_shared
from devkit.localaws.layers import install_layers
from devkit.localaws.server import FAKE_CREDENTIALS, moto_server, reset
from devkit.scenarios import DemoGroup, create_group, fake_credentials, signing_key
from tests.support.harness import ProviderClient, provider_process

REGION = "us-east-1"
# Backups the runner tests run without deploying them (each gets its signing key).
TEST_BACKUPS = ("b1", "h1", "log1", "other", "ops")

# Every test runs on the strict local AWS: moto plus the layers that refuse what AWS refuses
# (tests that show plain moto's answer uninstall them locally with `plain_moto()`).
install_layers()


def _fake_aws(monkeypatch: pytest.MonkeyPatch, endpoint: str | None = None) -> None:
    for key, value in fake_credentials(endpoint).items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials so nothing can reach a real account."""
    _fake_aws(monkeypatch)


@pytest.fixture(autouse=True)
def _cold_start() -> Iterator[None]:
    """Each test starts as a new Lambda sandbox and a new provider process would: the
    runner's cached clients and the provider's cached sessions and listings are dropped."""
    forget_shared()
    preview.forget()
    yield
    forget_shared()
    preview.forget()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 for a module's tests (reset it per test where needed)."""
    with moto_server() as url:
        yield url


@pytest.fixture
def server_aws(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Clients:
    """Clients of the module's moto server, emptied for this test (boto3 pointed at it).
    Nothing in it: what a test deploys makes its own signing keys."""
    reset(endpoint)
    _fake_aws(monkeypatch, endpoint)
    return Clients(REGION)


@pytest.fixture
def aws(server_aws: Clients) -> Clients:
    """`server_aws` with the signing keys of the backups runner tests run undeployed."""
    signing_key(server_aws, *TEST_BACKUPS)  # as deploying them would (the record is signed)
    return server_aws


@pytest.fixture(scope="module")
def provider(endpoint: str) -> Iterator[ProviderClient]:
    """The dynamic provider process, as the engine starts it, pointed at the moto server."""
    with provider_process({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}) as client:
        yield client


@pytest.fixture
def clients() -> Iterator[Clients]:
    """Clients of moto in-process, fresh for this test."""
    with mock_aws():
        clients = Clients(REGION)
        signing_key(clients, *TEST_BACKUPS)  # as deploying them would (the record is signed)
        yield clients


@pytest.fixture
def group(request: pytest.FixtureRequest) -> DemoGroup:
    """The group "web" (two instances) in the AWS the test uses: the moto server when the
    test asks for `aws`, else moto in-process (`clients`)."""
    source = "aws" if "aws" in request.fixturenames else "clients"
    return create_group(request.getfixturevalue(source), "web", size=2)


logging.getLogger("werkzeug").setLevel(logging.WARNING)
