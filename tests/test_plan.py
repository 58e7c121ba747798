"""Pure tests of the backup cycle's decisions (plain data in, decisions out)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from amibackup.runner.plan import (
    TAG_BACKUP,
    TAG_RUN,
    TAG_SOURCE_IMAGE,
    Image,
    Instance,
    Launched,
    choose_promotion,
    decide_create,
    decide_prune,
    image_name,
    newest_instance,
    operator_choice,
    run_key,
    too_soon,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
AMI_NAME_RE = re.compile(r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}$")


def inst(instance_id: str, minutes: int = 0, *, image_id: str = "ami-base",
         lifecycle: str = "InService", health: str = "Healthy",
         state: str = "running") -> Instance:
    return Instance(instance_id, image_id, T0 + timedelta(minutes=minutes), lifecycle, health,
                    state)


def img(image_id: str, hour: int, *, state: str = "available", source: str = "ami-base",
        created_hour: int | None = None, recorded_run: bool = True) -> Image:
    """A backup made by the run at T0 + `hour` hours (created then unless told otherwise);
    the record names its run unless `recorded_run` is false. Its tags say the same, but only
    the record counts."""
    run = run_key(T0 + timedelta(hours=hour))
    created = T0 + timedelta(hours=hour if created_hour is None else created_hour)
    tags = {TAG_BACKUP: "b-1", TAG_SOURCE_IMAGE: source, TAG_RUN: run}
    return Image(image_id, f"amibackup-b-1-{run}", state, created, (f"snap-{image_id}",), tags,
                 run=run if recorded_run else None)


def ours(image_id: str) -> Launched:
    """The template's newest version, made by the runner's promotion of `image_id`."""
    return Launched(2, image_id, by_runner=True, is_latest=True)


def theirs(image_id: str | None) -> Launched:
    """The template's newest version, made by hand (or before any promotion)."""
    return Launched(2, image_id, by_runner=False, is_latest=True)


# ---------------------------------------------------------------- newest_instance


def test_newest_instance_picks_latest_launch() -> None:
    chosen = newest_instance([inst("i-a", 0), inst("i-c", 30), inst("i-b", 10)])
    assert chosen is not None and chosen.instance_id == "i-c"


def test_newest_instance_breaks_ties_deterministically() -> None:
    pool = [inst("i-a", 5), inst("i-b", 5), inst("i-0", 1)]
    assert newest_instance(pool) == newest_instance(list(reversed(pool)))
    chosen = newest_instance(pool)
    assert chosen is not None and chosen.instance_id == "i-b"


@pytest.mark.parametrize("newer", [
    pytest.param(inst("i-new", 60, lifecycle="Standby"), id="standby"),
    pytest.param(inst("i-new", 60, lifecycle="Pending"), id="pending"),
    pytest.param(inst("i-new", 60, lifecycle="Pending:Wait"), id="pending-wait"),
    pytest.param(inst("i-new", 60, lifecycle="Terminating"), id="terminating"),
    pytest.param(inst("i-new", 60, lifecycle="Warmed:Running"), id="warm-pool"),
    pytest.param(inst("i-new", 60, health="Unhealthy"), id="unhealthy"),
    pytest.param(inst("i-new", 60, state="stopped"), id="stopped"),
])
def test_newest_instance_skips_ineligible(newer: Instance) -> None:
    chosen = newest_instance([inst("i-old", 0), newer])
    assert chosen is not None and chosen.instance_id == "i-old"


def test_newest_instance_none_when_nothing_qualifies() -> None:
    assert newest_instance([]) is None
    assert newest_instance([inst("i-a", lifecycle="Standby"), inst("i-b", health="Unhealthy"),
                            inst("i-c", state="stopped")]) is None


# ---------------------------------------------------------------- decide_create


def test_create_when_nothing_stands_in_the_way() -> None:
    decision = decide_create([img("ami-1", 0)], inst("i-a"), run_key(T0 + timedelta(hours=1)),
                             None)
    assert decision.create is True
    assert decision.existing is None


