"""KMS key policies, evaluated for the caller as AWS KMS does (plain data in, a decision out).

AWS rule (KMS Developer Guide, "Key policies in AWS KMS", "Default key policy" and
"Troubleshooting key access"): every KMS key has a key policy, and no principal may use the
key unless that policy allows it. A statement whose `Principal` names the caller's role or
user grants the action by itself; a statement naming the account (`arn:aws:iam::ACCOUNT:root`)
only lets the caller's IAM policies decide, so the action must then be allowed by them too.
An explicit Deny in either wins. moto 5.2.5 checks no key policy for GenerateMac and
VerifyMac (and only explicit Deny statements for a few others): any caller may use any key.

The IAM enforcer (iam_enforce.py) applies this to every `kms:` action on a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devkit.localaws.iam_policy import (
    ALLOW,
    EXPLICIT_DENY,
    IMPLICIT_DENY,
    Decision,
    Request,
    evaluate,
    glob_match,
)


def caller_arns(principal: str) -> set[str]:
    """The ARNs a key policy may name for the caller: an assumed role's session is its role."""
    parts = principal.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return {principal, f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"}
    return {principal}


def _principals(statement: Mapping[str, Any]) -> list[str]:
    named = statement.get("Principal", {})
    if named == "*":
        return ["*"]
    values = named.get("AWS", []) if isinstance(named, Mapping) else []
    return [values] if isinstance(values, str) else list(values)


def _account_root(value: str, account: str) -> bool:
    return value in (account, f"arn:aws:iam::{account}:root") or (
        value.endswith(f":iam::{account}:root"))


def decide(key_policy: Mapping[str, Any], identity: Decision, principal: str,
           account: str, request: Request) -> Decision:
    """Whether `principal` may do `request` on the key, given what its identity policies
    (and permissions boundary) decided for it (`identity`)."""
    callers = caller_arns(principal)
    named_allow: str | None = None
    root_allow: str | None = None
    for index, statement in enumerate(key_policy.get("Statement", [])):
        sid = str(statement.get("Sid", index))
        applies = evaluate({"Statement": [{**statement, "Effect": "Allow"}]}, request).allowed
        if not applies:
            continue
        who = _principals(statement)
        mentions_caller = "*" in who or any(glob_match(p, c) for p in who for c in callers)
        mentions_root = any(_account_root(p, account) for p in who)
        if statement.get("Effect") == "Deny" and (mentions_caller or mentions_root):
            return Decision(EXPLICIT_DENY, f"key policy: {sid}")
        if statement.get("Effect") != "Allow":
            continue
        if mentions_caller:
            named_allow = named_allow or sid
        elif mentions_root:
            root_allow = root_allow or sid
    if identity.effect == EXPLICIT_DENY:
        return identity
    if named_allow:
        return Decision(ALLOW, f"key policy: {named_allow}")
    if root_allow and identity.allowed:
        return Decision(ALLOW, f"key policy: {root_allow} + {identity.statement}")
    return Decision(IMPLICIT_DENY)
