"""Pure tests of the operator-intent decisions (issue 10 items 1-5): plain data in, out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from amibackup.runner.plan import (
    TAG_RUN,
    TAG_SOURCE_IMAGE,
    Image,
    Instance,
    Launched,
    choose_promotion,
    choose_repair,
    decide_create,
    newest_instance,
    operator_choice,
    run_key,
    template_conflict,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def img(image_id: str, hour: int, source: str = "ami-base", arch: str = "x86_64",
        state: str = "available") -> Image:
    """A backup made at T0 + `hour` hours from an instance running `source`."""
    at = T0 + timedelta(hours=hour)
    return Image(image_id, f"amibackup-b-{hour}", state, at, (),
                 {TAG_SOURCE_IMAGE: source, TAG_RUN: run_key(at)}, arch)


def inst(instance_id: str, minutes: int, image_id: str = "ami-base",
         template: str = "lt-main", arch: str = "x86_64") -> Instance:
    return Instance(instance_id, image_id, T0 + timedelta(minutes=minutes), "InService",
                    "Healthy", "running", template, arch)


BACKUPS = [img("ami-x", 0), img("ami-y", 1), img("ami-w", 2, source="ami-x")]


# ------------------------------------------------------------------ operator_choice

def test_runner_latest_promotion_is_not_an_operator_choice() -> None:
    assert operator_choice(Launched(4, "ami-w", True, True), BACKUPS) is None


def test_version_made_by_hand_is_the_operators_choice_even_for_our_backup() -> None:
    assert operator_choice(Launched(5, "ami-x", False, True), BACKUPS) == "ami-x"


def test_default_moved_back_to_an_older_runner_version_is_the_operators_choice() -> None:
    assert operator_choice(Launched(2, "ami-x", True, False), BACKUPS) == "ami-x"


def test_runner_version_of_an_image_not_ours_is_the_operators_choice() -> None:
    """E.g. the version teardown restored: the runner made it, the image is someone else's."""
    assert operator_choice(Launched(3, "ami-golden", True, True), BACKUPS) == "ami-golden"


# ------------------------------------------------------------------ rollback (item 1)

def test_rollback_by_new_version_does_not_promote_a_backup_made_before_it() -> None:
    """ami-w is a backup of an instance that ran ami-x, promoted before the operator went
    back to ami-x by a new version at hour 3: it is not brought back."""
    rollback = Launched(5, "ami-x", False, True, created=T0 + timedelta(hours=3))
    assert choose_promotion(BACKUPS, rollback) is None
    after = [*BACKUPS, img("ami-z", 4, source="ami-x")]
    assert choose_promotion(after, rollback) == after[-1]


def test_rollback_by_default_number_does_not_promote_the_version_moved_away_from() -> None:
    """The default moved back to version 2 (ami-x); version 4, the runner's, launches ami-w."""
    rollback = Launched(2, "ami-x", True, False, created=T0, latest_image="ami-w",
                        latest_by_runner=True)
    assert choose_promotion(BACKUPS, rollback) is None
    after = [*BACKUPS, img("ami-z", 4, source="ami-x")]
    assert choose_promotion(after, rollback) == after[-1]


def test_operator_choice_waits_for_an_instance_running_it() -> None:
    key = run_key(T0 + timedelta(hours=9))
    decision = decide_create(BACKUPS, inst("i-a", 0, image_id="ami-w"), key, "ami-x")
    assert not decision.create and "ami-x" in decision.reason and "i-a" in decision.reason
    assert decide_create(BACKUPS, inst("i-b", 0, image_id="ami-x"), key, "ami-x").create


# ------------------------------------------------------------------ repair (item 4)

def test_missing_image_is_repaired_with_the_newest_backup_of_the_same_architecture() -> None:
    gone = Launched(4, "ami-gone", True, True, architecture="x86_64", exists=False)
    images = [*BACKUPS, img("ami-arm", 3, arch="arm64"), img("ami-p", 4, state="pending")]
    repair = choose_repair(images, gone)
    assert repair is not None and repair.image_id == "ami-w"


def test_no_repair_when_the_image_exists_or_nothing_fits() -> None:
    assert choose_repair(BACKUPS, Launched(4, "ami-w", True, True)) is None
    gone = Launched(4, "ami-gone", True, True, architecture="arm64", exists=False)
    assert choose_repair(BACKUPS, gone) is None


# ------------------------------------------------------------------ mixed instances (item 5)

def test_only_instances_of_the_main_template_are_sources() -> None:
    pool = [inst("i-x86", 0), inst("i-arm", 30, "ami-arm", template="lt-arm", arch="arm64")]
    chosen = newest_instance(pool, "lt-main")
    assert chosen is not None and chosen.instance_id == "i-x86"
    assert newest_instance(pool, "lt-other") is None


def test_never_promotes_an_image_of_another_architecture() -> None:
    current = Launched(3, "ami-w", True, True, architecture="x86_64")
    arm = img("ami-arm", 5, arch="arm64")
    assert choose_promotion([*BACKUPS, arm], current) is None
    x86 = img("ami-new", 6)
    assert choose_promotion([*BACKUPS, arm, x86], current) == x86


# ------------------------------------------------------------------ shared template (item 3)

def test_template_conflicts() -> None:
    assert template_conflict(None, "b1", "lt-1", "lt-1") is None
    assert template_conflict("b1", "b1", "lt-1", None) is None
    claimed = template_conflict("b2", "b1", "lt-1", "lt-1")
    assert claimed is not None and "b2" in claimed and "lt-1" in claimed
    moved = template_conflict(None, "b1", "lt-2", "lt-1")
    assert moved is not None and "lt-2" in moved and "lt-1" in moved
