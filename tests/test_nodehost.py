"""The dev kit's Node.js language host: how it starts @pulumi/pulumi's runner, and its RPCs.

The runner here is a stand-in `index.js` that records what it was given, so these tests need
node but no npm install. The CLI end to end (a TypeScript program through preview, up,
refresh, destroy) is tests/test_engine_typescript.py.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from devkit import nodehost
from devkit.langhost import HostError
from tests.support.langhosts import ServedHost, run_request

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None and os.environ.get("AMIBACKUP_REQUIRE_ENGINE") != "1",
                                reason="node is not installed")

# A stand-in for node_modules/@pulumi/pulumi/cmd/run: records argv, cwd and the env it reads.
FAKE_RUNNER = """
const fs = require("fs");
const keys = ["PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS", "PULUMI_NODEJS_TYPESCRIPT",
              "PULUMI_NODEJS_TSCONFIG_PATH", "PYTHONPATH"];
const env = Object.fromEntries(keys.map(k => [k, process.env[k] ?? null]));
fs.writeFileSync(process.env.RECORD, JSON.stringify(
    {argv: process.argv.slice(2), execArgv: process.execArgv, cwd: process.cwd(), env}));
process.exit(Number(process.env.EXIT_CODE ?? "0"));
"""


def a_project(tmp_path: Path) -> Path:
    """A project folder whose node_modules holds the stand-in runner."""
    runner = tmp_path / "proj" / nodehost.RUNNER
    runner.mkdir(parents=True)
    (runner / "index.js").write_text(FAKE_RUNNER)
    return tmp_path / "proj"


def test_runner_is_found_as_node_resolves_packages(tmp_path: Path) -> None:
    project = a_project(tmp_path)
    program = project / "src" / "app"
    program.mkdir(parents=True)
    assert nodehost.find_runner(str(program), str(project)) == (project / nodehost.RUNNER)


def test_no_runner_says_to_install_the_packages(tmp_path: Path) -> None:
    with pytest.raises(HostError, match=r"@pulumi/pulumi is not installed.*run `npm ci`"):
        nodehost.find_runner(str(tmp_path), str(tmp_path))


def test_no_node_says_so(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="node is not on PATH"):
        nodehost.find_node(str(tmp_path))


@needs_node
def test_runner_flags_follow_the_runner_usage(tmp_path: Path) -> None:
    project = a_project(tmp_path)
    nrun = nodehost.node_run(run_request(project, nodeargs="--max-old-space-size=512"),
                             os.environ["PATH"])
    argv = nodehost.runner_argv(nrun, "127.0.0.1:7")
    assert argv[1:3] == ["--max-old-space-size=512", str(project / nodehost.RUNNER)]
    assert argv[3:] == [
        "--monitor=127.0.0.1:1", "--engine=127.0.0.1:7", "--organization=org", "--project=p",
        "--stack=dev", f"--root-directory={project}", f"--pwd={project}", "--parallel=8",
        "--dry-run", ".", "a1"]
    # An update (not a preview) passes no --dry-run: the runner's flag is a boolean.
    update = nodehost.node_run(run_request(project, dry_run=False), os.environ["PATH"])
    assert "--dry-run" not in nodehost.runner_argv(update, "127.0.0.1:7")


@needs_node
def test_options_that_are_not_what_the_runner_takes_are_refused_by_name(tmp_path: Path) -> None:
    project = a_project(tmp_path)
    with pytest.raises(HostError, match="runtime.options.typescript is 'yes'"):
        nodehost.node_run(run_request(project, typescript="yes"), os.environ["PATH"])
    nrun = nodehost.node_run(run_request(project, nodeargs=["--a"]), os.environ["PATH"])
    with pytest.raises(HostError, match="runtime.options.nodeargs is"):
        nodehost.runner_argv(nrun, "e")


@needs_node
def test_config_and_typescript_reach_the_runner_as_it_reads_them(tmp_path: Path) -> None:
    project = a_project(tmp_path)
    nrun = nodehost.node_run(run_request(project, tsconfig="tsconfig.pulumi.json"),
                             os.environ["PATH"])
    env = nodehost.runner_env(nrun, {"PATH": "/bin", "PYTHONPATH": "/repo"})
    assert json.loads(env["PULUMI_CONFIG"]) == {"p:groupName": "web"}
    assert json.loads(env["PULUMI_CONFIG_SECRET_KEYS"]) == ["p:token"]
    assert env["PULUMI_NODEJS_TYPESCRIPT"] == "true"
    assert env["PULUMI_NODEJS_TSCONFIG_PATH"] == "tsconfig.pulumi.json"
    assert "PYTHONPATH" not in env
    plain_js = nodehost.node_run(run_request(project, typescript=False), os.environ["PATH"])
    assert nodehost.runner_env(plain_js, {})["PULUMI_NODEJS_TYPESCRIPT"] == "false"


@needs_node
def test_served_host_runs_the_runner_and_maps_its_exit_code(tmp_path: Path) -> None:
    project = a_project(tmp_path)
    record = tmp_path / "record.json"
    env = {**os.environ, "RECORD": str(record), "EXIT_CODE": "32"}
    env.pop("AMIBACKUP_NODEHOST", None)
    host = ServedHost("pulumi-language-nodejs", env)
    try:
        host.about("node")

        answer = host.stub.Run(run_request(project))
        assert (answer.error, answer.bail) == ("", True)  # 32: the runner showed the error
        seen = json.loads(record.read_text())
        assert seen["cwd"] == str(project)
        assert seen["argv"][0] == "--monitor=127.0.0.1:1"
        assert "--engine=127.0.0.1:9" in seen["argv"]
        assert json.loads(seen["env"]["PULUMI_CONFIG"]) == {"p:groupName": "web"}
        assert seen["env"]["PYTHONPATH"] is None

        missing = host.stub.Run(run_request(tmp_path))  # no node_modules there
        assert "npm ci" in missing.error
    finally:
        err = host.stop()
    assert "Traceback" not in err


@needs_node
def test_a_failing_runner_is_a_plain_error(tmp_path: Path) -> None:
    project = a_project(tmp_path)
    env = {**os.environ, "RECORD": str(tmp_path / "r.json"), "EXIT_CODE": "3"}
    host = ServedHost("pulumi-language-nodejs", env)
    try:
        answer = host.stub.Run(run_request(project, dry_run=False))
        assert (answer.error, answer.bail) == ("Program exited with non-zero exit code: 3",
                                               False)
    finally:
        host.stop()
