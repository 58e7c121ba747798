"""Issue 16: `pulumi preview` warns, naming the quota, when a new backup would cross one.

The provider counts the account's EventBridge rules (default bus) and IAM roles once per
process; each new backup of the preview takes its share (1 rule, 2 roles).
"""

from __future__ import annotations

from collections import Counter

import pytest

from amibackup import quotas
from amibackup.provider import AmiAutoBackupProvider
from tests.support.calls import counted


@pytest.fixture
def said(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"warn": [], "info": []}
    monkeypatch.setattr("amibackup.provider.warn", out["warn"].append)
    monkeypatch.setattr("amibackup.provider.info", out["info"].append)
    return out


def new_backup(provider: AmiAutoBackupProvider, name: str) -> None:
    assert provider.check({}, {"backup_name": name, "group_name": name}).failures == []


def test_a_new_backup_crossing_the_rules_quota_is_named_in_the_preview(clients, said):
    events = clients("events")
    for i in range(quotas.RULES.default - 2):  # someone else's rules count too
        events.put_rule(Name=f"other-{i}", ScheduleExpression="rate(1 hour)")
    provider = AmiAutoBackupProvider()
    provider.region = "us-east-1"
    with counted() as (calls, _):
        for k in range(3):
            new_backup(provider, f"web{k}")
    # Counted once for the whole preview: 3 pages of rules, 1 of roles.
    assert calls == Counter({"eventbridge.ListRules": 3, "iam.ListRoles": 1})
    [warning] = said["warn"]
    assert warning.startswith("web2: ") and "Amazon EventBridge: Rules per event bus" in warning
    assert "default 300" in warning and "reach 301" in warning


def test_roles_count_two_per_backup():
    usage = quotas.Usage({"rules": 0, "roles": quotas.ROLES.default - 3})
    assert usage.add_backup() == []
    [warning] = usage.add_backup()
    assert "Roles per account" in warning and "reach 1,001" in warning


def test_existing_backups_and_a_preview_without_aws_access_are_quiet(said, monkeypatch):
    provider = AmiAutoBackupProvider()
    provider.region = "us-east-1"
    checked = provider.check({"backup_name": "web"}, {"backup_name": "web", "group_name": "web"})
    assert checked.failures == [] and said == {"warn": [], "info": []}  # not new: nothing counted
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    new_backup(provider, "web")
    new_backup(provider, "web2")
    assert said["warn"] == [] and len(said["info"]) == 1 and "could not count" in said["info"][0]
