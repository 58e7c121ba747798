"""Shared fixtures: moto in-process for runner tests, a moto server for provider tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from moto import mock_aws

from amibackup.local.moto_server import FAKE_CREDENTIALS, moto_server
from amibackup.local.seed import DemoGroup, create_group
from amibackup.runner.clients import Clients
from tests.harness import ProviderClient, provider_process

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials so nothing can reach a real account."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 for a module's tests (reset it per test where needed)."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def provider(endpoint: str) -> Iterator[ProviderClient]:
    """The dynamic provider process, as the engine starts it, pointed at the moto server."""
    with provider_process({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}) as client:
        yield client


@pytest.fixture
def clients() -> Iterator[Clients]:
    with mock_aws():
        yield Clients(REGION)


@pytest.fixture
def group(clients: Clients) -> DemoGroup:
    return create_group(clients, "web", size=2)


logging.getLogger("werkzeug").setLevel(logging.WARNING)
