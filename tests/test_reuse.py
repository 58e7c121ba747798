"""Issue 16: clients and sessions are made once and reused; Diff looks AWS up once per process.

The runner keeps its boto3 clients across warm invocations (a Lambda sandbox lives on
between invocations), and the provider process keeps its sessions and one listing of the
region's groups for every Diff of a preview, which says what it looked up.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from amibackup import preview
from amibackup.provider import AmiAutoBackupProvider
from amibackup.runner.clients import Clients, shared
from amibackup.runner.cycle import run_cycle
from amibackup.runner.handler import handler
from amibackup.runner.reads import read_ahead
from amibackup.spec import normalise
from devkit.scenarios import T0, create_group, deployed, hourly_job, on_time
from tests.support.calls import counted


def test_a_warm_invocation_makes_no_new_session_or_client(clients, group):
    first, second = ({"scheduled_time": (T0 + timedelta(hours=n)).isoformat()} for n in (0, 1))
    with deployed(hourly_job(0, group.group_name)), counted() as (_, made):
        with on_time(first):
            handler(first)
        cold = list(made)
        with on_time(second):
            handler(second)
    assert cold and made == cold  # the second (warm) invocation made none


def test_shared_clients_are_keyed_by_region_and_endpoint(monkeypatch):
    east = shared("us-east-1")
    assert shared("us-east-1") is east and shared("eu-west-1") is not east
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert shared("us-east-1") is not east  # another endpoint: other clients


def outputs(i: int, group_name: str, template_id: str) -> dict[str, Any]:
    """What a created backup holds in state (the parts Diff reads)."""
    inputs = normalise({"backup_name": f"b{i}", "group_name": group_name})
    backup_id = f"b{i}-0000000{i}"
    arn = "arn:aws:{}:us-east-1:123456789012:{}"
    return {**inputs, "backup_id": backup_id, "resolved_region": "us-east-1",
            "launch_template_id": template_id, "schedule_state": "ENABLED",
            "function_arn": arn.format("lambda", f"function:amibackup-{backup_id}"),
            "role_arn": arn.format("iam", f"role/amibackup-{backup_id}-run"),
            "scheduler_role_arn": arn.format("iam", f"role/amibackup-{backup_id}-sch")}


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> tuple[AmiAutoBackupProvider, list[str]]:
    said: list[str] = []
    monkeypatch.setattr("amibackup.provider.info", said.append)
    made = AmiAutoBackupProvider()
    made.region = "us-east-1"
    return made, said


def test_diff_of_many_backups_lists_the_groups_once_and_says_so(clients, provider):
    provider_, said = provider
    groups = [create_group(clients, f"web{i}", size=0) for i in range(3)]
    olds = [outputs(i, g.group_name, g.template_id) for i, g in enumerate(groups * 2)]
    with counted() as (calls, _):
        diffs = [provider_.diff(o["backup_id"], o, normalise(dict(o))) for o in olds]
    assert [d.changes for d in diffs] == [False] * 6
    assert calls == Counter({"auto-scaling.DescribeAutoScalingGroups": 1})
    assert len(said) == 1 and "once for this command" in said[0] and "3 group(s)" in said[0]


def test_diff_sees_a_moved_group_and_calls_nothing_when_the_answer_cannot_change(
        clients, provider):
    provider_, _ = provider
    web, other = create_group(clients, "web", size=0), create_group(clients, "other", size=0)
    clients("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web",
        LaunchTemplate={"LaunchTemplateId": other.template_id, "Version": "$Default"})
    old = outputs(0, "web", web.template_id)
    with counted() as (calls, _):
        # Another input changed: the update re-reads the group anyway; no lookup.
        assert provider_.diff("b0", old, normalise({**old, "retention": 5})).changes
        assert calls == Counter()
        assert provider_.diff("b0", old, normalise(dict(old))).changes  # moved: an update
    assert calls == Counter({"auto-scaling.DescribeAutoScalingGroups": 1})


def test_a_preview_without_aws_access_still_diffs_and_says_why(provider, monkeypatch):
    provider_, said = provider
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    old = outputs(0, "web", "lt-0123456789abcdef0")
    assert not provider_.diff("b0", old, normalise(dict(old))).changes
    assert not provider_.diff("b0", old, normalise(dict(old))).changes
    assert len(said) == 1 and "could not list" in said[0]


def test_provider_sessions_are_reused(provider):
    provider_, _ = provider
    first = provider_._clients({}, "us-east-1")
    assert provider_._clients({}, "us-east-1") is first
    assert isinstance(first, Clients) and provider_._clients({}, "eu-west-1") is not first
    preview.forget()
    assert provider_._clients({}, "us-east-1") is not first


def test_a_cycle_reads_the_claim_and_the_record_in_one_call(clients, group):
    job = hourly_job(0, group.group_name)
    job = type(job)(**{**job.__dict__, "template_id": group.template_id})
    with counted() as (calls, _):
        run_cycle(job, Clients("us-east-1"), now=T0)
    assert calls["ssm.GetParameters"] == 1 and calls["ssm.GetParameter"] == 0


def test_read_ahead_serves_each_parameter_once_and_rereads_after_a_write(clients):
    ssm = clients("ssm")
    ssm.put_parameter(Name="/a", Value="1", Type="String")
    ahead = read_ahead(clients, ["/a", "/missing"])("ssm")
    with counted() as (calls, _):
        fresh = read_ahead(Clients("us-east-1"), ["/a", "/missing"])("ssm")
        assert fresh.get_parameter(Name="/a")["Parameter"]["Value"] == "1"
        with pytest.raises(ClientError, match="ParameterNotFound"):
            fresh.get_parameter(Name="/missing")
        assert calls == Counter({"ssm.GetParameters": 1})
        fresh.put_parameter(Name="/missing", Value="2", Type="String")
        assert fresh.get_parameter(Name="/missing")["Parameter"]["Value"] == "2"  # from AWS
        assert fresh.get_parameter(Name="/a")["Parameter"]["Value"] == "1"  # served once
    assert calls["ssm.GetParameter"] == 2 and ahead is not None
