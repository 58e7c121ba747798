"""`AmiAutoBackup`: the resource users declare next to their Auto Scaling group.

Its arguments and outputs come from `amibackup.schema`; defaults are applied once, by
the provider's check, so an unset argument is simply absent here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import pulumi
from pulumi.dynamic import Resource

from amibackup import schema
from amibackup.provider import AmiAutoBackupProvider


@dataclass
class PersistenceArgs:
    """The group's persistence settings (root_volume or data_volumes: refused, stateful)."""

    root_volume: pulumi.Input[bool] | None = None
    data_volumes: pulumi.Input[bool] | None = None
    private_ip: pulumi.Input[bool] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}


@dataclass(kw_only=True)
class AmiAutoBackupArgs:
    group_name: pulumi.Input[str]
    frequency: pulumi.Input[str] | None = None
    cron: pulumi.Input[str] | None = None
    timezone: pulumi.Input[str] | None = None
    retention: pulumi.Input[int] | None = None
    persistence: pulumi.Input[PersistenceArgs | dict[str, Any]] | None = None
    no_reboot: pulumi.Input[bool] | None = None
    paused: pulumi.Input[bool] | None = None
    deregister_on_delete: pulumi.Input[bool] | None = None
    tags: pulumi.Input[dict[str, str]] | None = None
    region: pulumi.Input[str] | None = None
    alarm_topic_arn: pulumi.Input[str] | None = None
    owner: pulumi.Input[str] | None = None  # set by AmiAutoBackup: project/stack/name

    def to_props(self) -> dict[str, Any]:
        """The provider's input properties (PersistenceArgs as a plain map)."""
        props = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(self.persistence, PersistenceArgs):
            props["persistence"] = self.persistence.to_dict()
        return props


AmiAutoBackupArgs.__doc__ = ("The inputs of an AmiAutoBackup (None: the default).\n\n"
                             + schema.describe(schema.INPUTS))


def owner_key(resource_name: str) -> str:
    """This resource's stable identity: a `--replace` of it may take over its template claim."""
    return f"{pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}"


class AmiAutoBackup(Resource, module="amibackup", name="AmiAutoBackup"):
    backup_id: pulumi.Output[str]
    resolved_region: pulumi.Output[str]
    schedule_expression: pulumi.Output[str]
    schedule_description: pulumi.Output[str]
    schedule_name: pulumi.Output[str]
    schedule_arn: pulumi.Output[str]
    schedule_state: pulumi.Output[str]
    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    scheduler_role_arn: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    recorded_version: pulumi.Output[int]
    code_sha256: pulumi.Output[str]
    latest_image_id: pulumi.Output[str | None]
    image_ids: pulumi.Output[list[str]]
    reserved_concurrency: pulumi.Output[int | None]
    ami_rule_arn: pulumi.Output[str]
    alarm_names: pulumi.Output[list[str]]
    group_template_id: pulumi.Output[str | None]
    warnings: pulumi.Output[list[str]]

    def __init__(self, resource_name: str, args: AmiAutoBackupArgs | None = None,
                 opts: pulumi.ResourceOptions | None = None, **kwargs: Any) -> None:
        """Declare a backup: `AmiAutoBackup(name, args=AmiAutoBackupArgs(...))`, or the same
        inputs as keywords: `AmiAutoBackup(name, group_name=..., retention=5)`."""
        if args is not None and kwargs:
            raise TypeError("AmiAutoBackup takes either args=AmiAutoBackupArgs(...) or keyword "
                            f"inputs, not both (got args and {', '.join(sorted(kwargs))})")
        if args is None:
            unknown = sorted(set(kwargs) - set(schema.INPUT_KEYS))
            if unknown:
                raise TypeError(f"AmiAutoBackup got unknown input(s) {', '.join(unknown)}; "
                                f"inputs are {', '.join(schema.INPUT_KEYS)}")
            args = AmiAutoBackupArgs(**{"group_name": None, **kwargs})
        props: dict[str, Any] = {"backup_name": resource_name, **args.to_props(),
                                 "owner": args.owner or owner_key(resource_name),
                                 **{name: None for name in schema.OUTPUT_KEYS}}
        super().__init__(AmiAutoBackupProvider(), resource_name, props, opts)


AmiAutoBackup.__doc__ = (
    "Scheduled AMI backups of an Auto Scaling group's newest healthy instance.\n\n"
    "The group launches from the newest available backup; the last `retention` images\n"
    "(and their snapshots) are kept.\n\nInputs (AmiAutoBackupArgs, or keywords):\n"
    + schema.describe(schema.INPUTS) + "\n\nOutputs:\n" + schema.describe(schema.OUTPUTS))
