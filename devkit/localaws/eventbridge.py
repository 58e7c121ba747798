"""EventBridge's content filtering, as AWS matches event patterns (strict local AWS layer).

AWS rules (EventBridge User Guide, "Creating event patterns" and "Content filtering in
Amazon EventBridge event patterns"):

- Every field named in the pattern must match (AND); a nested object matches the event's
  nested object field by field. Fields the pattern does not name are ignored.
- A field's value in the pattern is an array of matchers: any one matching is enough (OR).
- Exact matchers are strings, numbers, `true`/`false` and `null`, compared with their type:
  `"5"` does not match `5`; `null` matches only a field present with the value null.
- When the event's value is an array, the field matches if any element matches.
- Named matchers: `prefix`, `suffix`, `equals-ignore-case`, `anything-but` (a value, a list,
  or `{"prefix": ...}`/`{"suffix": ...}`), `exists` (`false` matches a missing field only),
  `numeric` (pairs of operator and number). Any other name is refused at PutRule with
  `InvalidEventPatternException` "Event pattern is not valid. Reason: Unrecognized match
  type NAME"; a pattern value that is neither an object nor a non-empty array is refused too.

Plain moto accepts an unrecognised match type and then matches EVERY event with it (its
`_does_item_match_named_filter` falls through to True): a misspelt filter would widen a rule
to the whole account there, while AWS refuses the rule. Plain moto does not implement
`TestEventPattern` (an empty answer); here it answers with `matches()`, which is also what
the dev kit's Lambda runtime uses to deliver the AMI events the local AWS emits
(lambda_runtime.deliver_ami_events).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

from moto.events import models as events_models
from moto.events import responses as events_responses
from moto.events.exceptions import InvalidEventPatternException

from devkit.localaws.layers import Patch

MATCH_TYPES = frozenset({"prefix", "suffix", "equals-ignore-case", "anything-but", "exists",
                         "numeric"})
_MISSING = object()
_NUMERIC: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, "=": operator.eq, ">=": operator.ge, ">": operator.gt}


def pattern_error(pattern: Any, path: str = "") -> str | None:
    """Why AWS would refuse this pattern at PutRule (None: it is valid)."""
    if not isinstance(pattern, dict):
        return f"'{path or 'pattern'}' must be an object or an array"
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            found = pattern_error(value, where)
            if found:
                return found
        elif isinstance(value, list):
            if not value:
                return "Empty arrays are not allowed"
            for matcher in value:
                if isinstance(matcher, dict):
                    name = next(iter(matcher), None)
                    if len(matcher) != 1 or name not in MATCH_TYPES:
                        return f"Unrecognized match type {name}"
                elif isinstance(matcher, list):
                    return f"Match value must be String, number, true, false, or null at {where}"
        else:
            return f"'{key}' must be an object or an array"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(expected: Any, value: Any) -> bool:
    """Exact match, with JSON types kept apart (True is not 1, "5" is not 5)."""
    if expected is None or isinstance(expected, bool):
        return value is expected
    if _is_number(expected):
        return _is_number(value) and float(expected) == float(value)
    return isinstance(value, str) and value == expected


def _named(name: str, argument: Any, value: Any) -> bool:
    """One named matcher against one (present, scalar) event value."""
    if name == "prefix":
        return isinstance(value, str) and value.startswith(str(argument))
    if name == "suffix":
        return isinstance(value, str) and value.endswith(str(argument))
    if name == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(argument).lower()
    if name == "numeric":
        pairs = zip(argument[::2], argument[1::2], strict=True)
        return _is_number(value) and all(_NUMERIC[op](value, bound) for op, bound in pairs)
    if name == "anything-but":
        if isinstance(argument, dict):
            (inner, inner_arg), = argument.items()
            return not _named(inner, inner_arg, value)
        excluded = argument if isinstance(argument, list) else [argument]
        return not any(_same(e, value) for e in excluded)
    raise ValueError(f"Unrecognized match type {name}")


def _value_matches(matchers: list[Any], value: Any) -> bool:
    for matcher in matchers:
        if isinstance(matcher, dict):
            (name, argument), = matcher.items()
            if name == "exists":
                if (value is not _MISSING) == bool(argument):
                    return True
                continue
            if value is _MISSING:
                continue
            values = value if isinstance(value, list) else [value]
            if any(_named(name, argument, v) for v in values):
                return True
        elif value is not _MISSING:
            values = value if isinstance(value, list) else [value]
            if any(_same(matcher, v) for v in values):
                return True
    return False


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether EventBridge would deliver `event` to a rule with `pattern`."""
    for key, wanted in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(wanted, dict):
            if not isinstance(value, dict) or not matches(wanted, value):
                return False
        elif not _value_matches(wanted, value):
            return False
    return True


# ------------------------------------------------------------------ the layer on moto

def _parse(self: Any) -> dict[str, Any]:
    """moto's EventPatternParser.parse, refusing what AWS refuses."""
    try:
        parsed = json.loads(self.pattern) if self.pattern else {}
    except json.JSONDecodeError:
        raise InvalidEventPatternException(reason="Invalid JSON") from None
    problem = pattern_error(parsed)
    if problem:
        raise InvalidEventPatternException(reason=problem)
    return dict(parsed)


def _matches_event(self: Any, event: Any) -> bool:
    """moto's EventPattern.matches_event (PutEvents delivery, TestEventPattern), as AWS."""
    pattern = self.get_pattern()
    return not pattern or matches(pattern, json.loads(json.dumps(event)))


def _test_event_pattern(self: Any) -> str:
    """TestEventPattern, which plain moto does not implement (it answers nothing)."""
    pattern = events_models.EventPatternParser(self._get_param("EventPattern")).parse()
    event = json.loads(self._get_param("Event"))
    return json.dumps({"Result": matches(pattern, event)})


def patches() -> list[Patch]:
    return [Patch(events_models.EventPatternParser, "parse", _parse),
            Patch(events_models.EventPattern, "matches_event", _matches_event),
            Patch(events_responses.EventsHandler, "test_event_pattern", _test_event_pattern)]
