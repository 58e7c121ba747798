"""Validation of a backup spec: pure, returns every problem at once.

The provider turns each `Problem` into a Pulumi CheckFailure, so `pulumi preview`
fails at plan time with one line per field. Values not known yet (preview) are
recognised by the caller's `is_unknown` predicate and skipped, so this module does
not need to know about Pulumi.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from amibackup.names import STEM_MAX, TAG_SYMBOLS, tag_text_ok
from amibackup.runner.config import ENVIRONMENT_LIMIT, Job, environment_size, job_environment
from amibackup.schedule import FREQUENCIES, ScheduleError, check_timezone, resolve
from amibackup.schema import DEFAULT_RETENTION, DEFAULTS, MAX_RETENTION, PERSISTENCE_KEYS

MAX_TAGS = 40  # 50 per image in AWS, minus the tags amibackup sets itself
STATEFUL_KEYS = ("root_volume", "data_volumes")
GROUP_NAME_RE = re.compile(r"^[\x20-\x7e]{1,255}$")  # AutoScalingGroupName: printable ASCII
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
# IAM TagRole and Lambda TagResource accept keys and values of `[\p{L}\p{Z}\p{N}_.:/=+\-@]`
# only (botocore's models; EC2 allows any character). Tags go to the roles and function too,
# so one rule for all: letters, separators (spaces), numbers and these symbols (names.py).
TOPIC_RE = re.compile(r"^arn:(aws[a-z-]*):sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})$")

UnknownPredicate = Callable[[Any], bool]


@dataclass(frozen=True)
class Problem:
    """One invalid input: the property it concerns and what to do about it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _never_unknown(_: Any) -> bool:
    return False


def whole_number(value: Any) -> int | None:
    """Pulumi sends integers as floats (3.0): accept those, refuse 2.5, True and strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def validate(props: Mapping[str, Any], is_unknown: UnknownPredicate = _never_unknown
             ) -> list[Problem]:
    """Check every input of an AmiAutoBackup; an empty list means valid."""
    problems: list[Problem] = []
    known = {k: v for k, v in props.items() if not is_unknown(v)}

    def add(field: str, message: str) -> None:
        problems.append(Problem(field, message))

    if not is_unknown(props.get("group_name")):
        _check_group(props, known.get("group_name"), add)
    frequency = known.get("frequency", DEFAULTS["frequency"])
    cron = known.get("cron")
    frequency_ok = _check_frequency(props, frequency, cron, is_unknown, add)
    timezone = known.get("timezone", DEFAULTS["timezone"])
    if _check_timezone(timezone, add) and frequency_ok:
        _check_schedule(props, frequency, cron, timezone, is_unknown, add)

    retention = known.get("retention", DEFAULT_RETENTION)
    count = whole_number(retention)
    if count is None or not 1 <= count <= MAX_RETENTION:
        add("retention", f"must be a whole number from 1 to {MAX_RETENTION} (images to keep); "
                         f"got {retention!r}")

    for flag in ("no_reboot", "paused", "deregister_on_delete"):
        if flag in known and not isinstance(known[flag], bool):
            add(flag, f"must be true or false; got {known[flag]!r}")

    _check_persistence(known.get("persistence"), is_unknown, add)
    if not _check_tags(known.get("tags"), is_unknown, add):
        _check_environment(known, add)

    region = known.get("region")
    region_ok = isinstance(region, str) and REGION_RE.fullmatch(region)
    if region not in (None, "") and not region_ok:
        add("region", f"must be an AWS region name such as \"eu-west-1\"; got {region!r}")
    _check_topic(known.get("alarm_topic_arn"), region if region_ok else None, add)
    owner = known.get("owner")
    if owner is not None and not isinstance(owner, str):
        add("owner", f"must be a string (project/stack/name); got {owner!r}")
    return problems


def topic_region(arn: str) -> str | None:
    """The region of an SNS topic ARN, or None when `arn` is not one."""
    found = TOPIC_RE.fullmatch(arn)
    return found.group(2) if found else None


def _check_topic(topic: Any, region: str | None, add: Callable[[str, str], None]) -> None:
    """An SNS topic ARN; in the backup's region when that is known (alarms notify only there)."""
    if topic in (None, ""):
        return
    where = topic_region(topic) if isinstance(topic, str) else None
    if where is None:
        add("alarm_topic_arn", "must be an SNS topic ARN such as "
                               f"\"arn:aws:sns:eu-west-1:123456789012:backups\"; got {topic!r}")
    elif region and where != region:
        add("alarm_topic_arn", f"is in {where}, but the backup is in {region}: CloudWatch "
                               "alarms notify topics in their own region; use a topic in "
                               f"{region}")


