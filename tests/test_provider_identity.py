"""Identity and lifecycle through gRPC: recorded region, explicit provider, replacement,
drift repaired, an old pickled provider still deleting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from amibackup.runner.clients import Clients
from devkit.localaws.server import FAKE_CREDENTIALS
from devkit.scenarios import Leftovers, create_group, images_made, leftovers
from tests.support.harness import ProviderClient, provider_process

OLD_PICKLE = (Path(__file__).parent / "fixtures" / "provider-phase1.dill.b64").read_text().strip()


def inputs(**overrides: object) -> dict[str, object]:
    return {"backup_name": "web-backup", "group_name": "web", "frequency": "hourly",
            "owner": "amibackup/test/web-backup", **overrides}


@pytest.fixture
def shell_in_west(endpoint: str) -> Iterator[ProviderClient]:
    """A provider process whose shell says us-west-2 and whose stack says nothing."""
    env = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-west-2",
           "AWS_DEFAULT_REGION": "us-west-2"}
    with provider_process(env) as client:
        yield client


def test_stack_region_change_replaces_and_deletes_in_the_old_region(
        provider, shell_in_west, aws, group):
    provider.configure({"aws:region": "us-east-1"})
    news, _ = provider.check(inputs())
    id_, outs = provider.create(news)
    images_made(aws, id_, 2)
    assert outs["resolved_region"] == "us-east-1"
    # The stack moves to eu-west-1 (a fresh provider process, as the engine starts one).
    shell_in_west.configure({"aws:region": "eu-west-1"})
    diff = shell_in_west.diff(id_, outs, shell_in_west.check(inputs())[0])
    assert list(diff.replaces) == ["region"]
    # Read and delete of the old backup act in us-east-1, not eu-west-1 nor the shell's.
    assert shell_in_west.read(id_, outs)[0] == id_
    shell_in_west.delete(id_, outs)
    assert leftovers(aws, id_) == Leftovers()
    assert not aws("lambda").list_functions()["Functions"]


def test_explicit_provider_region_wins_over_the_stack(provider, aws, endpoint):
    west = Clients("us-west-2")
    create_group(west, "web", size=2)
    provider.configure({"aws:region": "us-east-1"})
    news, _ = provider.check(inputs(aws_identity={"region": "us-west-2", "profile": None,
                                                  "assume_roles": []}))
    id_, outs = provider.create(news)
    assert outs["resolved_region"] == "us-west-2" and ":us-west-2:" in outs["function_arn"]
    assert outs["aws_identity"]["region"] == "us-west-2"  # kept for read and delete
    assert provider.diff(id_, outs, news).changes == 1  # no change
    provider.delete(id_, outs)
    assert not west("lambda").list_functions()["Functions"]


def test_assume_role_chain_from_stack_config_lands_in_the_other_account(endpoint, aws):
    role_arn = "arn:aws:iam::222222222222:role/deployer"
    creds = aws("sts").assume_role(RoleArn=role_arn, RoleSessionName="seed")["Credentials"]
    other = Clients("us-east-1", session=boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name="us-east-1"))
    create_group(other, "web", size=2)  # the group lives in account 222222222222 only
    # A process of its own: the engine configures each provider process once, at its start.
    with provider_process({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}) as provider:
        provider.configure({"aws:region": "us-east-1",
                            "aws:assumeRoles": f'[{{"roleArn": "{role_arn}"}}]'})
        _, outs = provider.create(provider.check(inputs())[0])
    assert ":222222222222:" in outs["function_arn"] and ":222222222222:" in outs["role_arn"]
    assert not aws("lambda").list_functions()["Functions"]  # nothing in the caller's account
    assert other("lambda").list_functions()["Functions"]


def test_replacement_of_the_same_resource_is_let_through(provider, aws, group):
    news, _ = provider.check(inputs())
    old_id, old = provider.create(news)
    # pulumi up --replace: the new backup is made while the old one still exists.
    new_id, new = provider.create(news)
    assert new_id != old_id
    with pytest.raises(Exception, match="already has an amibackup backup"):
        provider.create(provider.check(inputs(owner="amibackup/test/other"))[0])
    provider.delete(old_id, old)
    assert [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"]] == [
        new["function_name"]]
    provider.delete(new_id, new)


def test_refresh_notices_a_hand_deleted_function_and_up_repairs_it(provider, aws, group):
    news, _ = provider.check(inputs())
    id_, outs = provider.create(news)
    assert provider.diff(id_, provider.read(id_, outs)[1], news).changes == 1
    aws("lambda").delete_function(FunctionName=outs["function_name"])
    _, live = provider.read(id_, outs)
    assert not live.get("function_arn")
    assert provider.diff(id_, live, news).changes == 2
    repaired = provider.update(id_, live, news)
    assert aws("lambda").get_function(FunctionName=outs["function_name"])
    assert provider.diff(id_, provider.read(id_, repaired)[1], news).changes == 1
    provider.delete(id_, repaired)


def test_refresh_notices_a_hand_edited_schedule_and_role(provider, aws, group):
    news, _ = provider.check(inputs())
    id_, outs = provider.create(news)
    sch = aws("scheduler")
    live = sch.get_schedule(Name=outs["schedule_name"])
    sch.update_schedule(Name=outs["schedule_name"], ScheduleExpression="rate(1 day)",
                        FlexibleTimeWindow={"Mode": "OFF"}, Target=live["Target"],
                        State=live["State"])
    aws("iam").delete_role_policy(RoleName=f"amibackup-{id_}-run", PolicyName="amibackup")
    _, seen = provider.read(id_, outs)
    assert seen["schedule_expression"] == "rate(1 day)" and not seen.get("role_arn")
    assert provider.diff(id_, seen, news).changes == 2
    repaired = provider.update(id_, seen, news)
    assert sch.get_schedule(Name=outs["schedule_name"])["ScheduleExpression"] == \
        "cron(0 * * * ? *)"
    assert aws("iam").get_role_policy(RoleName=f"amibackup-{id_}-run", PolicyName="amibackup")
    assert provider.diff(id_, provider.read(id_, repaired)[1], news).changes == 1
    provider.delete(id_, repaired)


def test_a_provider_pickled_by_the_phase_1_release_still_deletes(provider, aws, group):
    news, _ = provider.check(inputs())
    id_, outs = provider.create(news)
    images_made(aws, id_, 2)
    provider.serialized, current = OLD_PICKLE, provider.serialized
    try:
        provider.delete(id_, outs)
    finally:
        provider.serialized = current
    assert leftovers(aws, id_) == Leftovers()
