"""The EventBridge rule that hands `EC2 AMI State Change` events to the runner.

Images become `available` minutes after CreateImage; the event lets the runner promote
at once instead of waiting (billed) or until the next scheduled run. The rule matches
every AMI state change in the account's default bus: the runner tells its own images
from the record, so the pattern needs no ownership test (EventBridge cannot know it).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from amibackup.access import error_code
from amibackup.names import Names
from amibackup.provision.errors import ignore_missing

EVENT_PATTERN = {"source": ["aws.ec2"], "detail-type": ["EC2 AMI State Change"]}
TARGET_ID = "runner"
STATEMENT_ID = "amibackup-ami-events"  # the function's permission for this rule


def rule_request(names: Names, backup_id: str, enabled: bool = True) -> dict[str, Any]:
    """The rule; disabled while the backup is paused (no promotion, no pruning then)."""
    return {"Name": names.ami_rule, "EventBusName": "default",
            "State": "ENABLED" if enabled else "DISABLED",
            "EventPattern": json.dumps(EVENT_PATTERN, sort_keys=True),
            "Description": f"amibackup {backup_id}: AMI state changes to its runner"}


def permission_request(function_name: str, rule_arn: str) -> dict[str, Any]:
    """Only this rule (SourceArn) may invoke the runner through events.amazonaws.com."""
    return {"FunctionName": function_name, "StatementId": STATEMENT_ID,
            "Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com",
            "SourceArn": rule_arn}


def ensure_rule(events: Any, lam: Any, names: Names, backup_id: str, function_arn: str,
                enabled: bool = True) -> str:
    """Rule, the function's permission scoped to it, and the target; return the rule ARN."""
    rule_arn = str(events.put_rule(**rule_request(names, backup_id, enabled))["RuleArn"])
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