def test_retry_of_the_same_run_returns_existing_image() -> None:
    done = img("ami-2", 1, state="pending")
    key = run_key(T0 + timedelta(hours=1))
    decision = decide_create([img("ami-1", 0), done], inst("i-a"), key, "ami-1")
    assert decision.create is False
    assert decision.existing is done
    assert key in decision.reason and "ami-2" in decision.reason


def test_pending_image_of_another_run_skips() -> None:
    decision = decide_create([img("ami-1", 0, state="pending")], inst("i-a"),
                             run_key(T0 + timedelta(hours=1)), None)
    assert decision.create is False
    assert decision.existing is None
    assert "ami-1 is still pending" in decision.reason


def test_no_source_instance_skips() -> None:
    decision = decide_create([], None, run_key(T0), None)
    assert decision.create is False
    assert "no InService and Healthy instance" in decision.reason


def test_manual_default_and_source_on_older_ami_skips() -> None:
    source = inst("i-a", image_id="ami-old")
    decision = decide_create([img("ami-1", 0)], source, run_key(T0 + timedelta(hours=1)),
                             "ami-manual")
    assert decision.create is False
    assert "manual change" in decision.reason
    assert "ami-manual" in decision.reason and "i-a" in decision.reason


def test_manual_default_and_source_running_it_creates() -> None:
    source = inst("i-a", image_id="ami-manual")
    decision = decide_create([img("ami-1", 0)], source, run_key(T0 + timedelta(hours=1)),
                             "ami-manual")
    assert decision.create is True


def test_our_default_and_source_on_older_ami_creates() -> None:
    """Not a manual change: the template launches the runner's own latest promotion (so
    `operator_choice` is None), rolling is pending."""
    source = inst("i-a", image_id="ami-base")
    assert operator_choice(ours("ami-1"), [img("ami-1", 0)]) is None
    decision = decide_create([img("ami-1", 0)], source, run_key(T0 + timedelta(hours=1)),
                             None)
    assert decision.create is True


# ---------------------------------------------------------------- choose_promotion


def test_promotes_newest_available_over_our_older_default() -> None:
    images = [img("ami-1", 0), img("ami-3", 2), img("ami-2", 1)]
    promoted = choose_promotion(images, ours("ami-1"))
    assert promoted is not None and promoted.image_id == "ami-3"


def test_no_promotion_when_default_is_already_newest() -> None:
    assert choose_promotion([img("ami-1", 0), img("ami-2", 1)], ours("ami-2")) is None


def test_never_moves_backwards() -> None:
    # The default is our newest backup but it is not "available" (e.g. disabled): an older
    # available backup must not replace it.
    images = [img("ami-1", 0), img("ami-2", 1, state="disabled")]
    assert choose_promotion(images, ours("ami-2")) is None


@pytest.mark.parametrize("state", ["failed", "pending", "invalid", "error"])
def test_never_promotes_an_unavailable_image(state: str) -> None:
    images = [img("ami-1", 0), img("ami-2", 1, state=state)]
    assert choose_promotion(images, ours("ami-1")) is None


def test_no_promotion_without_available_backup() -> None:
    assert choose_promotion([], theirs("ami-manual")) is None
    assert choose_promotion([img("ami-1", 0, state="pending")], theirs(None)) is None


def test_manual_default_not_replaced_by_backup_of_other_ami() -> None:
    images = [img("ami-1", 0, source="ami-old")]
    assert choose_promotion(images, theirs("ami-manual")) is None


def test_manual_default_replaced_by_backup_of_instance_running_it() -> None:
    images = [img("ami-1", 0, source="ami-old"), img("ami-2", 1, source="ami-manual")]
    promoted = choose_promotion(images, theirs("ami-manual"))
    assert promoted is not None and promoted.image_id == "ami-2"


