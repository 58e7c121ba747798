"""A Python program on the generated SDK (pulumi_amibackup) through the real Pulumi CLI.

examples/python (__main__.py importing `pulumi_amibackup`, the SDK tools/gen-sdks.sh writes
into sdk/python, not the dynamic resource) runs through the CLI built from Go modules and our
Python language host (devkit/langhost.py, started as `pulumi-language-python`); the provider
is the plugin `pulumi-resource-amibackup` found through Pulumi.yaml's `plugins:` entry, as
from a checkout. tools/build-examples.sh python pip-installs the SDK into a cache folder that
examples/python/site-packages links to; the program finds it through PYTHONPATH and runs on
the checkout's .venv (Pulumi.yaml names no virtualenv), which stays untouched.

Against the strict local AWS: `preview` (creates nothing), `up` (the schedule as the outputs
say), a scheduled run (an image, launched by the group), `up` again (unchanged), `destroy`
(nothing left); and a stateful persistence input refused at preview, naming the field.

Set AMIBACKUP_REQUIRE_ENGINE=1 (as tools/test.sh does) to fail rather than skip when the
engine or the SDK cannot be had.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from amibackup.runner.clients import Clients
from devkit.scenarios import create_group, schedule_of
from tests.support.examples import TYPE, ExampleProject, copy_example, example_or_skip

T0 = datetime(2026, 11, 2, 2, 30, tzinfo=UTC)  # a Monday, 02:30 in Dublin (GMT in November)


def python_project(example: Path, folder: Path, work_dir: Path, endpoint: str,
                   program: str | None = None) -> ExampleProject:
    """A copy of examples/python (its __main__.py, or `program`), the SDK on PYTHONPATH."""
    copy_example(example, folder, ("__main__.py",))
    if program is not None:
        (folder / "__main__.py").write_text(program)
    site = (example / "site-packages").resolve()
    return ExampleProject(folder, work_dir, endpoint, env={"PYTHONPATH": str(site)})


@pytest.fixture(scope="module")
def example() -> Path:
    """The engine, then examples/python's SDK installed once for the module."""
    return example_or_skip("python")


@pytest.fixture(scope="module")
def project(example: Path, tmp_path_factory: pytest.TempPathFactory,
            endpoint: str) -> ExampleProject:
    return python_project(example, tmp_path_factory.mktemp("python"),
                          tmp_path_factory.mktemp("backend"), endpoint)


def test_python_sdk_program_preview_up_run_destroy(project: ExampleProject,
                                                   aws: Clients) -> None:
    group = create_group(aws, "web", size=2)
    project.ok("stack", "init", "dev")
    project.ok("config", "set", "groupName", "web")

    out = project.preview_then_up(aws)  # `+ amibackup:index:AmiAutoBackup`: the plugin's
    backup_id = out["backupId"]
    schedule = schedule_of(aws, backup_id)
    assert schedule["ScheduleExpression"] == out["scheduleExpression"] == "cron(30 2 ? * 2-6 *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Dublin"
    assert out["schedule"].startswith("at 02:30")
    state = project.resource("web-backup")
    assert state["type"] == TYPE and state["outputs"]["backupId"] == backup_id
    inputs = state["inputs"]  # the SDK's snake_case args, as the schema names them
    assert (inputs["groupName"], inputs["retention"], inputs["tags"]) == ("web", 5, {"team": "web"})
    assert inputs["persistence"]["privateIp"] is False
    assert "2 unchanged" in project.ok("up", "--yes")

    project.run_then_destroy(aws, group, backup_id, T0)


def test_a_stateful_persistence_input_is_refused_at_preview_by_name(
        example: Path, tmp_path_factory: pytest.TempPathFactory, endpoint: str,
        aws: Clients) -> None:
    create_group(aws, "web", size=2)
    program = (example / "__main__.py").read_text()
    assert "PersistenceArgs(private_ip=False)" in program
    stateful = python_project(
        example, tmp_path_factory.mktemp("python-stateful"),
        tmp_path_factory.mktemp("backend-stateful"), endpoint,
        program=program.replace("PersistenceArgs(private_ip=False)",
                                "PersistenceArgs(data_volumes=True)"))
    stateful.ok("stack", "init", "dev")
    stateful.ok("config", "set", "groupName", "web")
    refused = stateful.pulumi("preview")
    assert refused.code != 0
    assert re.search(r"property persistence .*has a problem: persistence: dataVolumes "
                     r"persistence makes the group stateful", refused.text), refused.text
    assert "Turn off rootVolume/dataVolumes persistence" in refused.text  # the fix
    assert "Traceback" not in refused.text
    assert not aws("lambda").list_functions()["Functions"]
    assert not aws("scheduler").list_schedules()["Schedules"]
