"""`AmiAutoBackup`: the resource users declare next to their Auto Scaling group.

Its arguments and outputs come from `amibackup.schema`; defaults are applied once, by
the provider's check, so an unset argument is simply absent here. The calling
conventions are pulumi_aws's: `AmiAutoBackup(name, args, opts)` or
`AmiAutoBackup(name, opts=..., group_name=..., ...)`, and `AmiAutoBackup.get(name, id)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, cast, overload

import pulumi
from pulumi.dynamic import Resource

from amibackup import schema
from amibackup.identity import IDENTITY_KEY, from_provider_settings
from amibackup.provider import AmiAutoBackupProvider

PROVIDER_HOWTO = (
    "pass an aws.Provider (opts=pulumi.ResourceOptions(provider=aws_provider)) whose region, "
    "profile and assume_roles AmiAutoBackup uses, or set the stack's aws:region, aws:profile "
    "and aws:assumeRoles")


@dataclass(kw_only=True)
class PersistenceArgs:
    """The group's persistence settings (root_volume or data_volumes: refused, stateful)."""

    root_volume: pulumi.Input[bool] | None = None
    """The group keeps each instance's root volume: refused (a stateful group)."""
    data_volumes: pulumi.Input[bool] | None = None
    """The group keeps each instance's data volumes: refused (a stateful group)."""
    private_ip: pulumi.Input[bool] | None = None
    """The group keeps each instance's private IP: allowed, changes nothing in teardown."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}


@dataclass(kw_only=True)
class AmiAutoBackupArgs:
    """The inputs of an AmiAutoBackup (None: the default)."""

    group_name: pulumi.Input[str]
    """Name of the Auto Scaling group to back up (required). Changing it replaces the backup."""
    frequency: pulumi.Input[str] | None = None
    """continuous (every 10 minutes), hourly (default), daily, weekly, or custom (then cron)."""
    cron: pulumi.Input[str] | None = None
    """With frequency="custom": a 5-field cron, or an EventBridge cron(...)/rate(...)."""
    timezone: pulumi.Input[str] | None = None
    """IANA time zone the schedule's times are in. Default: UTC."""
    retention: pulumi.Input[int] | None = None
    """Available backup images to keep, 1 to 100. Default: 3."""
    persistence: pulumi.Input[PersistenceArgs | Mapping[str, pulumi.Input[bool]]] | None = None
    """The group's persistence settings; root_volume or data_volumes is refused."""
    no_reboot: pulumi.Input[bool] | None = None
    """Image the instance without rebooting it. Default: True."""
    paused: pulumi.Input[bool] | None = None
    """Keep the schedule but disable it. Default: False."""
    deregister_on_delete: pulumi.Input[bool] | None = None
    """On delete, deregister the backup's images and delete their snapshots. Default: True."""
    tags: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None
    """Tags for the images, snapshots, roles and function."""
    region: pulumi.Input[str] | None = None
    """AWS region; default: an explicit aws.Provider's, else the stack's aws:region."""
    alarm_topic_arn: pulumi.Input[str] | None = None
    """SNS topic (in the backup's region) for CloudWatch alarms: a failed run, and no new
    available backup for two schedule periods. None: no alarms."""
    owner: pulumi.Input[str] | None = None
    """Set by AmiAutoBackup (project/stack/name): a replacement of the same resource may
    take over its template claim."""

    def to_props(self) -> dict[str, Any]:
        """The provider's input properties (PersistenceArgs as a plain map)."""
        props = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(self.persistence, PersistenceArgs):
            props["persistence"] = self.persistence.to_dict()
        return props


def aws_provider_of(opts: pulumi.ResourceOptions | None) -> pulumi.ProviderResource | None:
    """The aws.Provider given in `opts.provider` or `opts.providers`, if any."""
    if opts is None:
        return None
    candidates: list[Any] = [opts.provider]
    if isinstance(opts.providers, Mapping):
        candidates.append(opts.providers.get("aws"))
    elif opts.providers:
        candidates.extend(opts.providers)
    found = [p for p in candidates
             if isinstance(p, pulumi.ProviderResource) and p.package == "aws"]
    return found[0] if found else None


def identity_input(provider: pulumi.ProviderResource) -> pulumi.Output[dict[str, Any]]:
    """The explicit provider's region, profile and assume-role chain, as a hidden input.

    A provider resource's outputs are its settings; the SDK sets each as an attribute.
    """
    def setting(name: str) -> Any:
        return provider.__dict__.get(name)

    keys = ("region", "profile", "assume_roles", "access_key", "secret_key", "token")
    return pulumi.Output.all(*[setting(k) for k in keys]).apply(
        lambda values: from_provider_settings(dict(zip(keys, values, strict=True))))


