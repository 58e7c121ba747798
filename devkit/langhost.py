"""A small Pulumi language host for Python programs (`pulumi-language-python`).

The Go module proxy here does not serve Pulumi's own Python language host, so the plain CLI
could not run a Python program. This host does what `pulumi preview/up/refresh/destroy` need
of it, the way the real one does: it serves the LanguageRuntime gRPC service, and `Run` starts
the program in a child process with the interpreter of Pulumi.yaml's
`runtime.options.virtualenv`, through this same file in `exec` mode (which follows the SDK's
`pulumi-language-python-exec`: config from `PULUMI_CONFIG`, `Settings`, `runpy` inside
`run_in_stack`, exit 32 after an error already shown to the user).

Two modes, one file (the exec mode runs under the program's interpreter, so this module
imports only the standard library, grpc and pulumi at the top):

    langhost.py [--logtostderr] [-v=N] [--tracing URL] ENGINE_ADDRESS   # the host
    langhost.py exec --monitor ADDR --engine ADDR ... PROGRAM [ARGS...]   # one program run

The CLI starts the host through `tools/pulumi-language-python`, reads the port from its first
line of stdout, and stops it with SIGINT, which ends it quietly.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

HOST_VERSION = "0.1.0"  # reported by GetPluginInfo (must be semver)
# The SDK's exec script exits with this after it has reported the error through the engine:
# the host then answers `bail`, and the CLI shows no second, generic error.
BAIL_EXIT_CODE = 32
SUPPORTED_TOOLCHAINS = ("", "pip")


class HostError(Exception):
    """A problem with the project's setup, worded for the user (field and fix)."""


@dataclass(frozen=True)
class ProgramRun:
    """What one `Run` request asks for, as plain data."""

    project: str
    stack: str
    organization: str
    root_directory: str  # where Pulumi.yaml is
    pwd: str
    program: str  # the entry point, absolute (a folder runs its __main__.py)
    args: tuple[str, ...]
    monitor: str
    dry_run: bool
    parallel: int
    config: dict[str, str]
    secret_keys: tuple[str, ...]
    options: dict[str, Any]  # Pulumi.yaml's runtime.options


def engine_address(argv: Sequence[str]) -> str:
    """The engine's address: the CLI passes it last, after optional logging/tracing flags."""
    positional = [a for i, a in enumerate(argv) if not a.startswith("-")
                  and not (i > 0 and argv[i - 1] == "--tracing")]
    if not positional:
        raise HostError("usage: pulumi-language-<runtime> [--logtostderr] [-v=N] [--tracing URL] "
                        "ENGINE_ADDRESS (the Pulumi CLI starts this host itself)")
    return positional[-1]


def program_run(request: Any) -> ProgramRun:
    """Read a RunRequest: the ProgramInfo fields win over the older flat ones."""
    info = request.info
    root = info.root_directory or request.pwd
    program_dir = info.program_directory or request.pwd
    entry = info.entry_point or request.program or "."
    options = json_format.MessageToDict(info.options) if info.HasField("options") else {}
    return ProgramRun(
        project=request.project, stack=request.stack,
        organization=request.organization or "organization",
        root_directory=root, pwd=request.pwd or program_dir,
        program=os.path.normpath(os.path.join(program_dir, entry)),
        args=tuple(request.args), monitor=request.monitor_address, dry_run=request.dryRun,
        parallel=request.parallel, config=dict(request.config),
        secret_keys=tuple(request.configSecretKeys), options=options)


def interpreter(run: ProgramRun, fallback: str) -> str:
    """The program's Python: `virtualenv`'s (relative to Pulumi.yaml), else `fallback`."""
    toolchain = str(run.options.get("toolchain", ""))
    if toolchain not in SUPPORTED_TOOLCHAINS:
        raise HostError(f"Pulumi.yaml runtime.options.toolchain is {toolchain!r}: this dev-kit "
                        "host runs only pip virtualenvs; set `toolchain: pip` and `virtualenv`")
    venv = run.options.get("virtualenv")
    if not venv:
        return fallback
    folder = Path(run.root_directory, str(venv))
    python = folder / "bin" / "python"
    if not python.exists():
        raise HostError(f"Pulumi.yaml runtime.options.virtualenv is {venv!r}, but {folder} is "
                        "not a virtualenv: create it (bash tools/setup.sh) or fix the path")
    return str(python)


def exec_argv(run: ProgramRun, python: str, engine: str) -> list[str]:
    """The child's command line: this file in exec mode, with the exec script's flags."""
    argv = [python, "-u", str(Path(__file__).resolve()), "exec",
            "--monitor", run.monitor, "--engine", engine, "--project", run.project,
            "--stack", run.stack, "--organization", run.organization,
            "--root_directory", run.root_directory, "--pwd", run.pwd,
            "--parallel", str(run.parallel), "--dry_run", "true" if run.dry_run else "false"]
    return [*argv, run.program, *run.args]


def config_env(run: ProgramRun) -> dict[str, str]:
    """The stack's config as every Pulumi SDK reads it: JSON in two environment variables."""
    return {"PULUMI_CONFIG": json.dumps(run.config),
            "PULUMI_CONFIG_SECRET_KEYS": json.dumps(list(run.secret_keys))}


def exec_env(run: ProgramRun, python: str, base: Mapping[str, str]) -> dict[str, str]:
    """The child's environment: config as JSON, as the SDK reads it, and the virtualenv's PATH."""
    env = {**base, **config_env(run)}
    bin_dir = Path(python).parent
    if (bin_dir.parent / "pyvenv.cfg").exists():  # a virtualenv: activate it for subprocesses
        env["VIRTUAL_ENV"] = str(bin_dir.parent)
        env["PATH"] = f"{bin_dir}{os.pathsep}{base.get('PATH', '')}"
    return env


