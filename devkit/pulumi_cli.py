"""Run the plain Pulumi CLI offline against a local AWS, as a user types it in this repository.

`pulumi(["preview", "--diff"], cwd=...)` runs the engine built by tools/build-engine.sh (its
bin dir first on PATH, beside our language host and dynamic-provider launcher) with the
documented environment, and returns what the user sees: (exit code, stdout, stderr).

`python -m devkit.pulumi_cli local` starts a moto server, seeds the group `demo-web`, prints
the environment to export in a shell, and serves until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PASSPHRASE = "amibackup-local"  # protects the local state's secrets (the pickled provider)
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True)
class CliResult:
    """What one command showed the user."""

    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


@lru_cache(maxsize=1)
def engine_bin() -> Path:
    """The folder of the `pulumi` binary and its helpers (built once, then cached)."""
    out = subprocess.run(["bash", str(ROOT / "tools" / "build-engine.sh")], check=True,
                         stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


@lru_cache(maxsize=1)
def yaml_host() -> Path:
    """The YAML language host, built once (tools/build-yaml-host.sh) and put beside the CLI."""
    out = subprocess.run(["bash", str(ROOT / "tools" / "build-yaml-host.sh"),
                          str(engine_bin())], check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def cli_env(work_dir: Path, endpoint: str | None, bin_dir: Path,
            base: Mapping[str, str]) -> dict[str, str]:
    """The documented offline environment: file backend, passphrase, no downloads, local AWS."""
    env = {k: v for k, v in base.items() if not k.startswith(("PULUMI_", "AWS_"))}
    env.update({
        "PULUMI_BACKEND_URL": work_dir.resolve().as_uri(),
        "PULUMI_HOME": str(work_dir.resolve() / "home"),
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        # The language host of this checkout, also for a copy of the project elsewhere.
        "AMIBACKUP_LANGHOST": str(ROOT / "devkit" / "langhost.py"),
        "AMIBACKUP_NODEHOST": str(ROOT / "devkit" / "nodehost.py"),
        "AMIBACKUP_GOHOST": str(ROOT / "devkit" / "gohost.py"),
        "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', '')}",
    })
    if endpoint:
        env.update({"AWS_ENDPOINT_URL": endpoint, **FAKE_CREDENTIALS})
    return env


def pulumi(args: Sequence[str], cwd: Path, work_dir: Path, endpoint: str | None,
           timeout: float = 600, extra_env: Mapping[str, str] | None = None) -> CliResult:
    """Run `pulumi ARGS` in `cwd` (a project folder); never raises on a non-zero exit."""
    bin_dir = engine_bin()
    env = {**cli_env(work_dir, endpoint, bin_dir, os.environ), **(extra_env or {})}
    work_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([str(bin_dir / "pulumi"), *args, "--color", "never"], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return CliResult(done.returncode, done.stdout, done.stderr)


class ProjectCli:
    """The CLI in one project folder, sharing one local backend and PULUMI_HOME; the provider
    plugin only as installed or named by Pulumi.yaml's `plugins:`, never from PATH."""

    def __init__(self, folder: Path, work_dir: Path, endpoint: str,
                 env: Mapping[str, str] | None = None) -> None:
        self.folder, self.work_dir, self.endpoint = folder, work_dir, endpoint
        self.env = dict(env or {})  # more environment for every command (e.g. GOFLAGS)

    def pulumi(self, *args: str) -> CliResult:
        return pulumi(args, cwd=self.folder, work_dir=self.work_dir, endpoint=self.endpoint,
                      extra_env={**self.env, "PULUMI_IGNORE_AMBIENT_PLUGINS": "true"})

    def ok(self, *args: str) -> str:
        """Run a command that must succeed; its stdout, as the user sees it."""
        done = self.pulumi(*args)
        if done.code != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed:\n{done.text}")
        return done.stdout

    def resource(self, name: str) -> dict[str, Any]:
        """The resource's state (inputs, outputs, type, protect) as `stack export` has it."""
        state = json.loads(self.ok("stack", "export"))["deployment"]["resources"]
        found = [r for r in state if r["urn"].endswith(f"::{name}")]
        if len(found) != 1:
            raise AssertionError(f"{len(found)} resources named {name}: {found}")
        return dict(found[0])


def shell_exports(env: Mapping[str, str], keys: Sequence[str]) -> str:
    """`export K='V'` lines for a POSIX shell."""
    return "\n".join(f"export {k}='{env[k]}'" for k in keys if k in env)


def serve_local() -> int:
    """A moto server with the demo group, and the environment to use it, until Ctrl-C."""
    from amibackup.runner.clients import Clients
    from devkit.localaws.server import moto_server
    from devkit.scenarios import create_group

    with moto_server() as endpoint:
        os.environ.update({"AWS_ENDPOINT_URL": endpoint, **FAKE_CREDENTIALS})
        create_group(Clients("us-east-1"), "demo-web", size=2)
        env = cli_env(ROOT / ".pulumi-work", endpoint, engine_bin(), os.environ)
        print("# local AWS on", endpoint, "with the group demo-web; paste into a shell:")
        print(shell_exports(env, ["PULUMI_BACKEND_URL", "PULUMI_HOME", "PULUMI_CONFIG_PASSPHRASE",
                                  "PULUMI_SKIP_UPDATE_CHECK",
                                  "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
                                  "AWS_ENDPOINT_URL", *FAKE_CREDENTIALS, "PATH"]), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["local"]:
        return serve_local()
    print("usage: python -m devkit.pulumi_cli local", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
