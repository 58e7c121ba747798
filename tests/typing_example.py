"""A program as users write it, checked by mypy (pyproject's files): real types, not Any.

`assert_type` fails mypy if an output or argument degrades to Any.
"""

from __future__ import annotations

from typing import assert_type

import pulumi

from amibackup import AmiAutoBackup, AmiAutoBackupArgs, PersistenceArgs


def declare() -> None:
    backup = AmiAutoBackup("web-backup", group_name="web", frequency="custom",
                           cron="30 2 * * 1-5", retention=5, tags={"team": "web"})
    assert_type(backup, AmiAutoBackup)
    assert_type(backup.backup_id, pulumi.Output[str])
    assert_type(backup.recorded_version, pulumi.Output[int])
    assert_type(backup.latest_image_id, pulumi.Output[str | None])
    assert_type(backup.image_ids, pulumi.Output[list[str]])
    args = AmiAutoBackupArgs(group_name="web", persistence=PersistenceArgs(private_ip=True))
    typed = AmiAutoBackup("typed", args, pulumi.ResourceOptions(protect=True))
    assert_type(typed.schedule_description, pulumi.Output[str])
    found = AmiAutoBackup.get("found", "web-backup-1a2b3c4d")
    assert_type(found.schedule_state, pulumi.Output[str])