def owner_key(resource_name: str) -> str:
    """This resource's stable identity: a `--replace` of it may take over its template claim."""
    return f"{pulumi.get_project()}/{pulumi.get_stack()}/{resource_name}"


class AmiAutoBackup(Resource, module="amibackup", name="AmiAutoBackup"):
    """Scheduled AMI backups of an Auto Scaling group's newest healthy instance.

    The group launches from the newest available backup; the last `retention` images (and
    their snapshots) are kept. See AmiAutoBackupArgs for the inputs.
    """

    @overload
    def __init__(self, resource_name: str, args: AmiAutoBackupArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None: ...

    @overload
    def __init__(self, resource_name: str, opts: pulumi.ResourceOptions | None = None, *,
                 group_name: pulumi.Input[str],
                 frequency: pulumi.Input[str] | None = None,
                 cron: pulumi.Input[str] | None = None,
                 timezone: pulumi.Input[str] | None = None,
                 retention: pulumi.Input[int] | None = None,
                 persistence: pulumi.Input[PersistenceArgs | Mapping[str, pulumi.Input[bool]]]
                 | None = None,
                 no_reboot: pulumi.Input[bool] | None = None,
                 paused: pulumi.Input[bool] | None = None,
                 deregister_on_delete: pulumi.Input[bool] | None = None,
                 tags: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None = None,
                 region: pulumi.Input[str] | None = None,
                 alarm_topic_arn: pulumi.Input[str] | None = None) -> None: ...

    def __init__(self, resource_name: str, *args: Any, **kwargs: Any) -> None:
        """Declare a backup: `AmiAutoBackup(name, AmiAutoBackupArgs(...), opts)`, or the
        inputs as keywords: `AmiAutoBackup(name, opts=opts, group_name=..., retention=5)`."""
        backup_args, opts = _args_and_opts(args, kwargs)
        props: dict[str, Any] = {"backup_name": resource_name, **backup_args.to_props(),
                                 "owner": backup_args.owner or owner_key(resource_name),
                                 **{name: None for name in schema.OUTPUT_KEYS}}
        provider = aws_provider_of(opts)
        if provider is not None:  # also for get(): read where that provider points
            props[IDENTITY_KEY] = identity_input(provider)
        super().__init__(AmiAutoBackupProvider(), resource_name, props, opts)

    @staticmethod
    def get(resource_name: str, id: pulumi.Input[str],
            opts: pulumi.ResourceOptions | None = None) -> AmiAutoBackup:
        """The existing backup `id` (its backup_id), read from AWS by the provider.

        It is read in the region of an explicit aws.Provider in `opts`, else the stack's.
        """
        merged = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(id=id))
        return AmiAutoBackup(resource_name, AmiAutoBackupArgs(group_name=""), merged)

    @property
    def backup_id(self) -> pulumi.Output[str]:
        """The backup's id: every AWS name of the backup derives from it."""
        return cast("pulumi.Output[str]", pulumi.get(self, "backup_id"))

    @property
    def resolved_region(self) -> pulumi.Output[str]:
        """The region the backup lives in."""
        return cast("pulumi.Output[str]", pulumi.get(self, "resolved_region"))

    @property
    def schedule_expression(self) -> pulumi.Output[str]:
        """The EventBridge Scheduler expression that runs."""
        return cast("pulumi.Output[str]", pulumi.get(self, "schedule_expression"))

    @property
    def schedule_description(self) -> pulumi.Output[str]:
        """The schedule in plain words."""
        return cast("pulumi.Output[str]", pulumi.get(self, "schedule_description"))

    @property
    def schedule_name(self) -> pulumi.Output[str]:
        """Name of the EventBridge Scheduler schedule."""
        return cast("pulumi.Output[str]", pulumi.get(self, "schedule_name"))

    @property
    def schedule_arn(self) -> pulumi.Output[str]:
        """ARN of the schedule."""
        return cast("pulumi.Output[str]", pulumi.get(self, "schedule_arn"))

    @property
    def schedule_state(self) -> pulumi.Output[str]:
        """ENABLED, DISABLED, or MISSING when deleted by hand."""
        return cast("pulumi.Output[str]", pulumi.get(self, "schedule_state"))

    @property
    def function_name(self) -> pulumi.Output[str]:
        """Name of the runner Lambda function."""
        return cast("pulumi.Output[str]", pulumi.get(self, "function_name"))

    @property
    def function_arn(self) -> pulumi.Output[str]:
        """ARN of the runner Lambda function."""
        return cast("pulumi.Output[str]", pulumi.get(self, "function_arn"))

    @property
    def role_arn(self) -> pulumi.Output[str]:
        """ARN of the runner's IAM role."""
        return cast("pulumi.Output[str]", pulumi.get(self, "role_arn"))

    @property
    def scheduler_role_arn(self) -> pulumi.Output[str]:
        """ARN of the role the schedule invokes the runner with."""
        return cast("pulumi.Output[str]", pulumi.get(self, "scheduler_role_arn"))

    @property
    def launch_template_id(self) -> pulumi.Output[str]:
        """The group's launch template."""
        return cast("pulumi.Output[str]", pulumi.get(self, "launch_template_id"))

    @property
    def recorded_version(self) -> pulumi.Output[int]:
        """The template's default version at create: what delete points the group back at."""
        return cast("pulumi.Output[int]", pulumi.get(self, "recorded_version"))

    @property
    def code_sha256(self) -> pulumi.Output[str]:
        """Hash of the deployed runner code."""
        return cast("pulumi.Output[str]", pulumi.get(self, "code_sha256"))

    @property
    def latest_image_id(self) -> pulumi.Output[str | None]:
        """The newest available backup image."""
        return cast("pulumi.Output[str | None]", pulumi.get(self, "latest_image_id"))

    @property
    def image_ids(self) -> pulumi.Output[list[str]]:
        """Available backup images, newest first."""
        return cast("pulumi.Output[list[str]]", pulumi.get(self, "image_ids"))

    @property
    def reserved_concurrency(self) -> pulumi.Output[int | None]:
        """1, or None when the account's concurrency quota leaves no room to reserve (the run lock still serialises runs)."""  # noqa: E501
        return cast("pulumi.Output[int | None]", pulumi.get(self, "reserved_concurrency"))

    @property
    def ami_rule_arn(self) -> pulumi.Output[str]:
        """The EventBridge rule that sends the backup's image events to the runner."""
        return cast("pulumi.Output[str]", pulumi.get(self, "ami_rule_arn"))

    @property
    def alarm_names(self) -> pulumi.Output[list[str]]:
        """The CloudWatch alarms (empty without alarm_topic_arn)."""
        return cast("pulumi.Output[list[str]]", pulumi.get(self, "alarm_names"))

    @property
    def group_template_id(self) -> pulumi.Output[str | None]:
        """The launch template the group uses now (refresh); differs from launch_template_id after the group moved: `pulumi up` re-scopes."""  # noqa: E501
        return cast("pulumi.Output[str | None]", pulumi.get(self, "group_template_id"))

    @property
    def warnings(self) -> pulumi.Output[list[str]]:
        """What the user should know: concurrency not reserved, images kept at delete."""
        return cast("pulumi.Output[list[str]]", pulumi.get(self, "warnings"))