def run_outcome(exit_code: int) -> tuple[str, bool]:
    """(error, bail) for the engine, from the program's exit code, as the real host answers."""
    if exit_code == 0:
        return "", False
    if exit_code == BAIL_EXIT_CODE:
        return "", True
    if exit_code < 0:
        return f"Program exited unexpectedly: signal {-exit_code}", False
    return f"Program exited with non-zero exit code: {exit_code}", False


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    """The RPCs preview, up, refresh and destroy use; the base class answers UNIMPLEMENTED."""

    def __init__(self, engine: str) -> None:
        self.engine = engine

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=HOST_VERSION)

    def GetRequiredPlugins(self, request: Any, context: Any) -> Any:
        # No plugin is installed on demand: dynamic providers need none, and the CLI finds
        # pulumi-resource-pulumi-python on PATH. Resources of other packages need their plugin.
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request: Any, context: Any) -> Any:
        return language_pb2.GetRequiredPackagesResponse()

    def About(self, request: Any, context: Any) -> Any:
        version = ".".join(str(n) for n in sys.version_info[:3])
        return language_pb2.AboutResponse(executable=sys.executable, version=version,
                                          metadata={"host": "amibackup devkit"})

    def Run(self, request: Any, context: Any) -> Any:
        run = program_run(request)
        try:
            python = interpreter(run, sys.executable)
        except HostError as err:
            return language_pb2.RunResponse(error=str(err))
        # The child shares our stdout/stderr: the CLI shows its prints as diagnostics.
        child = subprocess.run(exec_argv(run, python, self.engine), cwd=run.pwd,
                               env=exec_env(run, python, os.environ), check=False)
        error, bail = run_outcome(child.returncode)
        return language_pb2.RunResponse(error=error, bail=bail)


def serve(argv: Sequence[str], host_class: type[LanguageHost] | None = None) -> int:
    """Serve on a free local port, print it, and run until the CLI's SIGINT/SIGTERM."""
    host = (host_class or LanguageHost)(engine_address(argv))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)])
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(host, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)

    def stop(signum: int, frame: Any) -> None:
        server.stop(grace=0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    server.wait_for_termination()
    return 0


def serve_as(name: str, argv: Sequence[str], host_class: type[LanguageHost]) -> int:
    """`serve`, with a setup problem said to the user as `NAME: problem` (exit 2)."""
    try:
        return serve(argv, host_class)
    except HostError as err:
        print(f"{name}: {err}", file=sys.stderr)
        return 2


def exec_args(argv: Sequence[str]) -> argparse.Namespace:
    """The SDK exec script's flags (what the real host passes it)."""
    parser = argparse.ArgumentParser(prog="langhost.py exec")
    for flag in ("--project", "--root_directory", "--stack", "--parallel", "--dry_run",
                 "--pwd", "--monitor", "--engine", "--tracing", "--organization"):
        parser.add_argument(flag)
    parser.add_argument("PROGRAM")
    parser.add_argument("ARGS", nargs="*")
    return parser.parse_args(argv)


def user_traceback(error: BaseException, program: str) -> str:
    """The traceback from the program's first frame on: the host's own frames are noise."""
    frames = traceback.extract_tb(error.__traceback__)
    entry = os.path.join(program, "__main__.py") if os.path.isdir(program) else program
    for index, frame in enumerate(frames):
        if os.path.abspath(frame.filename) == os.path.abspath(entry):
            return "".join(traceback.format_exception(
                type(error), error, error.__traceback__, limit=-(len(frames) - index)))
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def exec_program(argv: Sequence[str]) -> int:
    """Run one program like the SDK's exec script; the exit code tells the host what happened."""
    import asyncio
    import logging
    import runpy

    import pulumi
    import pulumi.runtime

    args = exec_args(argv)
    pulumi.runtime.set_all_config(pulumi.runtime.get_config_env(),
                                  pulumi.runtime.get_config_secret_keys_env())
    settings = pulumi.runtime.Settings(
        monitor=args.monitor, engine=args.engine, project=args.project, stack=args.stack,
        parallel=int(args.parallel), dry_run=args.dry_run == "true",
        organization=args.organization, root_directory=args.root_directory)
    pulumi.runtime.configure(settings)
    sys.argv = [args.PROGRAM, *args.ARGS]
    if args.pwd:
        os.chdir(args.pwd)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    executor = futures.ThreadPoolExecutor(max_workers=max(int(args.parallel), 1) * 4)
    loop.set_default_executor(executor)
    # Unobserved futures of a failed program are expected in Pulumi's model: keep asyncio quiet.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    exit_code = 1

    def program() -> None:
        runpy.run_path(args.PROGRAM, run_name="__main__")

    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(program))
        exit_code = 0
    except pulumi.RunError as err:
        pulumi.log.error(str(err))
    except Exception as err:  # noqa: BLE001 - any program failure is shown to the user
        pulumi.log.error("Program failed with an unhandled exception:\n"
                         + user_traceback(err, args.PROGRAM))
        exit_code = BAIL_EXIT_CODE
    finally:
        executor.shutdown(wait=True)
        loop.close()
        sys.stdout.flush()
        sys.stderr.flush()
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["exec"]:
        # Run as a script: do not let this folder's modules shadow the program's imports.
        here = str(Path(__file__).resolve().parent)
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
        return exec_program(argv[1:])
    return serve_as("pulumi-language-python", argv, LanguageHost)


if __name__ == "__main__":
    sys.exit(main())
