"""amibackup: AMI Auto-Backup for AWS Auto Scaling groups, as a Pulumi resource.

The Pulumi-facing names are imported lazily so that the runner, which ships to
AWS Lambda with only this package and boto3, never imports pulumi.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # real types for type checkers; at run time imported lazily below
    from amibackup.provider import AmiAutoBackupProvider
    from amibackup.resource import AmiAutoBackup, AmiAutoBackupArgs, PersistenceArgs

__version__ = "0.1.0"
__all__ = ["AmiAutoBackup", "AmiAutoBackupArgs", "AmiAutoBackupProvider", "PersistenceArgs",
           "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("AmiAutoBackup", "AmiAutoBackupArgs", "PersistenceArgs"):
        from amibackup import resource

        return getattr(resource, name)
    if name == "AmiAutoBackupProvider":
        from amibackup.provider import AmiAutoBackupProvider

        return AmiAutoBackupProvider
    raise AttributeError(f"module 'amibackup' has no attribute {name!r}")
