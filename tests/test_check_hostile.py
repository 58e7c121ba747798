"""Malformed and hostile inputs through the gRPC Check of a real `python -m pulumi.dynamic`.

Every row must come back as exactly one CheckFailure on the expected top-level
property, with a reason that starts with the full field path and names the fix, and
Check must never touch AWS: no Lambda function, IAM role or schedule appears in the
moto server, after any row or after the whole table.
"""

from __future__ import annotations

from typing import Any

import pytest

from amibackup.runner.clients import Clients
from tests.support.harness import ProviderClient

BASE: dict[str, Any] = {"backup_name": "b", "group_name": "web"}

STATEFUL = "cannot coexist with data persistence"
ONE_OR_TWO = "must be true or false"
WHOLE = "whole number from 1 to 100"
GROUP = "1 to 255 printable ASCII characters"
REQUIRED = "is required: set it to the name of the Auto Scaling group"
IANA = "use an IANA name such as 'UTC'"
REGION = 'must be an AWS region name such as "eu-west-1"'
CHOICES = "must be one of continuous, hourly, daily, weekly, custom"
TOO_OFTEN = "the minimum is 10 minutes"



def row(id_: str, overrides: dict[str, Any], prop: str, path: str, fix: str) -> Any:
    return pytest.param(overrides, prop, path, fix, id=id_)


def custom(cron: str) -> dict[str, Any]:
    return {"frequency": "custom", "cron": cron}


