"""A small Pulumi language host for Node.js/TypeScript programs (`pulumi-language-nodejs`).

No registry we reach serves Pulumi's own Node.js language host, so the plain CLI could not run
a TypeScript program. This host serves the LanguageRuntime gRPC service the way
devkit/langhost.py does for Python (same RPCs, same answers), and `Run` starts the program
with the runner that ships in the npm package `@pulumi/pulumi` itself
(`node_modules/@pulumi/pulumi/cmd/run`), which is what Pulumi's Node.js host starts too: the
runner connects to the engine, registers the stack, loads TypeScript through ts-node and waits
for outstanding work. What the runner expects of its caller (read in @pulumi/pulumi 3.270.0's
`cmd/run/index.js` and `run.js`):

- flags `--monitor=ADDR` (required), `--engine=ADDR`, `--organization=`, `--project=`,
  `--stack=`, `--root-directory=`, `--pwd=` (it changes there first), `--parallel=N`,
  `--dry-run` (a boolean flag: absent means false), then the program and its arguments. The
  program `.` means "the package.json `main`/`exports` of the program folder";
- config as JSON in `PULUMI_CONFIG` and `PULUMI_CONFIG_SECRET_KEYS`;
- `PULUMI_NODEJS_TYPESCRIPT=true` to load TypeScript (Pulumi.yaml's `runtime.options.typescript`,
  default true), `PULUMI_NODEJS_TSCONFIG_PATH` for another tsconfig (`options.tsconfig`);
- exit code 32 after an error it has already shown the user (the host answers `bail`).

    nodehost.py [--logtostderr] [-v=N] [--tracing URL] ENGINE_ADDRESS

The CLI starts it through tools/pulumi-language-nodejs, reads the port from its first line of
stdout, and stops it with SIGINT, which ends it quietly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
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

RUNNER = Path("node_modules", "@pulumi", "pulumi", "cmd", "run")


@dataclass(frozen=True)
class NodeRun:
    """A program run as the Node runner needs it: which node, runner, entry point, options."""

    run: ProgramRun
    node: str
    runner: Path
    entry: str  # "." (package.json's main) or a path relative to the program folder
    program_dir: str


def find_runner(program_dir: str, root_directory: str) -> Path:
    """`@pulumi/pulumi`'s runner, as node resolves packages: the program's folder, then up."""
    folder = Path(program_dir).resolve()
    for candidate in (folder, *folder.parents):
        runner = candidate / RUNNER
        if (runner / "index.js").is_file():
            return runner
    raise HostError(f"@pulumi/pulumi is not installed for the program in {program_dir}: run "
                    f"`npm ci` (or `npm install`) in {root_directory}, where package.json is")


def find_node(path: str | None) -> str:
    """The `node` executable: on PATH (the real host does the same)."""
    node = shutil.which("node", path=path)
    if node is None:
        raise HostError("node is not on PATH: install Node.js (>= 20) to run TypeScript programs")
    return node


def node_run(request: Any, path: str | None) -> NodeRun:
    """Read a RunRequest and find what the run needs, or say what is missing."""
    run = program_run(request)
    info = request.info
    program_dir = info.program_directory or request.pwd
    entry = info.entry_point or request.program or "."
    typescript = run.options.get("typescript", True)
    if not isinstance(typescript, bool):
        raise HostError(f"Pulumi.yaml runtime.options.typescript is {typescript!r}: "
                        "use true or false")
    return NodeRun(run=run, node=find_node(path),
                   runner=find_runner(program_dir, run.root_directory), entry=entry,
                   program_dir=program_dir)


def node_args(options: Mapping[str, Any]) -> list[str]:
    """Pulumi.yaml's `runtime.options.nodeargs` (a string of node flags), split."""
    raw = options.get("nodeargs", "")
    if not isinstance(raw, str):
        raise HostError(f"Pulumi.yaml runtime.options.nodeargs is {raw!r}: give node's flags "
                        "as one string, e.g. \"--max-old-space-size=4096\"")
    return raw.split()


def runner_argv(nrun: NodeRun, engine: str) -> list[str]:
    """node, its flags, the runner, the runner's flags, then the program and its arguments."""
    run = nrun.run
    argv = [nrun.node, *node_args(run.options), str(nrun.runner),
            f"--monitor={run.monitor}", f"--engine={engine}",
            f"--organization={run.organization}", f"--project={run.project}",
            f"--stack={run.stack}", f"--root-directory={run.root_directory}",
            f"--pwd={nrun.program_dir}", f"--parallel={run.parallel}"]
    if run.dry_run:
        argv.append("--dry-run")
    return [*argv, nrun.entry, *run.args]


def runner_env(nrun: NodeRun, base: Mapping[str, str]) -> dict[str, str]:
    """Config as JSON, as the SDK reads it, and the TypeScript switches the runner reads."""
    run = nrun.run
    env = {**base, **config_env(run)}
    env["PULUMI_NODEJS_TYPESCRIPT"] = "true" if run.options.get("typescript", True) else "false"
    tsconfig = run.options.get("tsconfig")
    if tsconfig:
        env["PULUMI_NODEJS_TSCONFIG_PATH"] = str(tsconfig)
    # The host's own Python path must not leak into the program's tools.
    env.pop("PYTHONPATH", None)
    return env


class NodeHost(LanguageHost):
    """The Python host's RPCs, with Run starting node instead of Python."""

    def About(self, request: Any, context: Any) -> Any:
        node = shutil.which("node")
        version = ""
        if node:
            done = subprocess.run([node, "--version"], capture_output=True, text=True,
                                  check=False)
            version = done.stdout.strip().lstrip("v")
        return language_pb2.AboutResponse(executable=node or "", version=version,
                                          metadata={"host": "amibackup devkit"})

    def Run(self, request: Any, context: Any) -> Any:
        try:
            nrun = node_run(request, os.environ.get("PATH"))
            argv = runner_argv(nrun, self.engine)
        except HostError as err:
            return language_pb2.RunResponse(error=str(err))
        # The child shares our stdout/stderr: the CLI shows its prints as diagnostics.
        child = subprocess.run(argv, cwd=nrun.program_dir, env=runner_env(nrun, os.environ),
                               check=False)
        error, bail = run_outcome(child.returncode)
        return language_pb2.RunResponse(error=error, bail=bail)


def main(argv: Sequence[str] | None = None) -> int:
    return serve_as("pulumi-language-nodejs", sys.argv[1:] if argv is None else argv, NodeHost)


if __name__ == "__main__":
    sys.exit(main())
