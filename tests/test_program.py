"""`__main__.py` under pulumi.runtime.set_mocks: both ways of declaring a group."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest

PROGRAM = Path(__file__).resolve().parents[1] / "__main__.py"


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "aws:autoscaling/group:Group":
            outputs["name"] = f"{args.name}-generated"
        if args.typ.endswith("AmiAutoBackup"):
            outputs["backup_id"] = f"{args.name}-0000"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def run_program(backups: list[dict[str, Any]]) -> tuple[Mocks, pulumi.Output[Any]]:
    """Run __main__.py; the returned output resolves once every backup is registered."""
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="amibackup", stack="test", preview=False)
    pulumi.runtime.set_all_config({"amibackup:backups": json.dumps(backups)})
    namespace = runpy.run_path(str(PROGRAM), run_name="__pulumi_program__")
    declared = namespace["backups"]
    return mocks, pulumi.Output.all(*[b.backup_id for b in declared.values()])


@pulumi.runtime.test
def test_existing_group_by_name() -> pulumi.Output[Any]:
    mocks, registered = run_program([{"name": "web-backup", "group_name": "web",
                                      "frequency": "daily", "retention": 5,
                                      "tags": {"team": "web"}}])

    def check(ids: list[str]) -> None:
        assert ids == ["web-backup-0000"]
        (backup,) = [r for r in mocks.resources if r.typ.endswith("AmiAutoBackup")]
        assert backup.typ == "pulumi-python:dynamic/amibackup:AmiAutoBackup"
        assert backup.inputs["group_name"] == "web"
        assert backup.inputs["frequency"] == "daily" and backup.inputs["retention"] == 5
        assert backup.inputs["tags"] == {"team": "web"}
        assert not [r for r in mocks.resources if r.typ.startswith("aws:")]

    return registered.apply(check)


@pulumi.runtime.test
def test_group_declared_beside_the_backup() -> pulumi.Output[Any]:
    mocks, registered = run_program([{"name": "api", "frequency": "hourly", "group": {
        "image_id": "ami-0123456789abcdef0", "size": 3, "availability_zones": ["eu-west-1a"]}}])

    def check(ids: list[str]) -> None:
        assert ids == ["api-0000"]
        by_type = {r.typ: r for r in mocks.resources}
        template = by_type["aws:ec2/launchTemplate:LaunchTemplate"]
        group = by_type["aws:autoscaling/group:Group"]
        backup = by_type["pulumi-python:dynamic/amibackup:AmiAutoBackup"]
        assert template.inputs["imageId"] == "ami-0123456789abcdef0"
        assert group.inputs["desiredCapacity"] == 3
        assert group.inputs["launchTemplate"]["version"] == "$Default"
        # The backup follows the declared group's (generated) name.
        assert backup.inputs["group_name"] == "api-asg-generated"

    return registered.apply(check)


def test_program_requires_backups_config() -> None:
    pulumi.runtime.set_mocks(Mocks(), project="amibackup", stack="test", preview=False)
    pulumi.runtime.set_all_config({})
    with pytest.raises(pulumi.ConfigMissingError):
        runpy.run_path(str(PROGRAM), run_name="__pulumi_program__")
