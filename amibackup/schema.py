"""The one schema of a backup: its inputs and outputs, their defaults and what they mean.

Everything else derives from this table: validation defaults (`spec.normalise`), the
provider's input and replace keys, the resource's typed arguments and outputs, the
program's config keys and the runner job's defaults. Standard library only: the runner
ships it to Lambda.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["input", "output"]
MAX_RETENTION = 100


@dataclass(frozen=True)
class Field:
    """One property of an AmiAutoBackup."""

    name: str
    type: str  # as users write it in a program, for the docs
    default: Any
    doc: str
    replaces: bool = False  # a change makes a new backup (delete the old one after)
    kind: Kind = "input"
    required: bool = False  # an input every backup must set


def _out(name: str, type_: str, doc: str) -> Field:
    return Field(name, type_, None, doc, kind="output")


FIELDS: tuple[Field, ...] = (
    Field("group_name", "str", None, "Name of the Auto Scaling group to back up (required).",
          replaces=True, required=True),
    Field("frequency", "str", "hourly",
          "continuous (every 10 minutes), hourly, daily, weekly, or custom (then `cron`)."),
    Field("cron", "str", None, 'With frequency="custom": a 5-field cron such as "30 2 * * *", '
          'or an EventBridge "cron(...)" / "rate(...)".'),
    Field("timezone", "str", "UTC", "IANA time zone the schedule's times are in."),
    Field("retention", "int", 3, f"Available backup images to keep (1 to {MAX_RETENTION})."),
    Field("persistence", "PersistenceArgs", None, "The group's persistence settings; "
          "root_volume or data_volumes persistence (a stateful group) is refused."),
    Field("no_reboot", "bool", True, "Image the instance without rebooting it."),
    Field("paused", "bool", False, "Keep the schedule but disable it."),
    Field("deregister_on_delete", "bool", True,
          "On delete, deregister the backup's images and delete their snapshots."),
    Field("tags", "dict[str, str]", None, "Tags for the images, snapshots, roles and function."),
    Field("region", "str", None, "AWS region; default: the stack's aws:region, else boto3's.",
          replaces=True),
    Field("alarm_topic_arn", "str", None, "SNS topic ARN in the backup's region: CloudWatch "
          "alarms notify it when a run fails and when no new backup became available for two "
          "schedule periods. Unset: no alarms."),
    Field("owner", "str", None, "Stable key of the declaring resource (project/stack/name), set "
          "by AmiAutoBackup: a replacement of the same resource may take over its template "
          "claim."),
    _out("backup_id", "str", "The backup's id: every AWS name of the backup derives from it."),
    _out("resolved_region", "str", "The region the backup lives in."),
    _out("schedule_expression", "str", "The EventBridge Scheduler expression that runs."),
    _out("schedule_description", "str", "The schedule in plain words."),
    _out("schedule_name", "str", "Name of the EventBridge Scheduler schedule."),
    _out("schedule_arn", "str", "ARN of the schedule."),
    _out("schedule_state", "str", "ENABLED, DISABLED, or MISSING when deleted by hand."),
    _out("function_name", "str", "Name of the runner Lambda function."),
    _out("function_arn", "str", "ARN of the runner Lambda function."),
    _out("role_arn", "str", "ARN of the runner's IAM role."),
    _out("scheduler_role_arn", "str", "ARN of the role the schedule invokes the runner with."),
    _out("launch_template_id", "str", "The group's launch template."),
    _out("recorded_version", "int",
         "The template's default version at create: what delete points the group back at."),
    _out("code_sha256", "str", "Hash of the deployed runner code."),
    _out("latest_image_id", "str | None", "The newest available backup image."),
    _out("image_ids", "list[str]", "Available backup images, newest first."),
    _out("reserved_concurrency", "int | None", "1, or None when the account's concurrency "
         "quota leaves no room to reserve (the run lock still serialises runs)."),
    _out("ami_rule_arn", "str", "The EventBridge rule that sends the backup's image events to "
         "the runner."),
    _out("alarm_names", "list[str]", "The CloudWatch alarms (empty without alarm_topic_arn)."),
    _out("group_template_id", "str | None", "The launch template the group uses now (refresh); "
         "differs from launch_template_id after the group moved: `pulumi up` re-scopes."),
    _out("warnings", "list[str]", "What the user should know: concurrency not reserved, images "
         "kept at delete."),
)

INPUTS = tuple(f for f in FIELDS if f.kind == "input")
OUTPUTS = tuple(f for f in FIELDS if f.kind == "output")
INPUT_KEYS = tuple(f.name for f in INPUTS)
OUTPUT_KEYS = tuple(f.name for f in OUTPUTS)
REPLACE_KEYS = tuple(f.name for f in INPUTS if f.replaces)
DEFAULTS: dict[str, Any] = {f.name: f.default for f in INPUTS if f.default is not None}
DEFAULT_RETENTION: int = DEFAULTS["retention"]
PERSISTENCE_FIELDS: tuple[Field, ...] = (
    Field("root_volume", "bool", None, "The group keeps each instance's root volume: refused "
          "(a stateful group)."),
    Field("data_volumes", "bool", None, "The group keeps each instance's data volumes: refused "
          "(a stateful group)."),
    Field("private_ip", "bool", None, "The group keeps each instance's private IP: allowed, "
          "changes nothing in teardown."),
)
PERSISTENCE_KEYS = tuple(f.name for f in PERSISTENCE_FIELDS)
BY_NAME = {f.name: f for f in FIELDS}


def describe(fields: tuple[Field, ...]) -> str:
    """The docs of `fields`, one line each, for docstrings."""
    lines = []
    for f in fields:
        default = "" if f.default is None else f" Default: {f.default!r}."
        lines.append(f"    {f.name} ({f.type}): {f.doc}{default}")
    return "\n".join(lines)


@dataclass(frozen=True)
class BackupSpec:
    """A backup's inputs once validated and normalised: what provisioning works from."""

    group_name: str
    schedule_expression: str
    timezone: str
    retention: int
    no_reboot: bool
    paused: bool
    deregister_on_delete: bool
    frequency: str
    backup_name: str = ""
    cron: str | None = None
    schedule_description: str | None = None
    persistence: dict[str, bool] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    alarm_topic_arn: str | None = None
    owner: str | None = None

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> BackupSpec:
        """From `spec.normalise`'s output (defaults filled); unknown keys are ignored."""
        known = {k: props[k] for k in cls.__dataclass_fields__ if props.get(k) is not None}
        known["tags"] = dict(known.get("tags") or {})
        return cls(**known)

    def to_props(self) -> dict[str, Any]:
        """The inputs as the provider stores them in the resource's state."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__
                if getattr(self, k) is not None}
