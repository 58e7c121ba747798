"""Every AWS name and tag key of a backup, derived from its id (standard library only).

Delete finds every part of a backup from the id alone, so nothing else may build these
names. Each name fits its AWS pattern and length: a resource named `sauvegarde-été`
still yields ASCII names (IAM role `[\\w+=,.@-]{1,64}`, Lambda function
`[a-zA-Z0-9-_]{1,64}`, Scheduler schedule `[0-9a-zA-Z-_.]{1,64}`).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass

PREFIX = "amibackup"

# Tags amibackup puts on every image it makes. TAG_BACKUP is the ownership mark:
# nothing without it (and owned by this account) is ever deleted.
TAG_BACKUP = f"{PREFIX}:backup"
TAG_GROUP = f"{PREFIX}:group"
TAG_SOURCE_INSTANCE = f"{PREFIX}:source-instance"
TAG_SOURCE_IMAGE = f"{PREFIX}:source-image"
TAG_CREATED_AT = f"{PREFIX}:created-at"
TAG_RUN = f"{PREFIX}:run"
TAG_KEPT = f"{PREFIX}:kept"  # teardown's reason for an image it must leave behind
TAG_OWNER = f"{PREFIX}:owner"  # on the function: project/stack/resource that declared it
TAG_STACK = f"{PREFIX}:stack"  # on every part and image: project/stack that declared it
TAG_MANAGED_BY = "managed-by"  # on the roles and function: who made them
# On the function: the inputs AWS keeps nowhere else, so `pulumi import` can read them back.
TAG_ON_DELETE = f"{PREFIX}:on-delete"  # "deregister" or "keep" (deregister_on_delete)
TAG_PERSISTENCE = f"{PREFIX}:persistence"  # persistence_text() of the persistence input

NAME_MAX = 64  # IAM roles, Lambda functions and Scheduler schedules alike
STEM_MAX = 40  # of a backup id, leaving room for the prefix, random part and suffixes
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")  # outside every one of the three patterns
_IMAGE_UNSAFE = re.compile(r"[^A-Za-z0-9()\[\] ./'@_-]")  # AMI names: 3-128 of these


def ascii_slug(text: str) -> str:
    """`text` in the characters all three AWS name patterns allow: é -> e, others -> '-'."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _UNSAFE.sub("-", folded).strip("-")


def new_backup_id(resource_name: str) -> str:
    """Readable and unique: the resource name, made ASCII and trimmed, plus 8 hex."""
    stem = ascii_slug(resource_name)[:STEM_MAX].strip("-")
    return f"{stem or 'backup'}-{secrets.token_hex(4)}"


def image_name(backup_id: str, run: str) -> str:
    """The AMI name of one run: unique per backup and run, within AMI name rules."""
    safe = _IMAGE_UNSAFE.sub("-", backup_id)[: 128 - len(run) - len(PREFIX) - 2]
    return f"{PREFIX}-{safe}-{run}"


DESCRIPTION_MAX = 255  # CreateImage Description: "Up to 255 characters"
TAG_VALUE_MAX = 256  # EC2, IAM and Lambda tag values alike
TAG_SYMBOLS = "_.:/=+-@"  # with letters, separators and numbers: what IAM and Lambda accept


def image_description(backup_id: str, group_name: str, run: str) -> str:
    """The AMI's description, within CreateImage's 255 characters: a group name too long
    for it (names go up to 255) is shortened with "..."."""
    head, tail = f"{PREFIX} {backup_id} of group ", f", run {run}"
    room = DESCRIPTION_MAX - len(head) - len(tail)
    group = group_name if len(group_name) <= room else group_name[:room - 3] + "..."
    return f"{head}{group}{tail}"


def tag_text_ok(text: str) -> bool:
    """Characters IAM and Lambda accept in a tag: letters, spaces, numbers, `_.:/=+-@`."""
    return all(c in TAG_SYMBOLS or unicodedata.category(c)[0] in "LZN" for c in text)


def tag_value(text: str) -> str:
    """`text` as a tag value every service accepts (the function's and roles' `amibackup:owner`,
    from a resource name that may hold any character): others -> '-', at most 256."""
    return "".join(c if tag_text_ok(c) else "-" for c in text)[:TAG_VALUE_MAX]


@dataclass(frozen=True)
class Names:
    """The AWS names of one backup's parts."""

    backup_id: str

    def _name(self, suffix: str = "") -> str:
        room = NAME_MAX - len(PREFIX) - 1 - len(suffix)
        return f"{PREFIX}-{ascii_slug(self.backup_id)[:room]}{suffix}"

    @property
    def function(self) -> str:
        return self._name()

    @property
    def schedule(self) -> str:
        return self._name()

    @property
    def runner_role(self) -> str:
        return self._name("-run")

    @property
    def scheduler_role(self) -> str:
        return self._name("-sch")

    @property
    def log_group(self) -> str:
        """Where Lambda writes the function's logs (named by Lambda, not by us)."""
        return f"/aws/lambda/{self.function}"

    @property
    def lock_parameter(self) -> str:
        """The SSM parameter of the run lock (see runner/lock.py)."""
        return f"/{PREFIX}/{ascii_slug(self.backup_id)}/lock"

    @property
    def record_parameter(self) -> str:
        """The SSM parameter recording the images this backup made (runner and teardown only)."""
        return f"/{PREFIX}/{ascii_slug(self.backup_id)}/record"

    @property
    def record_key(self) -> str:
        """The alias of the KMS HMAC key that signs the record (only the runner may sign)."""
        return f"alias/{PREFIX}/{ascii_slug(self.backup_id)}"

    @property
    def ami_rule(self) -> str:
        """The EventBridge rule that delivers `EC2 AMI State Change` events to the runner."""
        return self._name("-ami")

    @property
    def failed_alarm(self) -> str:
        return self._name("-failed")

    @property
    def stale_alarm(self) -> str:
        return self._name("-stale")

    def image(self, run: str) -> str:
        return image_name(self.backup_id, run)


def stack_of(owner: str | None, backup_id: str) -> str:
    """The `amibackup:stack` tag value: `project/stack` of the declaring resource's owner key
    (project/stack/name); a backup declared outside a stack is a stack of its own."""
    parts = (owner or "").split("/")
    return "/".join(parts[:2]) if len(parts) >= 3 and all(parts[:2]) else backup_id


def template_claim_parameter(template_id: str) -> str:
    """The SSM parameter by which one backup claims a launch template (one backup each)."""
    return f"/{PREFIX}/templates/{template_id}"


SCHEDULE_PREFIX = f"{PREFIX}-"  # every backup's schedule name starts with it
