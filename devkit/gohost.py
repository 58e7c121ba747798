"""A small Pulumi language host for Go programs (`pulumi-language-go`).

No registry we reach serves Pulumi's own Go language host, so the plain CLI could not run a
Go program. This host serves the LanguageRuntime gRPC service the way devkit/langhost.py
does for Python (same RPCs, same answers), and `Run` does what Pulumi's Go host does: it
builds the program in its folder with `go build -o <temporary binary> .` and runs that
binary, which is the program itself (`pulumi.Run` in its `main`). Nothing is passed on the
command line: the Go SDK reads its run from the environment. What it reads (in
github.com/pulumi/pulumi/sdk/v3 v3.274.1, `go/pulumi/run.go`, `getEnvInfo` and the `Env*`
constants beside it):

- `PULUMI_MONITOR` and `PULUMI_ENGINE`: the addresses (`runErrInner` refuses to run
  without them), `PULUMI_PROJECT`, `PULUMI_STACK` (required too), `PULUMI_ORGANIZATION`,
  `PULUMI_ROOT_DIRECTORY` (where Pulumi.yaml is);
- `PULUMI_DRY_RUN` (`strconv.ParseBool`: "true" in a preview, "false" in an update) and
  `PULUMI_PARALLEL` (`strconv.ParseInt`);
- `PULUMI_CONFIG` (a JSON object) and `PULUMI_CONFIG_SECRET_KEYS` (a JSON list);
- `PULUMI_PLUGINS`, which makes the program print its plugins and exit instead of running:
  never passed on from our own environment.

`Run` exits with `constant.ExitStatusLoggedError` (32, `go/common/constant`) after it has
logged the program's error through the engine: the host then answers `bail`, as the Node.js
and Python hosts do. A program that does not compile is never run: the answer's error is
the go compiler's own message (the CLI shows it as the update's error).

Pulumi.yaml's `runtime.options` (as Pulumi's Go host reads them): `binary`, a pre-built
executable run instead of building (a path relative to the program folder, or a name on
PATH); `buildTarget`, where to write the built binary (relative to the program folder) and
keep it, instead of a temporary file removed after the run. The Go toolchain's own settings
(`GOFLAGS`, `GOCACHE`, ...) come from the environment, as for any `go build`.

    gohost.py [--logtostderr] [-v=N] [--tracing URL] ENGINE_ADDRESS

The CLI starts it through tools/pulumi-language-go, reads the port from its first line of
stdout, and stops it with SIGINT, which ends it quietly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi.runtime.proto import language_pb2

if not __package__:  # run as a script by the launcher: import the dev kit from its checkout
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from devkit.langhost import (
    HostError,
    LanguageHost,
    ProgramRun,
    config_env,
    program_run,
    run_outcome,
    serve_as,
)

BINARY_NAME = "pulumi-go-program"  # the temporary binary's name in its own folder


@dataclass(frozen=True)
class GoRun:
    """A program run as the Go host needs it: the folder to build, or the binary to run."""

    run: ProgramRun
    program_dir: str
    binary: str | None  # runtime.options.binary: run this, build nothing
    build_target: str | None  # runtime.options.buildTarget: build into this path and keep it


def option_path(options: Mapping[str, Any], name: str) -> str | None:
    """A string option of Pulumi.yaml's runtime.options, or None; anything else is refused."""
    value = options.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HostError(f"Pulumi.yaml runtime.options.{name} is {value!r}: give a path as "
                        "a string")
    return value


def go_run(request: Any) -> GoRun:
    """Read a RunRequest: the program folder and the Go options."""
    run = program_run(request)
    program_dir = request.info.program_directory or request.pwd
    return GoRun(run=run, program_dir=program_dir,
                 binary=option_path(run.options, "binary"),
                 build_target=option_path(run.options, "buildTarget"))


def find_go(path: str | None) -> str:
    """The `go` executable: on PATH (the real host does the same)."""
    go = shutil.which("go", path=path)
    if go is None:
        raise HostError("go is not on PATH: install Go (the version of the program's go.mod "
                        "or newer) to run Go programs")
    return go


