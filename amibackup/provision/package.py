"""The runner's deployment package: a deterministic zip of the runner code and the AWS SDK
it is tested with.

Lambda's Python runtime includes a boto3 that lags the one amibackup is tested with (AWS
documents the runtime-included SDK versions), and the runner calls APIs and parameters newer
than some runtime versions have (e.g. `DescribeImageReferences`, `DeleteAssociatedSnapshots`,
`IncludeDisabled`). So the zip carries boto3, botocore and their pure-Python dependencies as
installed beside amibackup (in this repository: the versions pinned in constraints.txt).
Lambda puts the function's own code (`/var/task`) ahead of the runtime's libraries on
`sys.path`, so these are the ones the runner imports. botocore's service models are cut to
the newest API version of the services the runner calls (`RUNNER_SERVICES`).

Same bytes for the same files (fixed timestamps, sorted entries), so the code hash changes
only when the package does. The zip is kept in `~/.cache/amibackup/runner/<content hash>.zip`,
so a deploy builds it once per content. Paths mirror the packages, so the Lambda handler
`amibackup.runner.handler.handler` is also importable from an installed amibackup.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from collections.abc import Iterator
from functools import lru_cache
from importlib import metadata
from pathlib import Path, PurePosixPath

import amibackup

HANDLER = "amibackup.runner.handler.handler"
_EPOCH = (1980, 1, 1, 0, 0, 0)
# The AWS SDK and what it imports (pure Python), shipped as installed.
VENDORED = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
# The services whose clients the runner makes (test_package checks the runner's code for
# `clients("...")`); botocore ships only their newest API version.
RUNNER_SERVICES = frozenset({"autoscaling", "ec2", "ssm", "events", "kms", "sts", "cloudwatch",
                             "logs"})
_DIST_INFO_KEPT = ("METADATA", "LICENSE", "NOTICE", "top_level.txt")
_STORED = (".gz", ".zip")  # already compressed


def _sources() -> list[tuple[str, bytes]]:
    root = Path(amibackup.__file__).parent
    # The runner and the modules it imports beside it (the schedule's firing times for the
    # runs it accepts); test_package proves that is all.
    shipped = [root / "access.py", root / "names.py", root / "schema.py",
               *(root / "runner").glob("*.py"), *(root / "schedule").glob("*.py")]
    files = [root / "__init__.py", *sorted(shipped)]
    return [(f"amibackup/{f.relative_to(root).as_posix()}", f.read_bytes()) for f in files]


def _newest_models(paths: list[PurePosixPath]) -> set[tuple[str, str]]:
    """(service, API version) pairs botocore loads: each service's newest version."""
    newest: dict[str, str] = {}
    for path in paths:
        if path.parts[:2] == ("botocore", "data") and len(path.parts) > 4:
            service, version = path.parts[2], path.parts[3]
            newest[service] = max(newest.get(service, ""), version)
    return set(newest.items())


def _shipped(path: PurePosixPath, models: set[tuple[str, str]]) -> bool:
    parts = path.parts
    if ".." in parts or "__pycache__" in parts or path.suffix == ".pyc":
        return False
    if parts[0].endswith(".dist-info"):
        return path.name.startswith(_DIST_INFO_KEPT) or "licenses" in parts
    if parts[:2] == ("botocore", "data") and len(parts) > 3:
        return parts[2] in RUNNER_SERVICES and (len(parts) == 4 or (parts[2], parts[3]) in models)
    return True


def _vendored() -> Iterator[tuple[str, Path]]:
    """(name in the zip, file) of every vendored distribution's shipped files."""
    for name in VENDORED:
        dist = metadata.distribution(name)
        paths = [PurePosixPath(str(f)) for f in dist.files or []]
        models = _newest_models(paths)
        for path in paths:
            if _shipped(path, models):
                yield path.as_posix(), Path(str(dist.locate_file(path)))


def vendored_versions() -> dict[str, str]:
    """The shipped SDK's distributions and their versions."""
    return {name: metadata.version(name) for name in VENDORED}


def _entries() -> list[tuple[str, bytes]]:
    own = _sources()
    others = sorted((name, path.read_bytes()) for name, path in _vendored())
    return [own[0], *sorted(own[1:] + others)]


def _build(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = (zipfile.ZIP_STORED if name.endswith(_STORED)
                                  else zipfile.ZIP_DEFLATED)
            archive.writestr(info, data)
    return buffer.getvalue()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "amibackup" / "runner"


@lru_cache(maxsize=1)
def runner_zip() -> bytes:
    """The zip, from the cache when one was built from the same files."""
    entries = _entries()
    digest = hashlib.sha256()
    for name, data in entries:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    cached = cache_dir() / f"{digest.hexdigest()}.zip"
    try:
        return cached.read_bytes()
    except OSError:
        pass
    built = _build(entries)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(built)
        partial.replace(cached)  # atomic: a concurrent deploy reads a whole zip or none
    except OSError:
        pass  # no cache (read-only home): the zip is still right, only built again next time
    return built


@lru_cache(maxsize=1)
def code_sha256() -> str:
    """Base64 SHA-256, the form Lambda reports as CodeSha256."""
    return base64.b64encode(hashlib.sha256(runner_zip()).digest()).decode()
