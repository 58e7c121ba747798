"""A small IAM identity-policy evaluator: plain data in, a decision out.

No maintained PyPI package evaluates identity policies with conditions in-process (moto's
own checker ignores Resource and Condition; policyuniverse and parliament parse and lint;
the others call AWS's simulator). This follows AWS's documented evaluation logic for one
identity policy ("Policy evaluation logic", IAM User Guide): an explicit Deny wins, else an
Allow that matches action, resource and every condition, else the implicit deny. With a
permissions boundary ("Permissions boundaries for IAM entities"): the effective permissions
are the intersection, so a request is allowed only when both the identity policy and the
boundary allow it, and an explicit Deny in either wins.

Policy variables `${key}` in Resource and in condition values ("IAM policy elements:
Variables and tags") are replaced by the request context's single value of that key, e.g.
`${aws:PrincipalTag/amibackup:stack}`; a variable whose key is not in the context makes
that Resource entry or condition value match nothing.

Supported: Action/NotAction and Resource/NotResource with `*` and `?`, and the condition
operators String*, Arn*, Bool, Null, with the ForAllValues:/ForAnyValue: qualifiers and the
IfExists suffix ("IAM JSON policy elements: Condition operators"). Anything else raises, so
a policy using it fails loudly instead of being judged wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ALLOW, EXPLICIT_DENY, IMPLICIT_DENY = "Allow", "ExplicitDeny", "ImplicitDeny"


@dataclass(frozen=True)
class Request:
    """One authorization: an action on one resource, with its request context keys."""

    action: str  # "ec2:CreateImage"
    resource: str  # an ARN, or "*" for actions without resource types
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    effect: str  # ALLOW, EXPLICIT_DENY or IMPLICIT_DENY
    statement: str | None = None  # the Sid (or index) that decided it

    @property
    def allowed(self) -> bool:
        return self.effect == ALLOW


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def substitute(text: str, context: Mapping[str, Sequence[str]]) -> str | None:
    """`text` with each `${key}` replaced from the (lower-cased) context; None if one is unset.

    `${*}`, `${?}` and `${$}` stand for the literal characters, as in AWS.
    """
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        key = match.group(1)
        if key in ("*", "?", "$"):
            return key
        found = context.get(key.lower())
        if not found:
            missing = True
            return ""
        return str(found[0])

    replaced = _VARIABLE.sub(value, text)
    return None if missing else replaced


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """IAM wildcards: `*` any run of characters, `?` one character, nothing else special."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return bool(_glob(pattern, ignore_case).match(value))


def arn_match(pattern: str, value: str) -> bool:
    """ARN wildcards match within each of the six colon-separated parts (ArnLike rules)."""
    if pattern == "*":
        return True
    want, got = pattern.split(":", 5), value.split(":", 5)
    if len(want) != 6 or len(got) != 6:
        return pattern == value
    return all(glob_match(w, g) for w, g in zip(want, got, strict=True))


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _string_test(base: str) -> tuple[Callable[[str, str], bool], bool]:
    """(does one condition value match one context value, is the operator negated)."""
    tests: dict[str, Callable[[str, str], bool]] = {
        "StringEquals": lambda want, got: want == got,
        "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
        "StringLike": glob_match,
        "ArnEquals": arn_match,
        "ArnLike": arn_match,
        "Bool": lambda want, got: want.lower() == got.lower(),
    }
    negated = {"StringNotEquals": "StringEquals",
               "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
               "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals",
               "ArnNotLike": "ArnLike"}
    if base in tests:
        return tests[base], False
    if base in negated:
        return tests[negated[base]], True
    raise ValueError(f"condition operator {base!r} is not supported by the local IAM "
                     "evaluator; add it with a test")


def condition_holds(operator: str, key: str, wanted: Any,
                    context: Mapping[str, Sequence[str]]) -> bool:
    """One operator on one key, as AWS evaluates it (missing keys included)."""
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    values = [v for v in (substitute(w, context) for w in _listed(wanted)) if v is not None]
    if not values:
        return False  # every value names a variable the request has no value for
    present = context.get(key.lower())
    if base == "Null":
        return any((present is None) == (v.lower() == "true") for v in values)
    test, negated = _string_test(base)

    def passes(got: str) -> bool:
        hit = any(test(want, got) for want in values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(passes(got) for got in present or [])
    if qualifier == "ForAnyValue":
        return any(passes(got) for got in present or [])
    if qualifier:
        raise ValueError(f"condition qualifier {qualifier!r} is not an IAM qualifier")
    if present is None:
        return if_exists or negated
    return all(passes(got) for got in present) if negated else any(map(passes, present))


def _resource_hit(patterns: Any, request: Request, context: Mapping[str, Sequence[str]]
                  ) -> bool:
    for pattern in _listed(patterns):
        resolved = substitute(pattern, context)
        if resolved is not None and arn_match(resolved, request.resource):
            return True
    return False


def _matches(statement: Mapping[str, Any], request: Request) -> bool:
    context = {k.lower(): list(v) for k, v in request.context.items()}
    if "Action" in statement:
        hit = any(glob_match(a, request.action, True) for a in _listed(statement["Action"]))
    else:
        hit = not any(glob_match(a, request.action, True)
                      for a in _listed(statement["NotAction"]))
    if not hit:
        return False
    if "Resource" in statement:
        hit = _resource_hit(statement["Resource"], request, context)
    else:
        hit = not _resource_hit(statement["NotResource"], request, context)
    if not hit:
        return False
    return all(condition_holds(op, key, wanted, context)
               for op, keys in statement.get("Condition", {}).items()
               for key, wanted in keys.items())


def evaluate(policy: Mapping[str, Any], request: Request) -> Decision:
    """AWS's order: any matching Deny, else any matching Allow, else the implicit deny."""
    statements = policy["Statement"]
    statements = [statements] if isinstance(statements, Mapping) else list(statements)
    allowed: str | None = None
    for index, statement in enumerate(statements):
        if not _matches(statement, request):
            continue
        sid = str(statement.get("Sid", index))
        if statement["Effect"] == "Deny":
            return Decision(EXPLICIT_DENY, sid)
        allowed = allowed or sid
    return Decision(ALLOW, allowed) if allowed else Decision(IMPLICIT_DENY)


def evaluate_bounded(policy: Mapping[str, Any], request: Request,
                     boundary: Mapping[str, Any] | None = None) -> Decision:
    """The identity policy capped by a permissions boundary (None: no boundary).

    An explicit Deny in either wins; else allowed only when both allow; a request the
    boundary does not allow is denied implicitly, whatever the identity policy says.
    """
    decision = evaluate(policy, request)
    if boundary is None or decision.effect == EXPLICIT_DENY:
        return decision
    capped = evaluate(boundary, request)
    if capped.effect == EXPLICIT_DENY:
        return Decision(EXPLICIT_DENY, f"boundary:{capped.statement}")
    if not decision.allowed:
        return decision
    return decision if capped.allowed else Decision(IMPLICIT_DENY, "boundary")