def find_binary(grun: GoRun, path: str | None) -> str:
    """`runtime.options.binary`: a path from the program folder, else a name on PATH."""
    assert grun.binary is not None
    name = grun.binary
    candidate = Path(grun.program_dir, name)
    if os.sep in name or candidate.is_file():
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            raise HostError(f"Pulumi.yaml runtime.options.binary is {name!r}, but {candidate} "
                            "is not an executable: build it first (go build -o "
                            f"{name} .) or remove the option to let the host build")
        return str(candidate.resolve())
    found = shutil.which(name, path=path)
    if found is None:
        raise HostError(f"Pulumi.yaml runtime.options.binary is {name!r}, which is neither "
                        "in the program folder nor on PATH")
    return found


def build_argv(go: str, output: str) -> list[str]:
    """The build, as Pulumi's host runs it: the package in the program folder."""
    return [go, "build", "-o", output, "."]


def build_program(grun: GoRun, go: str, output: str, env: Mapping[str, str]) -> None:
    """Build the program into `output`; a failure is the compiler's message, for the user."""
    done = subprocess.run(build_argv(go, output), cwd=grun.program_dir, env=dict(env),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = (done.stderr + done.stdout).strip()
        raise HostError(f"the Go program in {grun.program_dir} does not build "
                        f"(go build exited with {done.returncode}):\n{message}")


@contextmanager
def program_binary(grun: GoRun, path: str | None,
                   env: Mapping[str, str]) -> Iterator[str]:
    """The executable to run: the pre-built one, or the program built for this run."""
    if grun.binary is not None:
        yield find_binary(grun, path)
        return
    go = find_go(path)
    if grun.build_target is not None:
        target = Path(grun.program_dir, grun.build_target).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        build_program(grun, go, str(target), env)
        yield str(target)
        return
    with tempfile.TemporaryDirectory(prefix="amibackup-gohost-") as folder:
        output = str(Path(folder, BINARY_NAME))
        build_program(grun, go, output, env)
        yield output


def program_env(grun: GoRun, engine: str, base: Mapping[str, str]) -> dict[str, str]:
    """The environment the Go SDK's `pulumi.Run` reads its run from (see the docstring)."""
    run = grun.run
    env = {**base, **config_env(run),
           "PULUMI_MONITOR": run.monitor, "PULUMI_ENGINE": engine,
           "PULUMI_PROJECT": run.project, "PULUMI_STACK": run.stack,
           "PULUMI_ORGANIZATION": run.organization,
           "PULUMI_ROOT_DIRECTORY": run.root_directory,
           "PULUMI_DRY_RUN": "true" if run.dry_run else "false",
           "PULUMI_PARALLEL": str(run.parallel)}
    env.pop("PULUMI_PLUGINS", None)  # would make the program list its plugins, not run
    env.pop("PYTHONPATH", None)  # the host's own Python path is not the program's
    return env


def go_version(go: str | None) -> str:
    """`go env GOVERSION` without its prefix: "1.26.8"; empty without Go."""
    if go is None:
        return ""
    done = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip().removeprefix("go")


class GoHost(LanguageHost):
    """The Python host's RPCs, with Run building and running a Go program."""

    def About(self, request: Any, context: Any) -> Any:
        go = shutil.which("go")
        return language_pb2.AboutResponse(executable=go or "", version=go_version(go),
                                          metadata={"host": "amibackup devkit"})

    def Run(self, request: Any, context: Any) -> Any:
        path = os.environ.get("PATH")
        try:
            grun = go_run(request)
            env = program_env(grun, self.engine, os.environ)
            with program_binary(grun, path, os.environ) as binary:
                # The child shares our stdout/stderr: the CLI shows its prints as diagnostics.
                child = subprocess.run([binary, *grun.run.args], cwd=grun.program_dir,
                                       env=env, check=False)
        except HostError as err:
            return language_pb2.RunResponse(error=str(err))
        error, bail = run_outcome(child.returncode)
        return language_pb2.RunResponse(error=error, bail=bail)


def main(argv: Sequence[str] | None = None) -> int:
    return serve_as("pulumi-language-go", sys.argv[1:] if argv is None else argv, GoHost)


if __name__ == "__main__":
    sys.exit(main())
