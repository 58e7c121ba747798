"""The dev kit's language hosts as the CLI meets them: a RunRequest, and a host served
through its launcher in tools/ (engine address last, port on the first line of stdout,
SIGINT to stop). Shared by tests/test_nodehost.py and tests/test_gohost.py."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
ENGINE = "127.0.0.1:9"  # the engine address the served host is given
MONITOR = "127.0.0.1:1"


def run_request(project: Path, *, dry_run: bool = True, entry: str = ".",
                **options: Any) -> language_pb2.RunRequest:
    """A RunRequest for the program in `project`, with Pulumi.yaml's runtime.options."""
    info = language_pb2.ProgramInfo(root_directory=str(project),
                                    program_directory=str(project), entry_point=entry)
    if options:
        info.options.CopyFrom(struct_pb2.Struct())
        info.options.update(options)
    return language_pb2.RunRequest(
        project="p", stack="dev", pwd=str(project), program=entry, args=["a1"],
        config={"p:groupName": "web"}, dryRun=dry_run, parallel=8,
        monitor_address=MONITOR, configSecretKeys=["p:token"], organization="org",
        info=info)


class ServedHost:
    """tools/<launcher> started as the CLI starts it: engine address last."""

    def __init__(self, launcher: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [str(ROOT / "tools" / launcher), ENGINE],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = language_pb2_grpc.LanguageRuntimeStub(self.channel)

    def about(self, executable: str) -> language_pb2.AboutResponse:
        """The RPCs every host answers alike; About names this language's `executable`
        (not the Python host's)."""
        about = self.stub.About(language_pb2.AboutRequest())
        assert Path(about.executable).name == executable, about
        assert self.stub.GetPluginInfo(empty_pb2.Empty()).version
        assert not self.stub.GetRequiredPackages(
            language_pb2.GetRequiredPackagesRequest()).packages
        return about

    def stop(self) -> str:
        """SIGINT, as the CLI stops it: it must end quietly (exit 0); its stderr."""
        self.channel.close()
        self.process.send_signal(signal.SIGINT)
        _, err = self.process.communicate(timeout=20)
        assert self.process.returncode == 0, err
        return err
