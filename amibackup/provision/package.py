"""The runner's deployment package: a deterministic zip of the installed runner code.

Same bytes for the same code (fixed timestamps, sorted entries), so the code hash
changes only when the package does. Paths mirror the package, so the Lambda handler
`amibackup.runner.handler.handler` is also importable from an installed amibackup.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from functools import lru_cache
from pathlib import Path

import amibackup

HANDLER = "amibackup.runner.handler.handler"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _sources() -> list[tuple[str, bytes]]:
    root = Path(amibackup.__file__).parent
    # The runner and the modules it imports beside it (the schedule's firing times for the
    # runs it accepts); test_package proves that is all.
    shipped = [root / "access.py", root / "names.py", root / "schema.py",
               *(root / "runner").glob("*.py"), *(root / "schedule").glob("*.py")]
    files = [root / "__init__.py", *sorted(shipped)]
    return [(f"amibackup/{f.relative_to(root).as_posix()}", f.read_bytes()) for f in files]


@lru_cache(maxsize=1)
def runner_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in _sources():
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


@lru_cache(maxsize=1)
def code_sha256() -> str:
    """Base64 SHA-256, the form Lambda reports as CodeSha256."""
    return base64.b64encode(hashlib.sha256(runner_zip()).digest()).decode()