def _check_group(props: Mapping[str, Any], group: Any, add: Callable[[str, str], None]) -> None:
    if "group_name" not in props or group is None or (isinstance(group, str) and not group.strip()):
        add("group_name", "is required: set it to the name of the Auto Scaling group to back up")
    elif not isinstance(group, str) or not GROUP_NAME_RE.fullmatch(group):
        add("group_name", "must be a group name of 1 to 255 printable ASCII characters")


def _check_frequency(props: Mapping[str, Any], frequency: Any, cron: Any,
                     is_unknown: UnknownPredicate, add: Callable[[str, str], None]) -> bool:
    """Frequency and cron agree; True when the frequency is known and valid."""
    frequency_known = not is_unknown(props.get("frequency"))
    frequency_ok = frequency_known and isinstance(frequency, str) and frequency in FREQUENCIES
    if frequency_known and not frequency_ok:
        add("frequency", f"must be one of {', '.join(FREQUENCIES)}; got {frequency!r}")
    if frequency_ok and frequency == "custom":
        if not is_unknown(props.get("cron")) and not cron:
            add("cron", 'is required when frequency is "custom": e.g. cron="30 2 * * *"')
        elif cron is not None and not isinstance(cron, str):
            add("cron", "must be a string such as \"30 2 * * *\" or \"cron(30 2 * * ? *)\"")
    elif frequency_ok and cron not in (None, ""):
        add("cron", f'is only used with frequency="custom"; remove it or set frequency="custom" '
                    f"(frequency is {frequency!r})")
    return frequency_ok


def _check_timezone(timezone: Any, add: Callable[[str, str], None]) -> bool:
    if not isinstance(timezone, str) or not timezone:
        add("timezone", 'must be an IANA time zone name such as "UTC" or "Europe/Paris"')
        return False
    try:
        check_timezone(timezone)
    except ScheduleError as err:
        add("timezone", str(err))
        return False
    return True


def _check_schedule(
    props: Mapping[str, Any],
    frequency: str,
    cron: Any,
    timezone: str,
    is_unknown: UnknownPredicate,
    add: Callable[[str, str], None],
) -> None:
    if any(is_unknown(props.get(k)) for k in ("frequency", "cron", "timezone")):
        return
    if frequency == "custom" and not (isinstance(cron, str) and cron):
        return  # already reported as a missing or mistyped cron
    try:
        resolve(frequency, cron if frequency == "custom" else None, timezone)
    except ScheduleError as err:
        add("cron" if frequency == "custom" else "frequency", str(err))


def persistence_text(persistence: Mapping[str, bool] | None) -> str:
    """The persistence input as a tag value (letters, `=`, `_` and spaces only): sorted
    `key=true|false` pairs, or `none` (no map, or an empty one)."""
    given = dict(persistence or {})
    pairs = [f"{k}={'true' if given[k] else 'false'}" for k in sorted(given)]
    return " ".join(pairs) or "none"


def persistence_of_text(text: str | None) -> dict[str, bool] | None:
    """The persistence input `persistence_text` wrote; None for `none`, no tag, or a value
    it did not write (an edited tag reads as not set, never as another setting)."""
    found: dict[str, bool] = {}
    for pair in (text or "none").split():
        key, _, value = pair.partition("=")
        if key not in PERSISTENCE_KEYS or value not in ("true", "false") or key in found:
            return None
        found[key] = value == "true"
    return found or None


def _check_persistence(
    persistence: Any, is_unknown: UnknownPredicate, add: Callable[[str, str], None]
) -> None:
    if persistence is None:
        return
    if not isinstance(persistence, Mapping):
        add("persistence", "must be a map with root_volume, data_volumes, private_ip (true/false)")
        return
    for key, value in persistence.items():
        if key not in PERSISTENCE_KEYS:
            add(f"persistence.{key}",
                f"is not a persistence setting; use {', '.join(PERSISTENCE_KEYS)}")
        elif not is_unknown(value) and not isinstance(value, bool):
            add(f"persistence.{key}", f"must be true or false; got {value!r}")
    stateful = [k for k in STATEFUL_KEYS if persistence.get(k) is True]
    if stateful:
        add("persistence", (
            f"{' and '.join(stateful)} persistence makes the group stateful, and AMI auto-backup "
            "cannot coexist with data persistence (stateful groups): the backup would overwrite "
            "the persisted volumes' image. Turn off root_volume/data_volumes persistence or "
            "remove this backup (private_ip persistence alone is allowed)"
        ))


# The longest values the deployed job can hold for what is not known at plan time: the
# backup id (stem + "-" + 8 hex), region, template id (lt- + 17 hex), version and period.
_LONGEST_ID, _LONGEST_REGION, _LONGEST_TEMPLATE = "b" * (STEM_MAX + 9), "r" * 20, "lt-" + "0" * 17
_LARGEST_NUMBER = 10**12
_LONGEST_EXPRESSION = "e" * 256  # ScheduleExpression: at most 256 characters
_LONGEST_ZONE = "z" * 50


