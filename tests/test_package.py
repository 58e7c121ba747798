"""The runner's deployment package: deterministic, and runnable with boto3 + stdlib only."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

from amibackup.provision import package

# Lambda's stock Python runtime has boto3 and the standard library, nothing else.
BLOCK_NON_LAMBDA = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"pulumi", "croniter", "yaml", "moto", "grpc", "dill"}:
            raise ImportError(f"{name} is not in the Lambda runtime")
sys.meta_path.insert(0, Blocker())
sys.path.insert(0, sys.argv[1])
import amibackup.runner.handler as h
import amibackup.access, amibackup.names
assert all(m.__file__.startswith(sys.argv[1]) for m in (h, amibackup.access, amibackup.names))
print(h.handler.__module__, h.handler.__name__)
"""


def test_zip_is_deterministic_and_holds_the_handler() -> None:
    first = package.runner_zip()
    package.runner_zip.cache_clear()
    package.code_sha256.cache_clear()
    assert package.runner_zip() == first
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names[0] == "amibackup/__init__.py" and names[1:] == sorted(names[1:])
    assert "amibackup/runner/handler.py" in names and "amibackup/runner/plan.py" in names
    assert "amibackup/access.py" in names and "amibackup/names.py" in names
    assert not [n for n in names if n.startswith("amibackup/provision")]
    module, _, function = package.HANDLER.rpartition(".")
    assert module.replace(".", "/") + ".py" in names and function == "handler"


def test_handler_imports_from_the_zip_without_pulumi(tmp_path: Path) -> None:
    archive = tmp_path / "runner.zip"
    archive.write_bytes(package.runner_zip())
    out = subprocess.run([sys.executable, "-I", "-c", BLOCK_NON_LAMBDA, str(archive)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["amibackup.runner.handler", "handler"]
