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
    assert reason.startswith("persistence: data_volumes persistence makes the group stateful")
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
    made = fire_schedule(aws, id_, __import__("datetime").datetime(2026, 11, 2, 1))["created"]
    read_id, state, inputs = plugin.read(id_, outs, changed)
    assert read_id == id_ and plain(state)["latestImageId"] == made
    assert inputs == changed and "tags" in secret_keys(state)

    # Import: only the id; the inputs come back from AWS as a program would declare them.
    read_id, imported, imported_inputs = plugin.read(id_, {}, {})
    assert read_id == id_
    assert plain(imported_inputs) == {"groupName": "web", "frequency": "hourly",
                                      "timezone": "UTC", "retention": 4, "noReboot": True,
                                      "paused": False, "tags": {"team": "web"}}
    assert plain(imported)["latestImageId"] == made
    assert plain(imported)["launchTemplateId"] == group.template_id
    rechecked, failures = plugin.check(imported_inputs)
    assert failures == [] and plugin.diff(id_, imported, rechecked).changes == \
        provider_pb2.DiffResponse.DIFF_NONE

    plugin.delete(id_, outs)
    assert not lam.list_functions()["Functions"]
    assert not aws("scheduler").list_schedules()["Schedules"]
    gone_id, _, _ = plugin.read(id_, outs, changed)
    assert gone_id == ""
