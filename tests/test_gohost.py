"""The dev kit's Go language host: how it builds and starts a Go program, and its RPCs.

The program here is a small stand-in (standard library only, so it builds in seconds) that
records its arguments, folder and the environment the Go SDK reads, then exits with the
code it is told. The CLI end to end (examples/go through preview, up, destroy) is
tests/test_engine_go.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from devkit import gohost
from devkit.langhost import HostError
from tests.support.langhosts import ENGINE, MONITOR, ServedHost, run_request

GO = shutil.which("go")
needs_go = pytest.mark.skipif(GO is None and os.environ.get("AMIBACKUP_REQUIRE_ENGINE") != "1",
                              reason="go is not installed")
GO_MOD = Path(__file__).resolve().parents[1] / "examples" / "go" / "go.mod"
# What the stand-in records: every variable the Go SDK's getEnvInfo reads, and two that
# must not reach a program.
SDK_ENV = ("PULUMI_MONITOR", "PULUMI_ENGINE", "PULUMI_PROJECT", "PULUMI_STACK",
           "PULUMI_ORGANIZATION", "PULUMI_ROOT_DIRECTORY", "PULUMI_DRY_RUN", "PULUMI_PARALLEL",
           "PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")
NOT_PASSED = ("PULUMI_PLUGINS", "PYTHONPATH")

RECORDER = """package main

import (
	"encoding/json"
	"os"
	"strconv"
)

func main() {
	keys := []string{%s}
	env := map[string]*string{}
	for _, k := range keys {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = &v
		} else {
			env[k] = nil
		}
	}
	cwd, _ := os.Getwd()
	out, _ := json.Marshal(map[string]any{"argv": os.Args[1:], "cwd": cwd, "env": env})
	if err := os.WriteFile(os.Getenv("RECORD"), out, 0o644); err != nil {
		panic(err)
	}
	code, _ := strconv.Atoi(os.Getenv("EXIT_CODE"))
	os.Exit(code)
}
"""


def a_program(folder: Path, source: str | None = None) -> Path:
    """A Go module in `folder` whose main package records its run (or `source`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "go.mod").write_text("module example.com/recorder\n\ngo 1.22\n")
    keys = ", ".join(json.dumps(k) for k in (*SDK_ENV, *NOT_PASSED))
    (folder / "main.go").write_text(source if source is not None else RECORDER % keys)
    return folder


def served(tmp_path: Path, exit_code: int = 0) -> tuple[ServedHost, Path]:
    """tools/pulumi-language-go served, with variables that must not reach the program."""
    record = tmp_path / "record.json"
    env = {**os.environ, "RECORD": str(record), "EXIT_CODE": str(exit_code),
           "PULUMI_PLUGINS": "true", "PYTHONPATH": "/somewhere"}
    env.pop("AMIBACKUP_GOHOST", None)  # the launcher finds devkit/gohost.py itself
    return ServedHost("pulumi-language-go", env), record


def sdk_run_go() -> Path:
    """The Go SDK's run.go in Go's module cache, at examples/go's version (downloaded if
    examples/go's build has not put it there)."""
    assert GO is not None, "go is not on PATH"
    module = "github.com/pulumi/pulumi/sdk/v3"
    version = re.search(rf"^\s*{re.escape(module)} (v\S+)$", GO_MOD.read_text(),
                        flags=re.MULTILINE)
    assert version, f"{GO_MOD} does not require {module}"
    cache = subprocess.run([GO, "env", "GOMODCACHE"], capture_output=True, text=True,
                           check=True).stdout.strip()
    run_go = Path(cache, *module.split("/")[:-1], f"v3@{version[1]}", "go", "pulumi",
                  "run.go")
    if not run_go.is_file():
        done = subprocess.run([GO, "mod", "download", f"{module}@{version[1]}"],
                              capture_output=True, text=True, check=False, timeout=600)
        assert done.returncode == 0, done.stderr
    return run_go


def test_no_go_says_so(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="go is not on PATH: install Go"):
        gohost.find_go(str(tmp_path))


def test_env_is_what_the_go_sdk_reads(tmp_path: Path) -> None:
    grun = gohost.go_run(run_request(tmp_path))
    env = gohost.program_env(grun, "127.0.0.1:7", {"PATH": "/bin", "PYTHONPATH": "/repo",
                                                   "PULUMI_PLUGINS": "true"})
    assert {k: env[k] for k in SDK_ENV if k not in ("PULUMI_CONFIG",
                                                    "PULUMI_CONFIG_SECRET_KEYS")} == {
        "PULUMI_MONITOR": MONITOR, "PULUMI_ENGINE": "127.0.0.1:7", "PULUMI_PROJECT": "p",
        "PULUMI_STACK": "dev", "PULUMI_ORGANIZATION": "org",
        "PULUMI_ROOT_DIRECTORY": str(tmp_path), "PULUMI_DRY_RUN": "true",
        "PULUMI_PARALLEL": "8"}
    assert json.loads(env["PULUMI_CONFIG"]) == {"p:groupName": "web"}
    assert json.loads(env["PULUMI_CONFIG_SECRET_KEYS"]) == ["p:token"]
    assert env["PATH"] == "/bin"
    assert "PYTHONPATH" not in env and "PULUMI_PLUGINS" not in env
    update = gohost.go_run(run_request(tmp_path, dry_run=False))
    assert gohost.program_env(update, "e", {})["PULUMI_DRY_RUN"] == "false"


