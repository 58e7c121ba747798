"""The runner's job, fixed at deploy in the function's environment (standard library only).

Everything that scopes a backup (its id, group, region, template, retention, reboot and
tags) comes from `AMIBACKUP_CONFIG`, set by provisioning. An invocation's event may carry
only the scheduled time or an EC2 image event (see handler.py): whoever may invoke the
function or edit the schedule cannot widen what a run touches.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any

from amibackup.schedule.eventbridge import Rate
from amibackup.schedule.parse import parse
from amibackup.schema import DEFAULTS, MAX_RETENTION

ENV_VAR = "AMIBACKUP_CONFIG"


class ConfigError(ValueError):
    """The deployed configuration is missing or malformed (a provisioning bug, or a hand edit)."""


@dataclass(frozen=True)
class Job:
    """What one backup asks of the runner, as deployed; `scheduled_time` names the run."""

    backup_id: str
    group_name: str
    retention: int = DEFAULTS["retention"]
    no_reboot: bool = DEFAULTS["no_reboot"]
    tags: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    template_id: str | None = None  # the group's template at deploy; another one is refused
    recorded_version: int | None = None  # the template's default at deploy (repair's fallback)
    period_seconds: int | None = None  # the schedule's period: how stale "stale" is
    # The deployed schedule: a run is accepted only at one of its firing times, no older than
    # the delivery window (Scheduler's flexible window + its retry policy's event age).
    schedule_expression: str | None = None
    timezone: str = "UTC"
    delivery_window_seconds: int | None = None
    paused: bool = False  # paused: nothing is created, promoted or pruned
    scheduled_time: str | None = None  # from the event, never from the configuration

    @property
    def rate(self) -> timedelta | None:
        """The schedule's rate, for a rate(...) schedule (None: cron, or none deployed)."""
        if not self.schedule_expression:
            return None
        parsed = parse(self.schedule_expression)
        return parsed.interval if isinstance(parsed, Rate) else None

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> Job:
        """Validate a configuration; every error names the field and the fix."""
        unknown = sorted(set(data) - set(CONFIG_FIELDS))
        if unknown:
            raise ConfigError(f"{ENV_VAR}: unknown field(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(CONFIG_FIELDS)}")
        for key in ("backup_id", "group_name"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ConfigError(f"{ENV_VAR}: {key} must be a non-empty string "
                                  "(redeploy the backup with `pulumi up`)")
        retention = data.get("retention", DEFAULTS["retention"])
        if isinstance(retention, bool) or not isinstance(retention, int | float) \
                or retention != int(retention) or not 1 <= retention <= MAX_RETENTION:
            raise ConfigError(f"{ENV_VAR}: retention must be a whole number from 1 to "
                              f"{MAX_RETENTION}; got {retention!r}")
        tags = data.get("tags") or {}
        if not isinstance(tags, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise ConfigError(f"{ENV_VAR}: tags must map strings to strings")
        for flag in ("no_reboot", "paused"):
            if not isinstance(data.get(flag, False), bool):
                raise ConfigError(f"{ENV_VAR}: {flag} must be true or false")
        window = data.get("delivery_window_seconds")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int)
                                   or window < 0):
            raise ConfigError(f"{ENV_VAR}: delivery_window_seconds must be a whole number of "
                              f"seconds, 0 or more; got {window!r}")
        return cls(**{**data, "retention": int(retention), "tags": dict(tags)})

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Job:
        """The job the function was deployed with."""
        raw = environ.get(ENV_VAR)
        if not raw:
            raise ConfigError(f"{ENV_VAR} is not set in the function's environment; "
                              "redeploy the backup with `pulumi up`")
        try:
            data = json.loads(raw)
        except ValueError as err:
            raise ConfigError(f"{ENV_VAR} is not JSON: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{ENV_VAR} must be a JSON object")
        return cls.from_config(data)

    def to_config(self) -> dict[str, Any]:
        """The deployable configuration (no run: the event names that)."""
        return {k: v for k, v in asdict(self).items() if k in CONFIG_FIELDS}

    def at(self, scheduled_time: str | None) -> Job:
        """This job for the run scheduled at `scheduled_time`."""
        return replace(self, scheduled_time=scheduled_time)


CONFIG_FIELDS = ("backup_id", "group_name", "region", "template_id", "recorded_version",
                 "retention", "no_reboot", "tags", "period_seconds", "schedule_expression",
                 "timezone", "delivery_window_seconds", "paused")


# Lambda: "Total size of environment variables set: 4 KB" (Lambda quotas). Measured as the
# variables' JSON map in UTF-8, which is at least the sum of their names and values.
ENVIRONMENT_LIMIT = 4096


def environment_size(variables: Mapping[str, str]) -> int:
    """Bytes of a function's environment variables, as measured against ENVIRONMENT_LIMIT."""
    return len(json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False).encode())


def job_environment(job: Job | Mapping[str, Any]) -> dict[str, str]:
    """The function's environment variables carrying `job` (used by provisioning)."""
    config = job.to_config() if isinstance(job, Job) else Job.from_config(job).to_config()
    return {ENV_VAR: json.dumps(config, sort_keys=True, separators=(",", ":"))}
