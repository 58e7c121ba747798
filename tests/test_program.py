"""`__main__.py` under pulumi.runtime.set_mocks: both ways of declaring a group."""

from __future__ import annotations

import json
import re
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


def _backups(mocks: Mocks) -> list[pulumi.runtime.MockResourceArgs]:
    return [r for r in mocks.resources if r.typ.endswith("AmiAutoBackup")]


@pulumi.runtime.test
def test_explicit_aws_provider_is_honoured() -> pulumi.Output[Any]:
    import pulumi_aws as aws

    from amibackup import AmiAutoBackup

    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="amibackup", stack="test", preview=False)
    provider = aws.Provider("prod", region="eu-west-1", profile="prod")
    backup = AmiAutoBackup("web-backup", opts=pulumi.ResourceOptions(provider=provider),
                           group_name="web")

    def check(_: Any) -> None:
        (registered,) = _backups(mocks)
        assert registered.inputs["aws_identity"] == {
            "region": "eu-west-1", "profile": "prod", "assume_roles": []}
        assert registered.inputs["owner"] == "amibackup/test/web-backup"

    return backup.backup_id.apply(check)


def test_explicit_aws_provider_with_static_keys_is_refused() -> None:
    from amibackup.identity import from_provider_settings

    with pytest.raises(ValueError, match="opts.provider: .*static access_key.*profile or "
                                         "assume_roles instead"):
        from_provider_settings({"region": "eu-west-1", "access_key": "AKIA", "secret_key": "x"})


@pulumi.runtime.test
def test_providers_map_and_args_form() -> pulumi.Output[Any]:
    import pulumi_aws as aws

    from amibackup import AmiAutoBackup, AmiAutoBackupArgs, PersistenceArgs

    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="amibackup", stack="test", preview=False)
    provider = aws.Provider("west", region="us-west-2")
    backup = AmiAutoBackup("b", AmiAutoBackupArgs(
        group_name="web", retention=5, persistence=PersistenceArgs(private_ip=True)),
        pulumi.ResourceOptions(providers={"aws": provider}))

    def check(_: Any) -> None:
        (registered,) = _backups(mocks)
        assert registered.inputs["aws_identity"]["region"] == "us-west-2"
        assert registered.inputs["persistence"] == {"private_ip": True}
        assert registered.inputs["retention"] == 5

    return backup.backup_id.apply(check)


def test_call_forms_are_checked() -> None:
    from amibackup import AmiAutoBackup, AmiAutoBackupArgs

    pulumi.runtime.set_mocks(Mocks(), project="amibackup", stack="test", preview=False)
    with pytest.raises(TypeError, match="unknown input.*retension"):
        AmiAutoBackup("b", group_name="web", retension=3)
    with pytest.raises(TypeError, match="either args=AmiAutoBackupArgs"):
        AmiAutoBackup("b", AmiAutoBackupArgs(group_name="web"), retention=3)
    with pytest.raises(TypeError, match="keyword-only"):
        AmiAutoBackup("b", "web")  # type: ignore[call-overload]


@pulumi.runtime.test
def test_get_reads_an_existing_backup_by_id() -> pulumi.Output[Any]:
    from amibackup import AmiAutoBackup

    class ReadMocks(Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs
                         ) -> tuple[str, dict[str, Any]]:
            self.resources.append(args)
            return args.resource_id or "", {"backup_id": args.resource_id,
                                            "schedule_state": "ENABLED"}

    mocks = ReadMocks()
    pulumi.runtime.set_mocks(mocks, project="amibackup", stack="test", preview=False)
    found = AmiAutoBackup.get("imported", "web-backup-1a2b3c4d")

    def check(values: list[Any]) -> None:
        assert values == ["web-backup-1a2b3c4d", "ENABLED"]
        assert mocks.resources[0].resource_id == "web-backup-1a2b3c4d"

    return pulumi.Output.all(found.backup_id, found.schedule_state).apply(check)


def test_every_output_is_a_documented_typed_property() -> None:
    from amibackup import AmiAutoBackup, AmiAutoBackupArgs
    from amibackup.schema import INPUT_KEYS, OUTPUT_KEYS

    for name in OUTPUT_KEYS:
        prop = getattr(AmiAutoBackup, name)
        assert isinstance(prop, property) and prop.__doc__, name
        assert "pulumi.Output[" in str(prop.fget.__annotations__["return"]), name
    assert set(AmiAutoBackupArgs.__dataclass_fields__) == set(INPUT_KEYS)
    source = Path(__import__("amibackup.resource").resource.__file__).read_text()
    for name in INPUT_KEYS:  # every input has a docstring right under it
        assert re.search(rf'\n    {name}: .*\n    """\S', source), name


@pulumi.runtime.test
def test_launch_template_has_two_owners_and_the_program_ignores_the_backups_part(
        ) -> pulumi.Output[Any]:
    seen: dict[str, pulumi.ResourceOptions] = {}

    def capture(args: pulumi.ResourceTransformationArgs) -> None:
        seen[args.type_] = args.opts

    pulumi.runtime.register_stack_transformation(capture)
    mocks, registered = run_program([{"name": "api", "group": {
        "image_id": "ami-0123456789abcdef0", "availability_zones": ["eu-west-1a"]}}])

    def check(_: Any) -> None:
        template = next(r for r in mocks.resources if r.typ.endswith("LaunchTemplate"))
        opts = seen["aws:ec2/launchTemplate:LaunchTemplate"]
        # The backup adds versions and moves the default and the image: not drift.
        assert opts.ignore_changes == ["imageId", "defaultVersion", "latestVersion"]
        # A later edit of the template by the program becomes the new default version.
        assert template.inputs["updateDefaultVersion"] is True
        group = next(r for r in mocks.resources if r.typ == "aws:autoscaling/group:Group")
        assert group.inputs["launchTemplate"]["version"] == "$Default"

    return registered.apply(check)


def test_pulumi_aws_is_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    # The package and the resource import without pulumi_aws...
    code = ("import sys; sys.modules['pulumi_aws'] = None; "
            "from amibackup import AmiAutoBackup, AmiAutoBackupArgs; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.stdout.strip() == "ok", done.stderr
    # ...and only a declared group asks for it, naming the extra.
    monkeypatch.setitem(sys.modules, "pulumi_aws", None)
    pulumi.runtime.set_mocks(Mocks(), project="amibackup", stack="test", preview=False)
    pulumi.runtime.set_all_config({"amibackup:backups": json.dumps(
        [{"name": "api", "group": {"image_id": "ami-0123456789abcdef0"}}])})
    with pytest.raises(ImportError, match=r"entry 'api' declares a group.*amibackup\[example\]"):
        runpy.run_path(str(PROGRAM), run_name="__pulumi_program__")
