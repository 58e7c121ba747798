"""Which AWS account and region a backup's calls go to: pulumi_aws's rules, in boto3.

The settings come from the stack config (`aws:region`, `aws:profile`, `aws:assumeRole`,
`aws:assumeRoles`), or from an explicit `aws.Provider` passed in the resource's `opts`
(carried to the provider as the hidden input `aws_identity`). Once created, a backup is
read, updated and deleted in the region it was created in (`resolved_region`), never the
stack's or the shell's current one. Provider side only: the runner never imports this.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

IDENTITY_KEY = "aws_identity"  # the hidden input an explicit aws.Provider fills
SESSION_NAME = "amibackup"


@dataclass(frozen=True)
class AssumeRole:
    """One hop of an assume-role chain (pulumi_aws's `assumeRoles` entry)."""

    role_arn: str
    session_name: str = SESSION_NAME
    external_id: str | None = None


@dataclass(frozen=True)
class AwsSettings:
    """Region, profile and assume-role chain, as pulumi_aws's provider config holds them."""

    region: str | None = None
    profile: str | None = None
    assume_roles: tuple[AssumeRole, ...] = field(default_factory=tuple)

    def to_props(self) -> dict[str, Any]:
        """A plain map for the resource's state (no secret: names and ARNs only)."""
        return {"region": self.region, "profile": self.profile,
                "assume_roles": [{"role_arn": r.role_arn, "session_name": r.session_name,
                                  "external_id": r.external_id} for r in self.assume_roles]}


def _role(raw: Mapping[str, Any]) -> AssumeRole | None:
    """One role from either spelling: stack config (camelCase) or terraform (snake_case)."""
    arn = raw.get("roleArn") or raw.get("role_arn")
    if not arn:
        return None
    return AssumeRole(str(arn), str(raw.get("sessionName") or raw.get("session_name")
                                    or SESSION_NAME),
                      raw.get("externalId") or raw.get("external_id") or None)


def _roles(raw: Any) -> tuple[AssumeRole, ...]:
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else None
    if isinstance(raw, Mapping):
        raw = [raw]
    roles = (_role(r) for r in (raw or []) if isinstance(r, Mapping))
    return tuple(r for r in roles if r is not None)


def from_stack_config(get: Callable[[str], Any]) -> AwsSettings:
    """The stack's `aws:` settings; `get(key)` returns the raw value or None."""
    roles = _roles(get("aws:assumeRoles")) or _roles(get("aws:assumeRole"))
    return AwsSettings(get("aws:region") or None, get("aws:profile") or None, roles)


def from_props(raw: Any) -> AwsSettings | None:
    """The hidden input of an explicit aws.Provider, or None when there is none."""
    if not isinstance(raw, Mapping):
        return None
    return AwsSettings(raw.get("region") or None, raw.get("profile") or None,
                       _roles(raw.get("assume_roles") or raw.get("assume_role")))


def from_provider_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """An aws.Provider's settings reduced to what the backup needs.

    Static keys are refused: they would have to be stored in the backup's state.
    """
    if config.get("access_key") or config.get("secret_key") or config.get("token"):
        raise ValueError(
            "opts.provider: an aws.Provider with static access_key/secret_key/token cannot be "
            "used by AmiAutoBackup (the keys would be stored in its state); give the provider "
            "a profile or assume_roles instead")
    return AwsSettings(config.get("region") or None, config.get("profile") or None,
                       _roles(config.get("assume_roles"))).to_props()


def region_for(props: Mapping[str, Any], stack: AwsSettings) -> str | None:
    """Where a new backup goes: `region` input, else explicit provider, else the stack."""
    explicit = from_props(props.get(IDENTITY_KEY))
    return (props.get("region") or (explicit.region if explicit else None)
            or stack.region or None)


def recorded_region(props: Mapping[str, Any], stack: AwsSettings) -> str | None:
    """Where an existing backup lives: the region recorded at create, whatever changed since."""
    return props.get("resolved_region") or region_for(props, stack)


def session(settings: AwsSettings, region: str | None, factory: Any = None) -> Any:
    """A boto3 session for `settings` in `region`, after the assume-role chain if any."""
    import boto3

    make = factory or boto3.session.Session
    current = make(profile_name=settings.profile, region_name=region)
    for role in settings.assume_roles:
        request: dict[str, Any] = {"RoleArn": role.role_arn, "RoleSessionName": role.session_name}
        if role.external_id:
            request["ExternalId"] = role.external_id
        creds = current.client("sts", region_name=region).assume_role(**request)["Credentials"]
        current = make(aws_access_key_id=creds["AccessKeyId"],
                       aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"], region_name=region)
    return current


def settings_for(props: Mapping[str, Any], stack: AwsSettings) -> AwsSettings:
    """An explicit provider's settings win over the stack's."""
    return from_props(props.get(IDENTITY_KEY)) or stack


def describe_roles(roles: Sequence[AssumeRole]) -> str:
    return " -> ".join(r.role_arn for r in roles) or "none"
