"""The EventBridge rule that hands `EC2 AMI State Change` events to the runner.

Images become `available` minutes after CreateImage; the event lets the runner promote
at once instead of waiting (billed) or until the next scheduled run. Each backup's rule
names only the images that backup has in flight (`detail.ImageId`) and only the states
the runner acts on (`available`, `failed`): the runner rewrites its own rule's pattern
after CreateImage and when its images settle (access.narrow_ami_rule). With nothing in
flight the pattern matches nothing. So an image's events wake its own runner only. The
runner still checks its record: the pattern is routing, the record is ownership.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from amibackup import access
from amibackup.access import error_code
from amibackup.names import Names
from amibackup.provision.errors import ignore_missing

TARGET_ID = "runner"
STATEMENT_ID = "amibackup-ami-events"  # the function's permission for this rule


def rule_request(names: Names, backup_id: str, in_flight: list[str] | None = None,
                 enabled: bool = True) -> dict[str, Any]:
    """The rule as deployed: the images the runner has in flight, else none; disabled
    while the backup is paused (no promotion, no pruning then)."""
    return access.ami_rule_request(names.ami_rule, backup_id, in_flight or (), enabled)


def permission_request(function_name: str, rule_arn: str) -> dict[str, Any]:
    """Only this rule (SourceArn) may invoke the runner through events.amazonaws.com."""
    return {"FunctionName": function_name, "StatementId": STATEMENT_ID,
            "Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com",
            "SourceArn": rule_arn}


def ensure_rule(events: Any, lam: Any, names: Names, backup_id: str, function_arn: str,
                enabled: bool = True) -> str:
    """Rule, the function's permission scoped to it, and the target; return the rule ARN.

    An update keeps the images the runner put in the pattern (their events still come)."""
    found = get_rule(events, names)
    in_flight = access.pattern_images(found.get("EventPattern")) if found else []
    rule_arn = str(events.put_rule(**rule_request(names, backup_id, in_flight,
                                                  enabled))["RuleArn"])
    _ensure_permission(lam, permission_request(names.function, rule_arn))
    events.put_targets(Rule=names.ami_rule, EventBusName="default",
                       Targets=[{"Id": TARGET_ID, "Arn": function_arn}])
    return rule_arn


def _ensure_permission(lam: Any, request: dict[str, Any]) -> None:
    """Add the statement, or replace it when it grants anything else (a changed rule ARN)."""
    policy = ignore_missing(lambda: lam.get_policy(FunctionName=request["FunctionName"]))
    statements = json.loads(policy["Policy"])["Statement"] if policy else []
    mine = [s for s in statements if s.get("Sid") == STATEMENT_ID]
    if mine and json.dumps(mine[0]).find(request["SourceArn"]) >= 0:
        return
    if mine:
        lam.remove_permission(FunctionName=request["FunctionName"], StatementId=STATEMENT_ID)
    try:
        lam.add_permission(**request)
    except ClientError as err:
        if error_code(err) != "ResourceConflictException":
            raise  # a conflict is a concurrent identical add: the statement is there


def remove_rule(events: Any, lam: Any, names: Names) -> None:
    """Targets first (AWS refuses to delete a rule that has any), then the rule, then the
    function's permission; each step tolerates "not found". The permission is removed only
    where the function has a policy: a deployer scoped by the function's tags is refused,
    not told "not found", for a function that does not exist."""
    found = ignore_missing(lambda: events.list_targets_by_rule(Rule=names.ami_rule,
                                                               EventBusName="default"))
    ids = [t["Id"] for t in (found or {}).get("Targets", [])]
    if ids:
        ignore_missing(lambda: events.remove_targets(Rule=names.ami_rule,
                                                     EventBusName="default", Ids=ids))
    ignore_missing(lambda: events.delete_rule(Name=names.ami_rule, EventBusName="default"))
    if ignore_missing(lambda: lam.get_policy(FunctionName=names.function)) is not None:
        ignore_missing(lambda: lam.remove_permission(FunctionName=names.function,
                                                     StatementId=STATEMENT_ID))


def get_rule(events: Any, names: Names) -> dict[str, Any] | None:
    return ignore_missing(lambda: events.describe_rule(Name=names.ami_rule,
                                                       EventBusName="default"))