def test_no_default_promotes_newest() -> None:
    promoted = choose_promotion([img("ami-1", 0), img("ami-2", 1)], theirs(None))
    assert promoted is not None and promoted.image_id == "ami-2"


# ---------------------------------------------------------------- decide_prune


def ids(images: tuple[Image, ...]) -> set[str]:
    return {i.image_id for i in images}


@pytest.mark.parametrize("retention", [1, 2, 3, 5, 8])
def test_prune_keeps_newest_n_available(retention: int) -> None:
    images = [img(f"ami-{h}", h) for h in range(6)]
    decision = decide_prune(images, retention, in_use=())
    newest_first = [f"ami-{h}" for h in reversed(range(6))]
    assert [i.image_id for i in decision.kept] == newest_first[:retention]
    assert ids(decision.delete) == set(newest_first[retention:])
    assert decision.protected == ()


def test_prune_protects_in_use_beyond_retention() -> None:
    images = [img(f"ami-{h}", h) for h in range(5)]
    decision = decide_prune(images, 2, in_use={"ami-0", "ami-4"})
    assert ids(decision.kept) == {"ami-4", "ami-3"}
    assert decision.protected == ("ami-0",)
    assert ids(decision.delete) == {"ami-2", "ami-1"}


def test_prune_never_deletes_pending() -> None:
    images = [img("ami-p", 0, state="pending"), img("ami-1", 1), img("ami-2", 2)]
    decision = decide_prune(images, 1, in_use=())
    assert "ami-p" not in ids(decision.delete)
    assert ids(decision.delete) == {"ami-1"}


@pytest.mark.parametrize("state", ["failed", "invalid", "error"])
def test_prune_deletes_failed_unless_in_use(state: str) -> None:
    images = [img("ami-f", 3, state=state), img("ami-1", 1)]
    assert ids(decide_prune(images, 5, in_use=()).delete) == {"ami-f"}
    decision = decide_prune(images, 5, in_use={"ami-f"})
    assert decision.delete == ()
    assert "ami-f" not in ids(decision.kept)  # not a backup: never counted as kept


def test_prune_orders_by_run_key_not_creation_time() -> None:
    # ami-late belongs to the newest run but was registered first (e.g. a retried run).
    images = [img("ami-late", 5, created_hour=0), img("ami-early", 1, created_hour=9)]
    decision = decide_prune(images, 1, in_use=())
    assert ids(decision.kept) == {"ami-late"}
    assert ids(decision.delete) == {"ami-early"}


def test_prune_falls_back_to_creation_time_without_run_tag() -> None:
    images = [img("ami-a", 0, recorded_run=False), img("ami-b", 3, recorded_run=False)]
    decision = decide_prune(images, 1, in_use=())
    assert ids(decision.kept) == {"ami-b"}


# ---------------------------------------------------------------- names and keys


@pytest.mark.parametrize("backup_id", [
    "web-1a2b3c4d",
    "my backup/with:odd*chars?é€",
    "x" * 300,
    "ü" * 200,
    "a",
])
def test_image_name_is_a_valid_ami_name(backup_id: str) -> None:
    key = run_key(T0)
    name = image_name(backup_id, key)
    assert AMI_NAME_RE.fullmatch(name), name
    assert len(name) <= 128
    assert name.startswith("amibackup-") and name.endswith(f"-{key}")


def test_image_name_keeps_short_ids_and_run_keys_unique() -> None:
    a = image_name("web-1", run_key(T0))
    assert a == "amibackup-web-1-20240501T1200Z"
    assert a != image_name("web-1", run_key(T0 + timedelta(minutes=10)))
    assert a != image_name("web-2", run_key(T0))


def test_image_name_is_exactly_128_for_a_very_long_id() -> None:
    assert len(image_name("x" * 500, run_key(T0))) == 128