def _check_environment(known: Mapping[str, Any], add: Callable[[str, str], None]) -> None:
    """The runner's job (with the tags) must fit Lambda's 4 KB of environment variables."""
    tags = known.get("tags") or {}
    if not isinstance(tags, Mapping) or not all(isinstance(v, str) for v in tags.values()):
        return  # unknown tag values: checked at create, before anything is made
    group = known.get("group_name")
    if not isinstance(group, str):
        return  # unknown yet: checked at create, before anything is made
    timezone = known.get("timezone")
    job = Job(backup_id=_LONGEST_ID, group_name=group, region=_LONGEST_REGION,
              template_id=_LONGEST_TEMPLATE, recorded_version=_LARGEST_NUMBER,
              period_seconds=_LARGEST_NUMBER, tags=dict(tags),
              schedule_expression=_LONGEST_EXPRESSION, delivery_window_seconds=_LARGEST_NUMBER,
              timezone=timezone if isinstance(timezone, str) else _LONGEST_ZONE, paused=False)
    size = environment_size(job_environment(job))
    if size > ENVIRONMENT_LIMIT:
        add("tags", f"the runner's job carries your tags in its Lambda environment, which would "
                    f"be up to {size} bytes; Lambda allows {ENVIRONMENT_LIMIT} bytes in total. "
                    f"Shorten or remove tags (about {size - ENVIRONMENT_LIMIT} bytes too many)")


def _check_tags(tags: Any, is_unknown: UnknownPredicate, add: Callable[[str, str], None]
                ) -> bool:
    """Each tag's rules; True when a problem was reported."""
    found: list[str] = []

    def note(field: str, message: str) -> None:
        found.append(field)
        add(field, message)

    _check_each_tag(tags, is_unknown, note)
    return bool(found)


def _check_each_tag(tags: Any, is_unknown: UnknownPredicate,
                    add: Callable[[str, str], None]) -> None:
    if tags is None:
        return
    if not isinstance(tags, Mapping):
        add("tags", "must be a map of tag keys to string values")
        return
    if len(tags) > MAX_TAGS:
        add("tags", f"has {len(tags)} tags; at most {MAX_TAGS} (AWS allows 50 per image and "
                    "amibackup sets its own)")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            add("tags", f"key {key!r} must be 1 to 128 characters")
        elif key.lower().startswith("aws:"):
            add(f"tags.{key}", 'keys starting with "aws:" are reserved by AWS; rename the tag')
        elif key.lower().startswith("amibackup:"):
            add(f"tags.{key}",
                'keys starting with "amibackup:" are set by amibackup; rename the tag')
        if isinstance(key, str) and not tag_text_ok(key):
            add(f"tags.{key}", f"key has characters IAM and Lambda refuse in tags; use only "
                               f"letters, numbers, spaces and {TAG_SYMBOLS}")
        if is_unknown(value):
            continue
        if not isinstance(value, str) or len(value) > 256:
            add(f"tags.{key}", "value must be a string of at most 256 characters")
        elif not tag_text_ok(value):
            bad = "".join(sorted({c for c in value if not tag_text_ok(c)}))
            add(f"tags.{key}", f"value {value!r} has {bad!r}, which IAM and Lambda refuse in "
                               "tags (the roles and function carry your tags); use only "
                               f"letters, numbers, spaces and {TAG_SYMBOLS}")


def normalise(props: Mapping[str, Any], is_unknown: UnknownPredicate = _never_unknown
              ) -> dict[str, Any]:
    """Inputs with defaults filled in, whole numbers as int, and the schedule resolved.

    `schedule_expression` and `schedule_description` are added when every schedule
    input is known and valid, so a preview shows exactly what will run.
    """
    out = {k: v for k, v in props.items() if v is not None}
    for key, value in DEFAULTS.items():
        out.setdefault(key, value)
    count = whole_number(out["retention"])
    if count is not None:
        out["retention"] = count
    persistence = out.get("persistence")
    if isinstance(persistence, Mapping):
        out["persistence"] = {k: persistence.get(k, False) for k in PERSISTENCE_KEYS}
    out.setdefault("tags", {})
    schedule_inputs = [out.get(k) for k in ("frequency", "cron", "timezone")]
    if not any(is_unknown(v) for v in schedule_inputs):
        frequency = out["frequency"]
        try:
            schedule = resolve(frequency, out.get("cron") if frequency == "custom" else None,
                               out["timezone"])
        except (ScheduleError, TypeError, AttributeError):
            return out
        out["schedule_expression"] = schedule.expression
        out["schedule_description"] = schedule.description
    return out
