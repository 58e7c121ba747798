"""A Go program through the real Pulumi CLI, with the SDK generated from the schema.

examples/go (main.go, its go.mod pointing the SDK's module path at the generated sdk/go)
runs through the CLI built from Go modules and our Go language host (devkit/gohost.py,
started as `pulumi-language-go`), which builds the program with `go build` for each command
and runs it; the provider is the plugin `pulumi-resource-amibackup` found through
Pulumi.yaml's `plugins:` entry, as from a checkout. Against the strict local AWS: `preview`
(creates nothing), `up` (the backup's schedule and function exist, and a scheduled run makes
an image), `up` again (unchanged), `destroy` (nothing left); and a program that does not
compile: `pulumi preview` fails with the go compiler's message.

The module builds the example once (tools/build-examples.sh go: SDK generated, `go build`);
each command's build then reuses Go's build cache (~/.cache/go-build), since the CLI gets
build-examples.sh's build flags through GOFLAGS, and only links (a few seconds).

Set AMIBACKUP_REQUIRE_ENGINE=1 (as tools/test.sh does) to fail rather than skip when the
engine, Go or the SDK cannot be had.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from amibackup.runner.clients import Clients
from devkit.scenarios import create_group, schedule_of
from tests.support.examples import ROOT, ExampleProject, copy_example, example_or_skip

T0 = datetime(2026, 11, 2, 2, 30, tzinfo=UTC)  # a Monday, 02:30 in Dublin (GMT in November)
# tools/build-examples.sh's flags for the example (the engine's), so that the host's
# `go build` finds everything but the link in the build cache that build filled.
GOFLAGS = "-buildvcs=false -mod=readonly -trimpath -tags=osusergo,grpcnotrace"


def go_project(example: Path, folder: Path, work_dir: Path, endpoint: str,
               main_go: str | None = None) -> ExampleProject:
    """A copy of examples/go (its SDK `replace` made absolute), main.go or `main_go`."""
    copy_example(example, folder, ("main.go", "go.sum"))
    go_mod = (example / "go.mod").read_text()
    assert "=> ../../sdk/go" in go_mod
    (folder / "go.mod").write_text(go_mod.replace("=> ../../sdk/go", f"=> {ROOT / 'sdk' / 'go'}"))
    if main_go is not None:
        (folder / "main.go").write_text(main_go)
    return ExampleProject(folder, work_dir, endpoint, env={"GOFLAGS": GOFLAGS})


@pytest.fixture(scope="module")
def example() -> Path:
    """The engine and Go, then examples/go built once for the module."""
    return example_or_skip("go", "go")


@pytest.fixture(scope="module")
def project(example: Path, tmp_path_factory: pytest.TempPathFactory,
            endpoint: str) -> ExampleProject:
    return go_project(example, tmp_path_factory.mktemp("go"),
                      tmp_path_factory.mktemp("backend"), endpoint)


def test_go_program_preview_up_run_destroy(project: ExampleProject, aws: Clients) -> None:
    group = create_group(aws, "web", size=2)
    project.ok("stack", "init", "dev")
    project.ok("config", "set", "groupName", "web")

    out = project.preview_then_up(aws)
    backup_id = out["backupId"]
    schedule = schedule_of(aws, backup_id)
    assert schedule["ScheduleExpression"] == out["scheduleExpression"]
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Dublin"
    assert out["schedule"].startswith("at 02:30")
    assert "2 unchanged" in project.ok("up", "--yes")

    project.run_then_destroy(aws, group, backup_id, T0)


def test_a_go_program_that_does_not_compile_shows_the_compiler_message(
        example: Path, tmp_path_factory: pytest.TempPathFactory, endpoint: str,
        aws: Clients) -> None:
    main_go = (example / "main.go").read_text()
    assert "GroupName:" in main_go
    broken = go_project(example, tmp_path_factory.mktemp("go-broken"),
                        tmp_path_factory.mktemp("backend-broken"), endpoint,
                        main_go=main_go.replace("GroupName:", "GroupNme:"))
    broken.ok("stack", "init", "dev")
    done = broken.pulumi("preview")
    assert done.code != 0
    assert "does not build" in done.text, done.text
    assert "unknown field GroupNme" in done.text, done.text
    assert "Traceback" not in done.text
    assert not aws("lambda").list_functions()["Functions"]
