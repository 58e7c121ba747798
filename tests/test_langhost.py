"""The dev kit's Python language host: its decisions, and the served RPCs, without the CLI.

The CLI end to end (preview/up/refresh/destroy through this host) is tests/test_engine_e2e.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

from devkit import langhost
from devkit.langhost import HostError, ProgramRun
from tests.support.engine import REQUIRE, engine_or_skip

ROOT = Path(__file__).resolve().parents[1]


def a_run(tmp_path: Path, **options: object) -> ProgramRun:
    return ProgramRun(project="p", stack="s", organization="organization",
                      root_directory=str(tmp_path), pwd=str(tmp_path), program=str(tmp_path),
                      args=(), monitor="127.0.0.1:1", dry_run=True, parallel=4,
                      config={"amibackup:backups": "[]"}, secret_keys=("aws:secretKey",),
                      options=dict(options))


@pytest.mark.parametrize("argv, address", [
    (["127.0.0.1:4000"], "127.0.0.1:4000"),
    (["--logtostderr", "-v=9", "127.0.0.1:4000"], "127.0.0.1:4000"),
    (["--tracing", "http://t:9411", "127.0.0.1:4000"], "127.0.0.1:4000"),
])
def test_engine_address_is_the_last_argument(argv: list[str], address: str) -> None:
    assert langhost.engine_address(argv) == address


def test_no_engine_address_says_who_starts_the_host() -> None:
    with pytest.raises(HostError, match="the Pulumi CLI starts this host"):
        langhost.engine_address(["--tracing", "http://t:9411"])


def test_program_runs_with_the_virtualenv_of_pulumi_yaml(tmp_path: Path) -> None:
    python = tmp_path / "env" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.touch()
    assert langhost.interpreter(a_run(tmp_path, virtualenv="env"), "fallback") == str(python)
    assert langhost.interpreter(a_run(tmp_path), "fallback") == "fallback"


def test_a_missing_virtualenv_names_the_option_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(HostError, match=r"runtime.options.virtualenv is '.venv'.*tools/setup.sh"):
        langhost.interpreter(a_run(tmp_path, virtualenv=".venv"), "fallback")


def test_other_toolchains_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(HostError, match=r"toolchain is 'uv'.*toolchain: pip"):
        langhost.interpreter(a_run(tmp_path, toolchain="uv"), "fallback")


def test_config_reaches_the_program_as_the_sdk_reads_it(tmp_path: Path) -> None:
    env = langhost.exec_env(a_run(tmp_path), sys.executable, {"PATH": "/usr/bin"})
    assert json.loads(env["PULUMI_CONFIG"]) == {"amibackup:backups": "[]"}
    assert json.loads(env["PULUMI_CONFIG_SECRET_KEYS"]) == ["aws:secretKey"]


def test_exec_command_carries_the_run() -> None:
    run = a_run(Path("/proj"))
    argv = langhost.exec_argv(run, "/venv/bin/python", "127.0.0.1:7")
    assert argv[:4] == ["/venv/bin/python", "-u", str(ROOT / "devkit" / "langhost.py"), "exec"]
    parsed = langhost.exec_args(argv[4:])
    assert (parsed.monitor, parsed.engine, parsed.dry_run, parsed.PROGRAM) == (
        "127.0.0.1:1", "127.0.0.1:7", "true", "/proj")


@pytest.mark.parametrize("code, outcome", [
    (0, ("", False)),
    (32, ("", True)),  # the program already reported its error: bail quietly
    (1, ("Program exited with non-zero exit code: 1", False)),
    (-9, ("Program exited unexpectedly: signal 9", False)),
])
def test_exit_codes_map_to_the_engine_answer(code: int, outcome: tuple[str, bool]) -> None:
    assert langhost.run_outcome(code) == outcome


def test_served_host_answers_and_stops_quietly_on_sigint() -> None:
    host = subprocess.Popen([sys.executable, "-u", str(ROOT / "devkit" / "langhost.py"),
                             "127.0.0.1:1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert host.stdout is not None
        port = int(host.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = language_pb2_grpc.LanguageRuntimeStub(channel)
            assert stub.GetPluginInfo(empty_pb2.Empty()).version == langhost.HOST_VERSION
            assert not stub.GetRequiredPackages(
                language_pb2.GetRequiredPackagesRequest()).packages
            with pytest.raises(grpc.RpcError) as unsupported:
                stub.Pack(language_pb2.PackRequest())
            assert unsupported.value.code() == grpc.StatusCode.UNIMPLEMENTED
        host.send_signal(2)
        _, err = host.communicate(timeout=20)
        assert host.returncode == 0 and "Traceback" not in err
    finally:
        if host.poll() is None:
            host.kill()


def test_a_failing_program_shows_its_own_traceback_once(tmp_path: Path) -> None:
    """Through the CLI: the program's prints and its part of the traceback, then bail."""
    from devkit import pulumi_cli

    engine_or_skip()  # fails instead when AMIBACKUP_REQUIRE_ENGINE=1
    project = tmp_path / "bad"
    project.mkdir()
    (project / ".venv").symlink_to(ROOT / ".venv")
    (project / "Pulumi.yaml").write_text(
        "name: bad\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n")
    (project / "__main__.py").write_text(
        'print("hello from the program")\n\ndef boom():\n    raise ValueError("on purpose")\n'
        "\nboom()\n")
    work = tmp_path / "state"
    assert pulumi_cli.pulumi(["stack", "init", "t"], project, work, None).code == 0
    shown = pulumi_cli.pulumi(["preview"], project, work, None)
    assert shown.code != 0
    assert "hello from the program" in shown.stdout
    assert "error: Program failed with an unhandled exception:" in shown.stdout
    assert 'File "' + str(project / "__main__.py") + '", line 4, in boom' in shown.stdout
    assert "langhost.py" not in shown.stdout  # the host's own frames are left out
    assert "ValueError: on purpose" in shown.stdout
    assert "non-zero exit code" not in shown.text  # bail: no second, generic error


def broken_engine() -> Path:
    raise RuntimeError("build-engine.sh failed")


def test_an_engine_error_skips_only_when_the_engine_is_not_required(monkeypatch) -> None:
    """Issue 18 item 14: with AMIBACKUP_REQUIRE_ENGINE=1 an engine error fails the test."""
    monkeypatch.setenv(REQUIRE, "1")
    with pytest.raises(RuntimeError, match="build-engine.sh failed"):
        engine_or_skip(broken_engine)
    monkeypatch.delenv(REQUIRE)
    with pytest.raises(pytest.skip.Exception, match="no Pulumi engine"):
        engine_or_skip(broken_engine)