@needs_go
def test_the_env_covers_every_variable_the_sdk_reads(tmp_path: Path) -> None:
    """Read the SDK's own source: every `Env* = "PULUMI_..."` of run.go is one we set."""
    source = sdk_run_go().read_text()
    read = set(re.findall(r'^\s*Env\w+\s*=\s*"(PULUMI_\w+)"', source, flags=re.MULTILINE))
    assert read, "no Env constants found in the SDK's run.go"
    assert read == set(SDK_ENV)  # what the stand-in program records, too
    env = gohost.program_env(gohost.go_run(run_request(tmp_path)), "e", {})
    assert read <= set(env)
    assert 'envPlugins = "PULUMI_PLUGINS"' in source  # the one we keep away from programs


def test_options_that_are_not_paths_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(HostError, match="runtime.options.binary is 3"):
        gohost.go_run(run_request(tmp_path, binary=3))
    with pytest.raises(HostError, match="runtime.options.buildTarget is True"):
        gohost.go_run(run_request(tmp_path, buildTarget=True))


def test_a_missing_prebuilt_binary_is_named(tmp_path: Path) -> None:
    grun = gohost.go_run(run_request(tmp_path, binary="bin/prog"))
    with pytest.raises(HostError, match=r"runtime.options.binary is 'bin/prog', but .* is "
                                        r"not an executable: build it first"):
        gohost.find_binary(grun, "")
    named = gohost.go_run(run_request(tmp_path, binary="no-such-program-here"))
    with pytest.raises(HostError, match="neither in the program folder nor on PATH"):
        gohost.find_binary(named, str(tmp_path))


def test_the_build_is_go_build_of_the_program_folder() -> None:
    assert gohost.build_argv("/usr/bin/go", "/tmp/x/prog") == [
        "/usr/bin/go", "build", "-o", "/tmp/x/prog", "."]


@needs_go
def test_served_host_builds_runs_and_maps_exit_32_to_bail(tmp_path: Path) -> None:
    program = a_program(tmp_path / "proj")
    host, record = served(tmp_path, exit_code=32)
    try:
        about = host.about("go")
        assert GO is not None
        assert about.version == gohost.go_version(GO) != ""

        answer = host.stub.Run(run_request(program))
        assert (answer.error, answer.bail) == ("", True)  # 32: the SDK logged the error
        seen = json.loads(record.read_text())
        assert seen["cwd"] == str(program)
        assert seen["argv"] == ["a1"]
        env = seen["env"]
        assert env["PULUMI_MONITOR"] == MONITOR and env["PULUMI_ENGINE"] == ENGINE
        assert (env["PULUMI_PROJECT"], env["PULUMI_STACK"]) == ("p", "dev")
        assert env["PULUMI_DRY_RUN"] == "true" and env["PULUMI_PARALLEL"] == "8"
        assert json.loads(env["PULUMI_CONFIG"]) == {"p:groupName": "web"}
        assert env["PULUMI_PLUGINS"] is None and env["PYTHONPATH"] is None
        assert not list(program.glob("pulumi-go-*"))  # the build went to a temporary folder
    finally:
        err = host.stop()
    assert "Traceback" not in err


@needs_go
def test_a_failing_program_is_a_plain_error(tmp_path: Path) -> None:
    program = a_program(tmp_path / "proj")
    host, _ = served(tmp_path, exit_code=3)
    try:
        answer = host.stub.Run(run_request(program, dry_run=False))
        assert (answer.error, answer.bail) == ("Program exited with non-zero exit code: 3",
                                               False)
    finally:
        host.stop()


@needs_go
def test_a_program_that_does_not_build_shows_the_compiler_message(tmp_path: Path) -> None:
    program = a_program(tmp_path / "proj",
                        'package main\n\nfunc main() {\n\tundefinedThing()\n}\n')
    host, record = served(tmp_path)
    try:
        answer = host.stub.Run(run_request(program))
    finally:
        err = host.stop()
    assert not answer.bail
    assert answer.error.startswith(f"the Go program in {program} does not build")
    assert "./main.go:4:2: undefined: undefinedThing" in answer.error
    assert not record.exists()  # nothing ran
    assert "Traceback" not in err + answer.error


@needs_go
def test_a_prebuilt_binary_runs_without_a_build(tmp_path: Path) -> None:
    program = a_program(tmp_path / "proj")
    assert GO is not None
    subprocess.run([GO, "build", "-o", "bin/prog", "."], cwd=program, check=True)
    (program / "main.go").write_text("package main\n\nthis does not compile\n")
    host, record = served(tmp_path)
    try:
        answer = host.stub.Run(run_request(program, binary="bin/prog"))
    finally:
        host.stop()
    assert (answer.error, answer.bail) == ("", False)
    assert json.loads(record.read_text())["env"]["PULUMI_STACK"] == "dev"


@needs_go
def test_build_target_keeps_the_binary_where_pulumi_yaml_says(tmp_path: Path) -> None:
    program = a_program(tmp_path / "proj")
    host, record = served(tmp_path)
    try:
        answer = host.stub.Run(run_request(program, buildTarget="out/program"))
    finally:
        host.stop()
    assert (answer.error, answer.bail) == ("", False)
    assert record.exists()
    assert os.access(program / "out" / "program", os.X_OK)
