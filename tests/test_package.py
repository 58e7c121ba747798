"""What ships: the runner's zip (deterministic; the runner, the boto3/botocore it is tested
with, and nothing Lambda lacks) and the wheel (amibackup alone: no dev kit, no tests, and no
import of moto or PyYAML)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from amibackup.provision import package

ROOT = Path(__file__).resolve().parents[1]

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
    assert "botocore/data/ec2/2016-11-15/service-2.json.gz" in names  # the SDK it is tested with
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
    module, _, function = package.HANDLER.rpartition(".")
    assert module.replace(".", "/") + ".py" in names and function == "handler"


def test_handler_imports_from_the_zip_without_pulumi(tmp_path: Path) -> None:
    archive = tmp_path / "runner.zip"
    archive.write_bytes(package.runner_zip())
    out = subprocess.run([sys.executable, "-I", "-c", BLOCK_NON_LAMBDA, str(archive)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["amibackup.runner.handler", "handler"]


# The installed package has none of the dev kit's dependencies: import every module with
# moto and the dev kit unimportable, and PyYAML refused to amibackup's own modules (pulumi,
# a dependency, imports PyYAML itself: that one is allowed).
BLOCK_DEV_KIT = """
import importlib, pkgutil, sys
def importer():
    frame = sys._getframe(2)
    while frame.f_code.co_filename.startswith("<frozen"):
        frame = frame.f_back
    return frame.f_globals.get("__name__", "")
class Blocker:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in {"moto", "devkit"} or (top == "yaml" and importer().startswith("amibackup")):
            raise ImportError(f"{name} is not installed with amibackup")
sys.meta_path.insert(0, Blocker())
import amibackup
names = [m.name for m in pkgutil.walk_packages(amibackup.__path__, "amibackup.")]
for name in names:
    importlib.import_module(name)
print(len(names), " ".join(names))
"""


def test_every_module_imports_without_moto_yaml_or_the_dev_kit() -> None:
    out = subprocess.run([sys.executable, "-c", BLOCK_DEV_KIT], capture_output=True,
                         text=True, check=False, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    count, *names = out.stdout.split()
    assert int(count) == len(names) and "amibackup.provider" in names
    assert "amibackup.runner.handler" in names and "amibackup.cli" in names


def test_the_blocker_really_blocks(tmp_path: Path) -> None:
    """The check above can fail: a module of amibackup importing PyYAML or moto is refused."""
    for dependency in ("yaml", "moto"):
        fake = tmp_path / dependency / "amibackup"
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text(f"import {dependency}\n")
        out = subprocess.run([sys.executable, "-c", BLOCK_DEV_KIT], capture_output=True,
                             text=True, check=False, cwd=fake.parent)
        assert out.returncode != 0
        assert f"{dependency} is not installed with amibackup" in out.stderr


def test_wheel_holds_amibackup_only(tmp_path: Path) -> None:
    """Built from a clean copy of the checkout, as a release would be (no stale build/)."""
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", ".pulumi-work", "*_cache", "__pycache__"))
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
         "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("amibackup-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "amibackup/runner/handler.py" in names and "amibackup/provider.py" in names
    tops = {n.split("/")[0] for n in names}
    assert tops == {"amibackup", next(t for t in tops if t.endswith(".dist-info"))}, tops
    assert not [n for n in names if n.startswith(("devkit/", "tests/", "amibackup/local/"))]


def constraint(name: str) -> str:
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().split()
                if "==" in line)
    return pins[name]


def test_the_zip_carries_the_pinned_sdk_and_the_services_the_runner_calls() -> None:
    """Issue 18: the runner runs with the boto3/botocore of constraints.txt, not Lambda's own."""
    versions = package.vendored_versions()
    assert versions["boto3"] == constraint("boto3") and versions["botocore"] == constraint(
        "botocore")
    names = zipfile.ZipFile(io.BytesIO(package.runner_zip())).namelist()
    for dist, version in versions.items():
        assert any(n.endswith(f"-{version}.dist-info/METADATA") and n.lower().startswith(
            dist.replace("-", "_").lower()) for n in names), dist
    shipped = {n.split("/")[2] for n in names if n.startswith("botocore/data/") and
               n.count("/") > 2}
    assert shipped == set(package.RUNNER_SERVICES)
    root = ROOT / "amibackup"
    runner_code = "".join(p.read_text() for p in [root / "access.py", *root.glob("runner/*.py")])
    called = set(re.findall(r"""clients\(["']([a-z0-9-]+)["']\)""", runner_code))
    called |= set(re.findall(r"""\.client\(\s*["']([a-z0-9-]+)["']""", runner_code))
    assert called and called <= package.RUNNER_SERVICES, called - package.RUNNER_SERVICES


def test_the_zip_is_built_once_per_content(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    package.runner_zip.cache_clear()
    try:
        built = package.runner_zip()
        [cached] = (tmp_path / "amibackup" / "runner").glob("*.zip")
        assert cached.read_bytes() == built
        cached.write_bytes(b"stale")  # the content hash names it: this file is what is read
        package.runner_zip.cache_clear()
        assert package.runner_zip() == b"stale"
    finally:
        package.runner_zip.cache_clear()
