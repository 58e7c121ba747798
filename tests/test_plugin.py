"""The `amibackup` provider plugin: its schema, and its RPCs as the engine calls them.

The schema is derived from amibackup/schema.py (one source) and checked in as
schema/schema.json; the plugin process (`pulumi-resource-amibackup`) is driven over gRPC
against the strict local AWS, with camelCase property values, secrets and unknowns as the
engine sends them. tests/test_plugin_engine.py runs it through the real CLI.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pulumi.runtime.proto import provider_pb2

from amibackup import __version__, schema
from amibackup.names import Names
from amibackup.plugin.package_schema import TOKEN, camel, package_schema, schema_json
from amibackup.runner.clients import Clients
from devkit.localaws.server import FAKE_CREDENTIALS
from devkit.scenarios import DemoGroup, fire_schedule
from tests.support.plugin_harness import (
    UNKNOWN,
    PluginClient,
    plain,
    plugin_process,
    props,
    secret_keys,
    wire,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def plugin(endpoint: str) -> Iterator[PluginClient]:
    with plugin_process({**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}) as client:
        client.configure(region="us-east-1")
        yield client


# --- the schema -------------------------------------------------------------------------

def test_committed_schema_is_the_one_generated_from_amibackup_schema() -> None:
    committed = (ROOT / "schema" / "schema.json").read_text()
    assert committed == schema_json(), "regenerate: .venv/bin/python tools/render_schema.py"


def test_every_field_is_a_documented_camel_case_property() -> None:
    resource = package_schema()["resources"][TOKEN]
    for f in schema.INPUTS:
        assert resource["inputProperties"][camel(f.name)]["description"].startswith(
            f.doc.split(" ")[0]), f.name
    for f in schema.FIELDS:
        assert resource["properties"][camel(f.name)]["description"], f.name
    assert resource["requiredInputs"] == ["groupName"]
    for name in ("groupName", "noReboot", "deregisterOnDelete", "alarmTopicArn", "backupId",
                 "scheduleExpression", "scheduleDescription", "latestImageId", "imageIds"):
        assert name in resource["properties"], name
    assert {k for k, v in resource["inputProperties"].items() if v.get("replaceOnChanges")} \
        == {"groupName", "region"}
    persistence = package_schema()["types"]["amibackup:index:Persistence"]["properties"]
    assert list(persistence) == ["rootVolume", "dataVolumes", "privateIp"]
    assert "rootVolume or dataVolumes" in resource["inputProperties"]["persistence"][
        "description"]
    assert set(package_schema()["config"]["variables"]) == {"region", "profile"}


def test_a_new_schema_field_reaches_the_package_schema(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    from amibackup.plugin import package_schema as ps

    extra = schema.Field("max_age_hours", "int", None, "Something new.", kind="output")
    monkeypatch.setattr(ps, "OUTPUTS", (*schema.OUTPUTS, extra))
    assert ps.package_schema()["resources"][TOKEN]["properties"]["maxAgeHours"] == {
        "type": "integer", "description": "Something new."}
    monkeypatch.setattr(ps, "OUTPUTS", (*schema.OUTPUTS, schema.Field(
        "odd", "set[int]", None, "x", kind="output")))
    with pytest.raises(ValueError, match="odd.*TYPES"):
        ps.package_schema()


def test_version_is_the_package_version(plugin: PluginClient) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]
    assert plugin.info().version == __version__
    assert json.loads(plugin.schema())["version"] == __version__
    assert plugin.schema() == schema_json()
    assert "pulumi-resource-amibackup" in project["scripts"]


# --- Check ------------------------------------------------------------------------------

def test_check_refuses_a_stateful_group_naming_the_field(plugin: PluginClient) -> None:
    _, failures = plugin.check(props(groupName="web", persistence={"dataVolumes": True},
                                     retention=0, tags={"aws:x": "y"}))
    fields = {p for p, _ in failures}
    assert fields == {"persistence", "retention", "tags"}, failures
    reason = dict(failures)["persistence"]
    assert reason.startswith("persistence: dataVolumes persistence makes the group stateful")
    assert "Turn off rootVolume/dataVolumes persistence" in reason
    assert dict(failures)["tags"].startswith("tags.aws:x: ")


def test_check_fills_defaults_and_the_schedule_in_camel_case(plugin: PluginClient) -> None:
    inputs, failures = plugin.check(props(groupName="web", frequency="custom",
                                          cron="30 2 * * 1-5", timezone="Europe/Dublin",
                                          persistence={"privateIp": True}))
    assert failures == []
    got = plain(inputs)
    assert got["scheduleDescription"] == "at 02:30 on Mon-Fri (Europe/Dublin)"
    assert got["scheduleExpression"] == "cron(30 2 ? * 2-6 *)"
    assert (got["retention"], got["noReboot"], got["paused"]) == (3, True, False)
    assert got["persistence"] == {"rootVolume": False, "dataVolumes": False, "privateIp": True}
    assert got["owner"] == "proj/test/web-backup" and got["backupName"] == "web-backup"


def test_check_shows_unknowns_as_unknown_and_never_rejects_them(plugin: PluginClient) -> None:
    inputs, failures = plugin.check(props(groupName=UNKNOWN, frequency="custom", cron=UNKNOWN,
                                          tags={"team": UNKNOWN}))
    assert failures == []
    got = plain(inputs)
    assert got["groupName"] == UNKNOWN and got["cron"] == UNKNOWN
    assert got["tags"] == {"team": UNKNOWN}
    assert "scheduleExpression" not in got  # not known until cron is


def test_check_keeps_secrets_secret_and_their_derived_outputs(plugin: PluginClient) -> None:
    inputs, failures = plugin.check({**props(groupName="web", frequency="custom"),
                                     "cron": wire("30 2 * * *", secret=True),
                                     "tags": wire({"team": "web"}, secret=True)})
    assert failures == []
    assert secret_keys(inputs) == {"cron", "tags", "scheduleExpression", "scheduleDescription"}


# --- the lifecycle ----------------------------------------------------------------------

def test_import_keeps_deregister_on_delete_and_persistence(
        plugin: PluginClient, aws: Clients, group: DemoGroup) -> None:
    """Inputs no deployed part holds come back from the function's tags: an import that
    brought `deregisterOnDelete` back as true would deregister the images at destroy."""
    news, _ = plugin.check(props(groupName="web", deregisterOnDelete=False,
                                 persistence={"privateIp": True}))
    id_, _ = plugin.create(news)
    _, imported, imported_inputs = plugin.read(id_, {}, {})
    got = plain(imported_inputs)
    assert got["deregisterOnDelete"] is False
    assert got["persistence"] == {"privateIp": True, "rootVolume": False, "dataVolumes": False}
    assert plain(imported)["warnings"] == []
    rechecked, failures = plugin.check(imported_inputs)
    assert failures == [] and plugin.diff(id_, imported, rechecked).changes == \
        provider_pb2.DiffResponse.DIFF_NONE

    # A backup deployed before the tags: the default comes back, and the import says so.
    lam = aws("lambda")
    arn = lam.get_function(FunctionName=Names(id_).function)["Configuration"]["FunctionArn"]
    lam.untag_resource(Resource=arn, TagKeys=["amibackup:on-delete"])
    _, imported, imported_inputs = plugin.read(id_, {}, {})
    assert plain(imported_inputs).get("deregisterOnDelete", True) is True  # the default
    assert any("deregister_on_delete" in w for w in plain(imported)["warnings"])
    plugin.delete(id_, imported)


def test_lifecycle_preview_create_diff_update_refresh_import_delete(
        plugin: PluginClient, aws: Clients, group: DemoGroup) -> None:
    lam = aws("lambda")
    news, _ = plugin.check({**props(groupName="web", retention=2),
                            "tags": wire({"team": "web"}, secret=True)})

    # Create during a preview: nothing is made, the outputs are unknown.
    id_, planned = plugin.create(news, preview=True)
    assert id_ == "" and plain(planned)["backupId"] == UNKNOWN
    assert plain(planned)["scheduleDescription"] == "at minute 0 of every hour (UTC)"
    assert not lam.list_functions()["Functions"]

    id_, outs = plugin.create(news)
    got = plain(outs)
    assert id_ == got["backupId"] and got["resolvedRegion"] == "us-east-1"
    assert got["functionName"] == Names(id_).function and got["imageIds"] == []
    assert "tags" in secret_keys(outs) and "backupId" not in secret_keys(outs)
    assert lam.get_function(FunctionName=Names(id_).function)

    # Diff: an in-place change, then a replacing one, each in detail.
    changed, _ = plugin.check({**news, "retention": wire(4)}, olds=news)
    diff = plugin.diff(id_, outs, changed)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME and list(diff.replaces) == []
    assert dict(diff.detailedDiff)["retention"].kind == provider_pb2.PropertyDiff.UPDATE
    assert list(diff.diffs) == ["retention"]
    moved, _ = plugin.check({**news, "groupName": wire("other")}, olds=news)
    replacing = plugin.diff(id_, outs, moved)
    assert list(replacing.replaces) == ["groupName"]
    assert dict(replacing.detailedDiff)["groupName"].kind == \
        provider_pb2.PropertyDiff.UPDATE_REPLACE
    assert plugin.diff(id_, outs, news).changes == provider_pb2.DiffResponse.DIFF_NONE
    pending, failures = plugin.check({**news, "retention": wire(UNKNOWN)}, olds=news)
    assert failures == [] and plain(pending)["retention"] == UNKNOWN
    unknown = plugin.diff(id_, outs, pending)  # not known yet: a change, shown, not refused
    assert unknown.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(unknown.diffs) == ["retention"] and list(unknown.replaces) == []

    # Update: nothing changes in a preview; then it does.
    def deployed_retention() -> int:
        env = lam.get_function_configuration(FunctionName=Names(id_).function)["Environment"]
        return int(json.loads(env["Variables"]["AMIBACKUP_CONFIG"])["retention"])

    plugin.update(id_, outs, changed, preview=True)
    assert deployed_retention() == 2
    outs = plugin.update(id_, outs, changed)
    assert deployed_retention() == 4 and plain(outs)["retention"] == 4
    assert "tags" in secret_keys(outs)

    # Refresh: images made since show up; the inputs and secrets are kept.
    made = fire_schedule(aws, id_, datetime(2026, 11, 2, 1, tzinfo=UTC))["created"]
    read_id, state, inputs = plugin.read(id_, outs, changed)
    assert read_id == id_ and plain(state)["latestImageId"] == made
    assert inputs == changed and "tags" in secret_keys(state)
    after_refresh = plugin.diff(id_, state, inputs)
    assert after_refresh.changes == provider_pb2.DiffResponse.DIFF_NONE, after_refresh

    # Import: only the id; the inputs come back from AWS as a program would declare them.
    read_id, imported, imported_inputs = plugin.read(id_, {}, {})
    assert read_id == id_
    assert plain(imported_inputs) == {"groupName": "web", "frequency": "hourly",
                                      "timezone": "UTC", "retention": 4, "noReboot": True,
                                      "paused": False, "tags": {"team": "web"},
                                      "deregisterOnDelete": True}
    assert plain(imported)["latestImageId"] == made
    assert plain(imported)["launchTemplateId"] == group.template_id
    rechecked, failures = plugin.check(imported_inputs)
    assert failures == [] and plugin.diff(id_, imported, rechecked).changes == \
        provider_pb2.DiffResponse.DIFF_NONE

    # Drift: a function deleted by hand shows after refresh as an update that repairs it.
    lam.delete_function(FunctionName=Names(id_).function)
    _, drifted, _ = plugin.read(id_, outs, changed)
    assert plain(drifted)["functionArn"] is None
    repair = plugin.diff(id_, drifted, changed)
    assert repair.changes == provider_pb2.DiffResponse.DIFF_SOME and not repair.replaces
    assert dict(repair.detailedDiff)["functionArn"].inputDiff is False
    outs = plugin.update(id_, drifted, changed)
    assert plain(outs)["functionArn"] and lam.get_function(FunctionName=Names(id_).function)

    plugin.delete(id_, outs)
    assert not lam.list_functions()["Functions"]
    assert not aws("scheduler").list_schedules()["Schedules"]
    gone_id, _, _ = plugin.read(id_, outs, changed)
    assert gone_id == ""


# --- shared with the dynamic provider: what an imported backup needs ----------------------

def test_the_same_schedule_spelled_otherwise_is_no_change() -> None:
    from amibackup.provider import changed_keys
    from amibackup.spec import normalise

    imported = normalise({"group_name": "web", "frequency": "custom",
                          "cron": "cron(30 2 ? * 2-6 *)", "timezone": "Europe/Dublin"})
    declared = normalise({"group_name": "web", "frequency": "custom", "cron": "30 2 * * 1-5",
                          "timezone": "Europe/Dublin"})
    assert changed_keys(imported, declared) == []
    preset = normalise({"group_name": "web", "frequency": "custom", "cron": "cron(0 * * * ? *)"})
    assert changed_keys(preset, normalise({"group_name": "web", "frequency": "hourly"})) == []
    other = normalise({**declared, "cron": "30 3 * * 1-5"})
    assert changed_keys(imported, other) == ["cron"]
    moved = normalise({**declared, "timezone": "UTC"})
    assert changed_keys(imported, moved) == ["cron", "timezone"]


def test_a_backup_moved_to_another_resource_takes_its_claim_along(clients, group) -> None:
    from amibackup.provision import claim

    ssm = clients("ssm")
    claim.claim(ssm, group.template_id, "web-1", "py/dev/web-backup", "web")
    claim.claim(ssm, group.template_id, "web-1", "yaml/dev/web-backup", "web")
    assert claim.holder(ssm, group.template_id) == {"backup_id": "web-1",
                                                    "owner": "yaml/dev/web-backup"}
    claim.claim(ssm, group.template_id, "web-1", None, "web")  # no owner: left as it is
    assert claim.holder(ssm, group.template_id)["owner"] == "yaml/dev/web-backup"


def test_configure_reads_the_stack_config_and_a_provider_resource() -> None:
    import asyncio

    from pulumi.provider.experimental.property_value import PropertyValue
    from pulumi.provider.experimental.provider import ConfigureRequest

    from amibackup.plugin.provider import AmiBackupProvider

    def configured(variables: dict[str, str], args: dict[str, PropertyValue]) -> tuple[
            str | None, str | None]:
        plugin = AmiBackupProvider()
        answer = asyncio.run(plugin.configure(ConfigureRequest(variables, args, True, True)))
        assert answer.supports_preview and answer.accept_secrets
        return plugin.hooks.stack.region, plugin.hooks.stack.profile

    assert configured({"amibackup:config:region": "eu-west-1",
                       "amibackup:config:profile": "ops"}, {}) == ("eu-west-1", "ops")
    assert configured({}, {"region": PropertyValue("ap-south-1")}) == ("ap-south-1", None)
    assert configured({}, {}) == (None, None)


def test_serving_the_schema_alone_loads_neither_boto3_nor_the_hooks() -> None:
    """YAML starts the plugin once per command only for its schema: keep that start light."""
    import subprocess
    import sys

    probe = ("import asyncio, sys; from amibackup.plugin.provider import AmiBackupProvider; "
             "from pulumi.provider.experimental.provider import GetSchemaRequest; "
             "asyncio.run(AmiBackupProvider().get_schema(GetSchemaRequest(0))); "
             "print(sorted(m for m in ('boto3', 'amibackup.provider') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