def _args_and_opts(args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> tuple[AmiAutoBackupArgs, pulumi.ResourceOptions | None]:
    """pulumi_aws's two call forms: (args, opts) or (opts, **inputs); mixing is refused."""
    positional = list(args)
    backup_args = kwargs.pop("args", None)
    if positional and isinstance(positional[0], AmiAutoBackupArgs):
        backup_args = positional.pop(0)
    opts = kwargs.pop("opts", None)
    if positional:
        opts = positional.pop(0)
    if positional or (opts is not None and not isinstance(opts, pulumi.ResourceOptions)):
        raise TypeError("AmiAutoBackup(resource_name, args=None, opts=None, **inputs): "
                        "inputs are keyword-only")
    if backup_args is not None and kwargs:
        raise TypeError("AmiAutoBackup takes either args=AmiAutoBackupArgs(...) or keyword "
                        f"inputs, not both (got args and {', '.join(sorted(kwargs))})")
    if backup_args is None:
        unknown = sorted(set(kwargs) - set(schema.INPUT_KEYS))
        if unknown:
            raise TypeError(f"AmiAutoBackup got unknown input(s) {', '.join(unknown)}; "
                            f"inputs are {', '.join(schema.INPUT_KEYS)}")
        backup_args = AmiAutoBackupArgs(**{"group_name": None, **kwargs})
    return backup_args, opts


# help(AmiAutoBackup) and help(AmiAutoBackupArgs) list every field from the one schema.
AmiAutoBackupArgs.__doc__ = (f"{AmiAutoBackupArgs.__doc__}\n\n" + schema.describe(schema.INPUTS))
AmiAutoBackup.__doc__ = (f"{AmiAutoBackup.__doc__}\n    Inputs (AmiAutoBackupArgs, or keywords):\n"
                         + schema.describe(schema.INPUTS) + "\n\n    Outputs:\n"
                         + schema.describe(schema.OUTPUTS))
