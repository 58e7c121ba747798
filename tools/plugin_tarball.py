"""Build the tarball that makes the installed amibackup wheel a Pulumi provider plugin.

    pip install amibackup-<version>-py3-none-any.whl  # into the Python the plugin runs on
    python tools/plugin_tarball.py                      # with that Python
    pulumi plugin install resource amibackup <version> \
        -f dist/pulumi-resource-amibackup-v<version>.tar.gz

The tarball holds one file, `pulumi-resource-amibackup`: a launcher that runs
`<python> -m amibackup.plugin` (the Python that ran this script, unless --python names
another; `AMIBACKUP_PYTHON` overrides it at run time). The version is the package's.
Prints the tarball's path.
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
from pathlib import Path

LAUNCHER = """#!/bin/sh
# The amibackup Pulumi provider plugin (package version {version}): the engine runs
# `pulumi-resource-amibackup <engine address>`; the provider is the amibackup package
# installed in this Python ($AMIBACKUP_PYTHON overrides it).
exec "${{AMIBACKUP_PYTHON:-{python}}}" -u -m amibackup.plugin "$@"
"""


def tarball(python: str, out_dir: Path, version: str) -> Path:
    """Write the plugin tarball for `version` into `out_dir`; its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"pulumi-resource-amibackup-v{version}.tar.gz"
    data = LAUNCHER.format(version=version, python=python).encode()
    info = tarfile.TarInfo("pulumi-resource-amibackup")
    info.size, info.mode = len(data), 0o755
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(info, io.BytesIO(data))
    return path


def main(argv: list[str] | None = None) -> int:
    from amibackup import __version__

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable,
                        help="the Python with amibackup installed (default: this one)")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output folder")
    args = parser.parse_args(argv)
    print(tarball(str(Path(args.python).absolute()), args.out, __version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
