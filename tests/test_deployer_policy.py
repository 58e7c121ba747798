"""The deployer under the shipped policy: every provider hook, as the engine drives it.

The provider process runs under `policies/deployer.json`, enforced by the local AWS's IAM
evaluator (`devkit.localaws.enforced_provider`), and records every authorization its AWS
calls need. The calls are not listed here: whatever a hook calls today (also calls other
changes add) is checked, and an operation the evaluator cannot map fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from amibackup.names import TAG_STACK
from amibackup.provision import iam, policy
from amibackup.runner.clients import Clients
from devkit.localaws.enforced_provider import POLICY_VAR, PRINCIPAL_TAGS_VAR, RECORDING_VAR
from devkit.localaws.server import FAKE_CREDENTIALS
from devkit.scenarios import Leftovers, backup_snapshots, default_image, images_made, leftovers
from tests.support.harness import ProviderClient, provider_process

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "policies" / "deployer.json"
STACK = "shop/prod"  # the deployer identity's amibackup:stack tag
OWNER = f"{STACK}/web-backup"  # what AmiAutoBackup sets: project/stack/resource name


def make_boundary(aws: Clients) -> str:
    """What an administrator does once per account (README, 'Deployer policy')."""
    arn = policy.boundary_arn("aws", "123456789012")
    assert iam.ensure_boundary(aws("iam"), arn, policy.boundary_policy("aws", "*"), "") is None
    return arn


def recorded(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    return tmp_path / "calls.jsonl"


@pytest.fixture
def deployer(endpoint: str, recording: Path) -> Iterator[ProviderClient]:
    """The provider process under the shipped deployer policy, recording its calls."""
    env = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, POLICY_VAR: str(SHIPPED),
           RECORDING_VAR: str(recording), PRINCIPAL_TAGS_VAR: json.dumps({TAG_STACK: STACK})}
    with provider_process(env, module="devkit.localaws.enforced_provider") as client:
        yield client


def inputs(**overrides: object) -> dict[str, object]:
    return {"backup_name": "web-backup", "group_name": "web", "frequency": "hourly",
            "retention": 2, "owner": OWNER, **overrides}


def checked(provider: ProviderClient, **overrides: object) -> dict[str, object]:
    news, failures = provider.check(inputs(**overrides))
    assert failures == []
    return news


def test_every_hook_passes_under_the_shipped_deployer_policy(deployer, aws, group, recording):
    """check, diff, create, update, read (refresh) and delete: no call is denied."""
    make_boundary(aws)
    news = checked(deployer, tags={"team": "web"})
    id_, outs = deployer.create(news)
    made = images_made(aws, id_, 3)  # the runner's own images, for refresh and delete
    assert deployer.diff(id_, outs, checked(deployer, frequency="daily")).changes == 2
    updated = deployer.update(id_, outs, checked(deployer, frequency="daily", retention=3))
    read_id, live = deployer.read(id_, updated)  # pulumi refresh
    assert read_id == id_ and live["latest_image_id"] == made[-1]
    assert live["role_arn"] == outs["role_arn"]  # the roles' policies were read, not guessed
    role = aws("iam").get_role(RoleName=f"amibackup-{id_}-run")["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == make_boundary(aws)
    assert {"Key": TAG_STACK, "Value": STACK} in role["Tags"]
    images = aws("ec2").describe_images(ImageIds=[i for i in made if i])["Images"]
    assert all({"Key": TAG_STACK, "Value": STACK} in i["Tags"] for i in images)
    snapshots = backup_snapshots(aws, id_)
    deployer.delete(id_, live)

    calls = recorded(recording)
    assert [c for c in calls if "unmapped" in c] == []
    denied = [c for c in calls if c.get("effect") != "Allow"]
    assert denied == [], "the shipped deployer policy refuses calls the provider makes"
    made_calls = {c["call"] for c in calls}
    assert {"iam:GetRolePolicy", "iam:CreateRole", "lambda:CreateFunction",
            "scheduler:UpdateSchedule", "ec2:DeregisterImage", "iam:DeleteRole"} <= made_calls
    used = {c["statement"] for c in calls}
    assert {"CreateRolesInBoundary", "RolePoliciesInBoundary", "PassRolesOfStack",
            "CreateFunctionsOfStack", "FunctionsOfStack", "DeleteStackImages",
            "DeleteRolesOfStack"} <= used
    # Least privilege, measured: every grant is used by these hooks except the paths they do
    # not take: images and roles made before the stack tag existed, an image kept at delete.
    granted = {st["Sid"] for st in json.loads(SHIPPED.read_text())["Statement"]
               if st["Effect"] == "Allow"}
    key_calls = {c["call"] for c in calls if c["resource"].split(":")[2:3] == ["kms"]
                 and ":key/" in c["resource"]}
    assert key_calls, "the record key's calls were made and allowed"  # each is recorded
    # under the key policy's decision (AWS evaluates both), not under `RecordKeys`
    assert granted - used - {"RecordKeys"} == {"DeleteStackImages1", "SetBoundaryOnRoles",
                                               "MarkKeptImagesOfStack"}
    assert leftovers(aws, snapshots=snapshots) == Leftovers()
    assert default_image(aws("ec2"), group.template_id) == group.base_image
