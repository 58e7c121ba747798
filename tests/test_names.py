"""Every AWS name of a backup derives from its id and fits AWS's patterns (pure, no AWS)."""

from __future__ import annotations

import re

import pytest

from amibackup.names import TAG_BACKUP, Names, ascii_slug, image_name, new_backup_id

# The patterns AWS documents for each name (all also cap the length at 64).
IAM_ROLE = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
LAMBDA_FUNCTION = re.compile(r"[a-zA-Z0-9_-]{1,64}")
SCHEDULE = re.compile(r"[0-9a-zA-Z_.-]{1,64}")
SSM_PARAMETER = re.compile(r"[a-zA-Z0-9_.\-/]{1,1011}")

RESOURCE_NAMES = ["web-backup", "sauvegarde-été", "Überwachung", "バックアップ", "a b/c:d",
                  "x" * 300, "-", "web_backup.prod@eu"]


@pytest.mark.parametrize("resource_name", RESOURCE_NAMES)
def test_every_name_fits_its_aws_pattern(resource_name: str) -> None:
    names = Names(new_backup_id(resource_name))
    assert IAM_ROLE.fullmatch(names.runner_role), names.runner_role
    assert IAM_ROLE.fullmatch(names.scheduler_role), names.scheduler_role
    assert LAMBDA_FUNCTION.fullmatch(names.function), names.function
    assert SCHEDULE.fullmatch(names.schedule), names.schedule
    assert SSM_PARAMETER.fullmatch(names.lock_parameter), names.lock_parameter
    assert names.log_group == f"/aws/lambda/{names.function}"


def test_accented_names_are_transliterated_not_dropped() -> None:
    backup_id = new_backup_id("sauvegarde-été")
    assert re.fullmatch(r"sauvegarde-ete-[0-9a-f]{8}", backup_id), backup_id
    assert Names(backup_id).runner_role == f"amibackup-{backup_id}-run"


def test_a_name_with_no_ascii_left_still_gets_an_id() -> None:
    assert re.fullmatch(r"backup-[0-9a-f]{8}", new_backup_id("バックアップ"))


def test_ids_are_unique_per_call() -> None:
    assert new_backup_id("web") != new_backup_id("web")


def test_names_stay_within_64_even_for_an_unexpectedly_long_id() -> None:
    names = Names("é" + "y" * 200)
    for name in (names.function, names.schedule, names.runner_role, names.scheduler_role):
        assert len(name) <= 64 and name.isascii()
    assert names.runner_role.endswith("-run") and names.scheduler_role.endswith("-sch")


def test_plain_ids_keep_the_names_deployed_backups_already_have() -> None:
    names = Names("web-backup-1a2b3c4d")
    assert (names.function, names.schedule, names.runner_role, names.scheduler_role) == (
        "amibackup-web-backup-1a2b3c4d", "amibackup-web-backup-1a2b3c4d",
        "amibackup-web-backup-1a2b3c4d-run", "amibackup-web-backup-1a2b3c4d-sch")
    assert names.lock_parameter == "/amibackup/web-backup-1a2b3c4d/lock"
    assert names.image("20240501T1200Z") == image_name("web-backup-1a2b3c4d", "20240501T1200Z")


def test_slug_and_tag_vocabulary() -> None:
    assert ascii_slug("  café crème ") == "cafe-creme"
    assert TAG_BACKUP == "amibackup:backup"
