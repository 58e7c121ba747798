"""The Pulumi dynamic provider behind `AmiAutoBackup`: maps the engine's hooks to AWS.

Hooks receive plain dicts; everything AWS-shaped lives in `amibackup.provision`.
AWS clients are made inside the hooks (never pickled with the provider).
"""

from __future__ import annotations

from typing import Any

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown

from amibackup import spec
from amibackup.schema import INPUT_KEYS, REPLACE_KEYS, BackupSpec

__all__ = ["INPUT_KEYS", "REPLACE_KEYS", "AmiAutoBackupProvider", "changed_keys"]


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = set(old) | set(new)
        return all(_same(old.get(k), new.get(k)) for k in keys)
    empty: tuple[Any, ...] = (None, "", {}, [])
    if old in empty and new in empty:
        return True
    return bool(old == new)


def changed_keys(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Inputs whose value differs; an unknown new value counts as a change."""
    base = spec.normalise(olds)
    return [k for k in INPUT_KEYS
            if is_unknown(news.get(k)) or not _same(base.get(k), news.get(k))]


class AmiAutoBackupProvider(ResourceProvider):
    """Creates, updates, reads and deletes one AMI auto-backup of an Auto Scaling group."""

    def __init__(self) -> None:
        super().__init__()
        self.region: str | None = None
        self.profile: str | None = None

    def configure(self, req: ConfigureRequest) -> None:
        """Honour the stack's `aws:region` and `aws:profile`, as pulumi_aws does."""
        self.region = req.config.get("aws:region") or None
        self.profile = req.config.get("aws:profile") or None

    def _session(self, props: dict[str, Any]) -> Any:
        """The `region` input, else the stack's aws:region/aws:profile, else boto3's chain."""
        import boto3  # here, not at import: a program importing amibackup stays fast

        region = props.get("region") or getattr(self, "region", None)
        return boto3.session.Session(profile_name=getattr(self, "profile", None),
                                     region_name=region or None)

    def _region(self, props: dict[str, Any]) -> str | None:
        """The region `props` resolve to; boto3's default is looked up once per process."""
        explicit = props.get("region") or getattr(self, "region", None)
        if explicit:
            return str(explicit)
        if getattr(self, "_default_region", None) is None:
            self._default_region = self._session({}).region_name or ""
        return self._default_region or None

    def _clients(self, props: dict[str, Any]) -> Any:
        from amibackup.runner.clients import Clients

        session = self._session(props)
        return Clients(session.region_name, session=session)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        problems = spec.validate(news, is_unknown)
        failures = [CheckFailure(p.field.split(".")[0], f"{p.field}: {p.message}")
                    for p in problems]
        return CheckResult(spec.normalise(news, is_unknown), failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        from amibackup.provision.package import code_sha256

        changes = changed_keys(olds, news)
        if "region" in changes and not is_unknown(news.get("region")) and olds.get(
                "resolved_region") == self._region(news):
            changes.remove("region")  # the same region, named explicitly or by default
        elif "region" not in changes and olds.get("resolved_region") and olds.get(
                "resolved_region") != self._region(news):
            changes.append("region")  # the stack's aws:region changed
        if olds.get("schedule_state") == "MISSING":
            changes.append("schedule_state")  # deleted by hand: the update recreates it
        if olds.get("code_sha256") and olds.get("code_sha256") != code_sha256():
            changes.append("code_sha256")  # a new amibackup version: ship its runner
        if self._template_moved(olds):
            changes.append("launch_template_id")  # the group moved: re-scope runner and claim
        replaces = [k for k in REPLACE_KEYS if k in changes]
        stables = [k for k in ("backup_id", "function_arn", "role_arn", "schedule_arn")
                   if not replaces]
        return DiffResult(changes=bool(changes), replaces=replaces, stables=stables,
                          delete_before_replace=False)

    def _template_moved(self, olds: dict[str, Any]) -> bool:
        """Refresh saw it (group_template_id), or the group's template differs right now."""
        from amibackup.provision import backup

        seen = olds.get("group_template_id")
        if seen and olds.get("launch_template_id") and seen != olds["launch_template_id"]:
            return True
        try:
            return backup.template_moved(self._clients(olds), olds)
        except Exception:  # noqa: BLE001 - a preview without AWS access still diffs inputs
            return False

    def create(self, props: dict[str, Any]) -> CreateResult:
        from amibackup.provision import backup

        outs = backup.create(self._clients(props), BackupSpec.from_props(props))
        return CreateResult(outs["backup_id"], outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from amibackup.provision import backup

        outs = backup.update(self._clients(news), BackupSpec.from_props(news), id_, olds)
        return UpdateResult(outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from amibackup.provision import backup

        outs = backup.read(self._clients(props), id_, props)
        if outs is None:
            return ReadResult(None, {})
        return ReadResult(id_, outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from amibackup.provision import backup

        recorded = props.get("recorded_version")
        backup.delete(self._clients(props), id_, BackupSpec.from_props(spec.normalise(props)),
                      recorded_version=int(recorded) if recorded is not None else None,
                      template_id=props.get("launch_template_id"))