TABLE = [
    # wrong types
    row("group-int", {"group_name": 123}, "group_name", "group_name", GROUP),
    row("group-list", {"group_name": ["a"]}, "group_name", "group_name", GROUP),
    row("retention-str", {"retention": "3"}, "retention", "retention", WHOLE),
    row("retention-bool", {"retention": True}, "retention", "retention", WHOLE),
    row("retention-frac", {"retention": 2.5}, "retention", "retention", WHOLE),
    row("retention-neg", {"retention": -1}, "retention", "retention", WHOLE),
    row("retention-zero", {"retention": 0}, "retention", "retention", WHOLE),
    row("retention-1e9", {"retention": 1e9}, "retention", "retention", WHOLE),
    row("no_reboot-str", {"no_reboot": "yes"}, "no_reboot", "no_reboot", ONE_OR_TWO),
    row("paused-int", {"paused": 1}, "paused", "paused", ONE_OR_TWO),
    row("deregister-str", {"deregister_on_delete": "false"}, "deregister_on_delete",
        "deregister_on_delete", ONE_OR_TWO),
    row("tags-list", {"tags": ["a"]}, "tags", "tags", "must be a map of tag keys"),
    row("tags-int-value", {"tags": {"k": 5}}, "tags", "tags.k", "value must be a string"),
    row("tags-map-value", {"tags": {"k": {"nested": "v"}}}, "tags", "tags.k",
        "value must be a string"),
    row("persistence-str", {"persistence": "yes"}, "persistence", "persistence",
        "must be a map with root_volume, data_volumes, private_ip"),
    row("persistence-str-flag", {"persistence": {"root_volume": "true"}}, "persistence",
        "persistence.root_volume", ONE_OR_TWO),
    row("frequency-int", {"frequency": 5}, "frequency", "frequency", CHOICES),
    row("cron-list", {"frequency": "custom", "cron": ["0 3 * * *"]}, "cron", "cron",
        "must be a string such as"),
    row("timezone-int", {"timezone": 123}, "timezone", "timezone", "IANA time zone name"),
    # missing, empty and huge strings
    row("group-none", {"group_name": None}, "group_name", "group_name", REQUIRED),
    row("group-empty", {"group_name": ""}, "group_name", "group_name", REQUIRED),
    row("group-blank", {"group_name": "   "}, "group_name", "group_name", REQUIRED),
    row("group-300", {"group_name": "x" * 300}, "group_name", "group_name", GROUP),
    row("cron-empty", custom(""), "cron", "cron", 'is required when frequency is "custom"'),
    row("cron-none", {"frequency": "custom", "cron": None}, "cron", "cron",
        'is required when frequency is "custom"'),
    row("cron-10000", custom("*" * 10000), "cron", "cron", "a schedule expression has at most 256"),
    row("tag-value-257", {"tags": {"k": "v" * 257}}, "tags", "tags.k", "at most 256 characters"),
    row("tag-key-129", {"tags": {"k" * 129: "v"}}, "tags", "tags", "must be 1 to 128 characters"),
    row("tag-key-empty", {"tags": {"": "v"}}, "tags", "tags", "must be 1 to 128 characters"),
    # control characters and non-ASCII
    row("group-newline", {"group_name": "web\n"}, "group_name", "group_name", GROUP),
    row("group-tab", {"group_name": "we\tb"}, "group_name", "group_name", GROUP),
    row("group-nul", {"group_name": "web\x00"}, "group_name", "group_name", GROUP),
    row("group-accent", {"group_name": "wéb"}, "group_name", "group_name", GROUP),
    # bad cron
    row("cron-minute-61", custom("61 * * * *"), "cron", "cron", "allowed 0-59"),
    row("cron-4-fields", custom("* * * *"), "cron", "cron", "expected 5 fields"),
    row("cron-every-5-min", custom("*/5 * * * *"), "cron", "cron", TOO_OFTEN),
    row("cron-dom-and-dow", custom("0 0 1 * 1"), "cron", "cron", "Restrict only one of them"),
    row("cron-eb-no-question", custom("cron(0 0 * * * *)"), "cron", "cron",
        "exactly one of day-of-month and day-of-week must be '?'"),
    row("rate-5-minutes", custom("rate(5 minutes)"), "cron", "cron", TOO_OFTEN),
    row("rate-0-hours", custom("rate(0 hours)"), "cron", "cron", "positive whole number"),
    row("cron-at-reboot", custom("@reboot"), "cron", "cron", "unsupported cron macro"),
    row("cron-with-preset", {"cron": "0 3 * * *"}, "cron", "cron",
        'remove it or set frequency="custom"'),
    # bad timezones
    row("tz-mars", {"timezone": "Mars/Olympus"}, "timezone", "timezone", IANA),
    row("tz-empty", {"timezone": ""}, "timezone", "timezone", "IANA time zone name"),
    row("tz-utc-plus-25", {"timezone": "UTC+25"}, "timezone", "timezone", IANA),
    row("tz-traversal", {"timezone": "../../etc/passwd"}, "timezone", "timezone", IANA),
    row("tz-absolute", {"timezone": "/etc/localtime"}, "timezone", "timezone", IANA),
    row("tz-case", {"timezone": "europe/paris"}, "timezone", "timezone",
        "Did you mean 'Europe/Paris'?"),
    # stateful combinations and unknown persistence keys
    row("stateful-root", {"persistence": {"root_volume": True}}, "persistence", "persistence",
        STATEFUL),
    row("stateful-data-and-ip", {"persistence": {"data_volumes": True, "private_ip": True}},
        "persistence", "persistence", STATEFUL),
    row("persistence-unknown-key", {"persistence": {"snapshots": True}}, "persistence",
        "persistence.snapshots", "use root_volume, data_volumes, private_ip"),
    # reserved and too many tags
    row("tag-aws", {"tags": {"aws:x": "v"}}, "tags", "tags.aws:x", "reserved by AWS; rename"),
    row("tag-AWS", {"tags": {"AWS:x": "v"}}, "tags", "tags.AWS:x", "reserved by AWS; rename"),
    row("tag-amibackup", {"tags": {"amibackup:x": "v"}}, "tags", "tags.amibackup:x",
        "set by amibackup; rename"),
    row("tag-Amibackup", {"tags": {"AmiBackup:run": "v"}}, "tags", "tags.AmiBackup:run",
        "set by amibackup; rename"),
    row("tags-41", {"tags": {f"k{i}": "v" for i in range(41)}}, "tags", "tags", "at most 40"),
    row("tag-dotted-key", {"tags": {"a.b": 5}}, "tags", "tags.a.b", "value must be a string"),
    # frequencies: spec is exact and case-sensitive (schedule.resolve is not; see report)
    row("frequency-every-5-min", {"frequency": "every-5-min"}, "frequency", "frequency",
        CHOICES),
    row("frequency-Hourly", {"frequency": "Hourly"}, "frequency", "frequency", CHOICES),
    row("frequency-padded", {"frequency": " hourly"}, "frequency", "frequency", CHOICES),
    row("frequency-empty", {"frequency": ""}, "frequency", "frequency", CHOICES),
    # regions
    row("region-mars", {"region": "mars-1"}, "region", "region", REGION),
    row("region-injection", {"region": "us-east-1; rm -rf /"}, "region", "region", REGION),
    row("region-newline", {"region": "us-east-1\n"}, "region", "region", REGION),
]


