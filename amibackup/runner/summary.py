"""The one JSON line a run logs, carrying its CloudWatch metrics (Embedded Metric Format).

CloudWatch Logs turns the `_aws` block into metrics of namespace `amibackup`, dimension
`Backup`, with no API call from the runner (CloudWatch User Guide, "Embedded metric
format specification"). Standard library only.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from amibackup.runner import plan

NAMESPACE = "amibackup"
DIMENSION = "Backup"
COUNTS = ("Created", "Promoted", "Pruned", "Failed")
AGE = "NewestBackupAgeSeconds"


@dataclass
class Summary:
    """What a run made, promoted, pruned, and what it skipped and why."""

    backup: str
    group: str
    run: str
    request_id: str | None = None  # the Lambda invocation's, to find its other log lines
    source_instance: str | None = None
    created: str | None = None
    available: bool | None = None
    promoted: str | None = None
    template_version: int | None = None
    pruned: list[str] = field(default_factory=list)
    deleted_snapshots: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # image id -> why it was not pruned
    adopted: list[str] = field(default_factory=list)  # images of runs an earlier cut left
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    newest_backup_age_seconds: float | None = None
    in_flight: list[str] | None = None  # images still pending: the AMI rule's ImageIds

    def set_newest_age(self, newest: plan.Image | None) -> None:
        """Age of the newest available backup by the wall clock (None: there is none)."""
        if newest is not None:
            age = (datetime.now(UTC) - newest.created).total_seconds()
            self.newest_backup_age_seconds = round(max(age, 0.0), 1)

    def metrics(self) -> dict[str, float]:
        values = {"Created": float(self.created is not None),
                  "Promoted": float(self.promoted is not None),
                  "Pruned": float(len(self.pruned)), "Failed": float(len(self.failed))}
        if self.newest_backup_age_seconds is not None:
            values[AGE] = self.newest_backup_age_seconds
        return values

    def to_json(self) -> str:
        return json.dumps({**asdict(self), **emf(self.backup, self.metrics())}, sort_keys=True)


def emf(backup_id: str, values: dict[str, float], now: float | None = None) -> dict[str, Any]:
    """The Embedded Metric Format members that publish `values` for one backup."""
    units = {name: ("Seconds" if name == AGE else "Count") for name in values}
    return {
        "_aws": {"Timestamp": int((now if now is not None else time.time()) * 1000),
                 "CloudWatchMetrics": [{
                     "Namespace": NAMESPACE, "Dimensions": [[DIMENSION]],
                     "Metrics": [{"Name": n, "Unit": u} for n, u in units.items()]}]},
        DIMENSION: backup_id, **values,
    }
