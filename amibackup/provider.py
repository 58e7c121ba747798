"""The Pulumi dynamic provider behind `AmiAutoBackup`: maps the engine's hooks to AWS.

Hooks receive plain dicts; everything AWS-shaped lives in `amibackup.provision`.
AWS clients are made inside the hooks (never pickled with the provider).

The class's import path, `amibackup.provider.AmiAutoBackupProvider`, is public API: the
engine stores a reference to it in every backup's state and imports it to read, update
and delete the backup, so it must stay importable for as long as a stack holds a backup.
"""

from __future__ import annotations

from types import ModuleType
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

from amibackup import identity, spec
from amibackup.drift import drifted
from amibackup.identity import IDENTITY_KEY, AwsSettings
from amibackup.messages import info, warn
from amibackup.schema import INPUT_KEYS, REPLACE_KEYS, BackupSpec


def _preview() -> ModuleType:
    """`amibackup.preview`, imported on first use: it loads boto3 (about 150 ms), which a
    program that only declares backups never needs; the provider process does."""
    from amibackup import preview

    return preview


__all__ = ["INPUT_KEYS", "REPLACE_KEYS", "AmiAutoBackupProvider", "changed_keys"]

HIDDEN_KEYS = (IDENTITY_KEY, "owner")  # set by the resource, kept in state for later hooks


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


def same_schedule(base: dict[str, Any], news: dict[str, Any]) -> bool:
    """Another spelling of the same schedule: a 5-field cron and its EventBridge form, a
    preset by name or by its expression (an imported backup reads the expression back)."""
    wanted = news.get("schedule_expression")
    return (isinstance(wanted, str) and base.get("schedule_expression") == wanted
            and not is_unknown(news.get("timezone"))
            and _same(base.get("timezone"), news.get("timezone")))