@pytest.fixture
def aws(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Clients:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    return Clients("us-east-1")


def created(aws: Clients) -> dict[str, list[str]]:
    """Everything a Create would have made, as seen by the moto server."""
    return {
        "functions": [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]],
        "roles": [r["RoleName"] for r in aws("iam").list_roles()["Roles"]],
        "schedules": [s["Name"] for s in aws("scheduler").list_schedules()["Schedules"]],
    }


NOTHING: dict[str, list[str]] = {"functions": [], "roles": [], "schedules": []}


def test_the_base_spec_is_valid(provider: ProviderClient, aws: Clients) -> None:
    news, failures = provider.check(dict(BASE))
    assert failures == []
    assert news["group_name"] == "web" and news["schedule_expression"] == "cron(0 * * * ? *)"
    assert created(aws) == NOTHING


@pytest.mark.parametrize(("overrides", "prop", "path", "fix"), TABLE)
def test_check_refuses(provider: ProviderClient, aws: Clients, overrides: dict[str, Any],
                       prop: str, path: str, fix: str) -> None:
    _, failures = provider.check({**BASE, **overrides})
    assert [p for p, _ in failures] == [prop], failures
    reason = failures[0][1]
    assert reason.startswith(f"{path}: "), reason[:300]
    assert fix in reason, reason[:300]
    assert created(aws) == NOTHING


def test_table_is_big_enough() -> None:
    assert len(TABLE) >= 25


def test_every_problem_comes_back_at_once(provider: ProviderClient, aws: Clients) -> None:
    _, failures = provider.check({**BASE, "group_name": "", "retention": 0, "paused": "no",
                                  "frequency": "custom", "cron": "*/5 * * * *",
                                  "timezone": "Mars/Olympus", "region": "mars-1",
                                  "tags": {"aws:x": "v", "amibackup:y": 1}})
    props = [p for p, _ in failures]
    # the schedule is not checked while the timezone is wrong, so cron is not reported
    assert sorted(props) == sorted(["group_name", "retention", "paused", "timezone", "region",
                                    "tags", "tags", "tags"]), failures
    reasons = sorted(r.split(": ")[0] for _, r in failures)
    assert reasons == sorted(["group_name", "retention", "paused", "timezone", "region",
                              "tags.aws:x", "tags.amibackup:y", "tags.amibackup:y"]), failures
    assert created(aws) == NOTHING


def test_four_bad_fields_give_four_failures(provider: ProviderClient) -> None:
    _, failures = provider.check({**BASE, "retention": 2.5, "no_reboot": "yes",
                                  "timezone": "UTC+25", "persistence": {"root_volume": True}})
    assert len(failures) == 4
    assert {p for p, _ in failures} == {"retention", "no_reboot", "timezone", "persistence"}


def test_none_means_absent_so_defaults_apply(provider: ProviderClient) -> None:
    """The SDK drops None-valued keys: frequency=None is no frequency, i.e. hourly."""
    news, failures = provider.check({**BASE, "frequency": None, "timezone": None,
                                     "retention": None, "tags": None})
    assert failures == []
    assert news["frequency"] == "hourly" and news["timezone"] == "UTC"
    assert news["retention"] == 3 and news["tags"] == {}
    assert news["schedule_expression"] == "cron(0 * * * ? *)"


def test_nothing_was_created_after_the_whole_table(aws: Clients) -> None:
    assert created(aws) == NOTHING


def test_the_aws_probe_sees_what_a_create_would_make(aws: Clients) -> None:
    """The emptiness assertions above can fail: a role in moto shows up in `created`."""
    iam = aws("iam")
    iam.create_role(RoleName="probe", AssumeRolePolicyDocument="{}")
    try:
        assert created(aws)["roles"] == ["probe"]
    finally:
        iam.delete_role(RoleName="probe")
    assert created(aws) == NOTHING