def test_run_key_is_the_utc_minute() -> None:
    paris_summer = timezone(timedelta(hours=2))
    when = datetime(2024, 5, 1, 14, 7, 59, 999_999, tzinfo=paris_summer)
    assert run_key(when) == "20240501T1207Z"


def test_run_key_crosses_the_date_line_to_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert run_key(datetime(2024, 1, 1, 3, 30, tzinfo=tokyo)) == "20231231T1830Z"


def test_run_key_same_instant_same_key() -> None:
    ny = timezone(timedelta(hours=-4))
    assert run_key(T0) == run_key(T0.astimezone(ny)) == "20240501T1200Z"


def test_order_comes_from_the_recorded_run_never_from_the_run_tag() -> None:
    """Issue 15 item 2: a rewritten `amibackup:run` tag does not make the oldest backup new."""
    oldest, newest = img("ami-old", 0), img("ami-new", 5)
    forged = Image(oldest.image_id, oldest.name, oldest.state, oldest.created,
                   oldest.snapshot_ids, {**oldest.tags, TAG_RUN: run_key(T0 + timedelta(days=9))},
                   run=oldest.run)
    assert ids(decide_prune([forged, newest], 1, in_use=()).kept) == {"ami-new"}
    assert choose_promotion([forged, newest], ours("ami-new")) is None
    retry = decide_create([forged], inst("i-a"), forged.tags[TAG_RUN], None)
    assert retry.create is True  # the tag names a run the record does not: no retry guard


@pytest.mark.parametrize(("at", "key"), [
    (datetime(999, 1, 2, 3, 4, tzinfo=UTC), "09990102T0304Z"),
    (datetime(2026, 11, 1, 0, 0, tzinfo=UTC), "20261101T0000Z"),
])
def test_run_keys_have_four_digit_years_and_compare_as_times(at, key) -> None:
    """Issue 15 item 4: year 999 no longer sorts after every real run."""
    from amibackup.runner.plan import run_time

    assert run_key(at) == key and run_time(key) == at
    assert run_time("9990102T0304Z") is None  # an old unpadded key is no time at all
    old = Image("ami-999", "n", "available", T0, run=run_key(datetime(999, 1, 1, tzinfo=UTC)))
    assert ids(decide_prune([old, img("ami-now", 0)], 1, in_use=()).kept) == {"ami-now"}


def test_a_recorded_image_must_carry_its_runs_name_and_come_after_it() -> None:
    """Issue 15 item 1: facts only AWS sets (the AMI name, CreationDate) match the record."""
    from amibackup.runner.plan import not_the_runs

    good = img("ami-1", 2)
    assert not_the_runs(good, "b-1") is None
    renamed = Image("ami-2", "golden-ami", "available", good.created, run=good.run)
    assert "named 'golden-ami'" in str(not_the_runs(renamed, "b-1"))
    early = Image("ami-3", good.name, "available", good.created - timedelta(hours=1),
                  run=good.run)
    assert "before that run was scheduled" in str(not_the_runs(early, "b-1"))


def test_a_rate_schedules_runs_are_never_closer_than_its_rate():
    """The check behind the rate() case of issue 15 item 3 (too_soon)."""
    ten = timedelta(minutes=10)
    assert too_soon("20261101T0010Z", "20261101T0000Z", ten) is None  # the next firing
    assert too_soon("20261101T0009Z", "20261101T0000Z", ten) is None  # within the minute
    assert too_soon("20261101T0000Z", "20261101T0000Z", ten) is None  # a retry
    assert too_soon("20261031T2350Z", "20261101T0000Z", ten) is None  # a late older one
    assert too_soon("20261101T0005Z", "20261101T0000Z", None) is None  # cron: checked apart
    assert too_soon("20261101T0005Z", None, ten) is None  # the first run
    assert "0:05:00 from run 20261101T0000Z" in str(
        too_soon("20261101T0005Z", "20261101T0000Z", ten))
    assert "0:02:00 from run" in str(too_soon("20261031T2358Z", "20261101T0000Z", ten))