def changed_keys(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """Inputs whose value differs; an unknown new value counts as a change."""
    base = spec.normalise(olds)
    changed = [k for k in INPUT_KEYS
               if is_unknown(news.get(k)) or not _same(base.get(k), news.get(k))]
    if same_schedule(base, news):
        changed = [k for k in changed if k not in ("frequency", "cron")]
    return changed


class AmiAutoBackupProvider(ResourceProvider):
    """Creates, updates, reads and deletes one AMI auto-backup of an Auto Scaling group.

    It holds no secret (only the stack's region, profile and role ARNs, set by
    `configure` in the provider process), so its pickle is not forced into a secret.
    """

    serialize_as_secret_always = False

    def __init__(self) -> None:
        super().__init__()
        self.region: str | None = None
        self.profile: str | None = None

    def configure(self, req: ConfigureRequest) -> None:
        """The stack's aws:region, aws:profile and aws:assumeRole(s), as pulumi_aws reads them."""
        self.stack = identity.from_stack_config(req.config.get)
        self.region, self.profile = self.stack.region, self.stack.profile

    def _stack(self) -> AwsSettings:
        # An old pickle (or one never configured) has only region and profile.
        stack = getattr(self, "stack", None)
        return stack or AwsSettings(getattr(self, "region", None), getattr(self, "profile", None))

    def _region(self, props: dict[str, Any]) -> str | None:
        """The region a new backup with `props` goes to; boto3's default looked up once."""
        explicit = identity.region_for(props, self._stack())
        if explicit:
            return str(explicit)
        if getattr(self, "_default_region", None) is None:
            settings = identity.settings_for(props, self._stack())
            self._default_region = identity.session(
                AwsSettings(profile=settings.profile), None).region_name or ""
        return self._default_region or None

    def _clients(self, props: dict[str, Any], region: str | None) -> Any:
        """The process's clients for the backup's account and region (made once, reused)."""
        return _preview().clients(identity.settings_for(props, self._stack()), region,
                               identity.session)

    def _existing(self, props: dict[str, Any]) -> Any:
        """Clients for a backup that exists: in its recorded region, whatever changed since."""
        return self._clients(props, identity.recorded_region(props, self._stack())
                             or self._region(props))

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        problems = self.validate(_olds, news)
        failures = [CheckFailure(p.field.split(".")[0], f"{p.field}: {p.message}")
                    for p in problems]
        return CheckResult(spec.normalise(news, is_unknown), failures)

    def validate(self, olds: dict[str, Any], news: dict[str, Any]) -> list[spec.Problem]:
        """Every problem of the inputs (the provider plugin's Check too); a new valid backup
        that would cross an AWS quota gets a warning."""
        problems = spec.validate(news, is_unknown)
        if not olds and not problems:  # a new backup: would it cross an AWS quota?
            self._warn_quotas(news)
        return problems

    def _warn_quotas(self, news: dict[str, Any]) -> None:
        """Count the account's rules and roles once per process; warn, naming the quota."""
        from amibackup import quotas

        if is_unknown(news.get("region")) or is_unknown(news.get(IDENTITY_KEY)):
            return
        try:
            region = self._region(news)
            settings = identity.settings_for(news, self._stack())
            made = _preview().quick(self._clients(news, region))
        except Exception:  # noqa: BLE001 - no credentials: the create will say so
            return
        key = (settings, region)
        fresh = key not in quotas.counted_keys()
        used = quotas.usage(key, made)
        if used.error is not None:
            if fresh:
                info(f"amibackup: could not count the account's EventBridge rules and IAM "
                     f"roles in {region} to check their quotas ({used.error})")
            return
        name = news.get("backup_name") or news.get("group_name")
        for message in used.add_backup():
            warn(f"{name}: {message}")

    def use(self, stack: AwsSettings) -> None:
        """Set the account and region settings directly (the provider plugin's Configure)."""
        self.stack = stack
        self.region, self.profile = stack.region, stack.profile

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes = self.changes(olds, news)
        replaces = [k for k in REPLACE_KEYS if k in changes]
        stables = [k for k in ("backup_id", "function_arn", "role_arn", "schedule_arn")
                   if not replaces]
        return DiffResult(changes=bool(changes), replaces=replaces, stables=stables,
                          delete_before_replace=False)

    def changes(self, olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
        """What differs between the old outputs and the new inputs: inputs, the region the
        backup would go to, drift seen by refresh, the runner's code, a moved group."""
        from amibackup.provision.package import code_sha256

        changes = changed_keys(olds, news)
        if is_unknown(news.get(IDENTITY_KEY)):
            changes.append("region")  # an explicit provider not known yet: may move
        wanted = None if "region" in changes else self._region(news)
        if "region" in changes and not is_unknown(news.get("region")) and olds.get(
                "resolved_region") == self._region(news):
            changes.remove("region")  # the same region, named explicitly or by default
        elif wanted and olds.get("resolved_region") and olds["resolved_region"] != wanted:
            changes.append("region")  # the stack's or the provider's region changed
        changes += drifted(olds, news)
        if olds.get("code_sha256") and olds.get("code_sha256") != code_sha256():
            changes.append("code_sha256")  # a new amibackup version: ship its runner
        if not changes and self._template_moved(olds):
            # Only when nothing else changed: an update re-reads the group anyway.
            changes.append("launch_template_id")  # the group moved: re-scope runner and claim
        return changes

    def _template_moved(self, olds: dict[str, Any]) -> bool:
        """Refresh saw it (group_template_id), or the group's template differs right now.

        The live answer comes from one listing of the region's groups per provider process,
        shared by every backup of the preview (which says so, once).
        """
        recorded = olds.get("launch_template_id")
        seen = olds.get("group_template_id")
        if not recorded or not olds.get("group_name"):
            return False
        if seen and seen != recorded:
            return True
        try:
            known, current = _preview().group_template(
                self._existing(olds), str(olds["group_name"]), announce=info)
        except Exception:  # noqa: BLE001 - a preview without AWS access still diffs inputs
            return False
        return known and current is not None and current != recorded

    def create(self, props: dict[str, Any]) -> CreateResult:
        from amibackup.provision import backup

        _preview().forget_listings()
        clients = self._clients(props, self._region(props))
        outs = backup.create(clients, BackupSpec.from_props(props), owner=props.get("owner"))
        return CreateResult(outs["backup_id"], self._finish(props, outs))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from amibackup.provision import backup

        _preview().forget_listings()
        clients = self._existing({**news, "resolved_region": olds.get("resolved_region")})
        outs = backup.update(clients, BackupSpec.from_props(news), id_, olds,
                             owner=news.get("owner"))
        return UpdateResult(self._finish(news, outs))

    @staticmethod
    def _finish(props: dict[str, Any], outs: dict[str, Any]) -> dict[str, Any]:
        """Keep the hidden inputs later hooks need; say the provisioning warnings."""
        for key in HIDDEN_KEYS:
            if props.get(key) is not None:
                outs[key] = props[key]
        for message in outs.get("warnings") or []:
            warn(f"{outs.get('backup_id')}: {message}")
        return outs

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from amibackup.drift import live_parts
        from amibackup.provision import backup

        _preview().forget_listings()
        clients = self._existing(props)
        outs = backup.read(clients, id_, props)
        if outs is None:
            return ReadResult(None, {})
        return ReadResult(id_, live_parts(clients, id_, outs))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from amibackup.provision import backup

        _preview().forget_listings()
        recorded = props.get("recorded_version")
        result = backup.delete(self._existing(props), id_,
                               BackupSpec.from_props(spec.normalise(props)),
                               recorded_version=int(recorded) if recorded is not None else None,
                               template_id=props.get("launch_template_id"))
        for message in getattr(result, "warnings", None) or []:
            warn(f"{id_} (deleted): {message}")
