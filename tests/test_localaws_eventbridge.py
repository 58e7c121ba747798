"""RULES.md s16-1: EventBridge's content filtering on the strict local AWS, against plain moto.

AWS refuses a pattern with an unrecognised match type at PutRule; plain moto accepts it and
then matches every event with it. The strict local AWS refuses it, and matches patterns as
EventBridge does (EventBridge User Guide, "Content filtering in event patterns"), both in
moto (TestEventPattern, PutEvents) and in the dev kit's delivery of AMI events to Lambda.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.events.models import EventPattern

from devkit.localaws.eventbridge import matches, pattern_error
from devkit.localaws.layers import plain_moto

AMI_EVENT = {"version": "0", "id": "e1", "detail-type": "EC2 AMI State Change",
             "source": "aws.ec2", "account": "123456789012", "time": "2026-11-01T00:00:00Z",
             "region": "us-east-1", "resources": ["arn:aws:ec2:us-east-1::image/ami-1"],
             "detail": {"RequestId": "r1", "ImageId": "ami-1", "State": "available",
                        "ErrorReason": ""}}
TYPO = {"source": ["aws.ec2"], "detail": {"ImageId": [{"anythingbut": "ami-1"}]}}


def test_event(clients: Any, pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return bool(clients("events").test_event_pattern(
        EventPattern=json.dumps(pattern), Event=json.dumps(event))["Result"])


test_event.__test__ = False  # type: ignore[attr-defined]


def test_plain_moto_accepts_an_unrecognised_match_type_and_matches_everything(clients):
    other = {**AMI_EVENT, "detail": {**AMI_EVENT["detail"], "ImageId": "ami-someone"}}
    with plain_moto():
        clients("events").put_rule(Name="typo", EventPattern=json.dumps(TYPO))
        assert EventPattern.load(json.dumps(TYPO)).matches_event(other)  # every image
        answer = clients("events").test_event_pattern(EventPattern=json.dumps(TYPO),
                                                      Event=json.dumps(other))
        assert "Result" not in answer  # TestEventPattern is not implemented


def test_strict_refuses_an_unrecognised_match_type_at_put_rule(clients):
    with pytest.raises(ClientError) as refused:
        clients("events").put_rule(Name="typo", EventPattern=json.dumps(TYPO))
    assert refused.value.response["Error"]["Code"] == "InvalidEventPatternException"
    assert "Unrecognized match type anythingbut" in str(refused.value)


MATCHING: list[tuple[dict[str, Any], bool]] = [
    # exact values in arrays on nested detail fields (what amibackup's rule uses)
    ({"detail": {"ImageId": ["ami-1", "ami-2"], "State": ["available", "failed"]}}, True),
    ({"detail": {"ImageId": ["ami-2"], "State": ["available", "failed"]}}, False),
    ({"detail": {"ImageId": ["ami-1"], "State": ["failed"]}}, False),
    ({"detail": {"ImageId": ["amibackup-none"]}}, False),  # "matches nothing"
    ({"source": ["aws.ec2"], "detail-type": ["EC2 AMI State Change"]}, True),
    # a field the event does not have
    ({"detail": {"Missing": ["x"]}}, False),
    ({"detail": {"Missing": [{"exists": False}]}}, True),
    ({"detail": {"ImageId": [{"exists": False}]}}, False),
    # an event array matches when any element does
    ({"resources": ["arn:aws:ec2:us-east-1::image/ami-1"]}, True),
    ({"resources": [{"prefix": "arn:aws:ec2:us-east-1::image/"}]}, True),
    # prefix, anything-but
    ({"detail": {"ImageId": [{"prefix": "ami-"}]}}, True),
    ({"detail": {"State": [{"anything-but": ["pending", "deregistered"]}]}}, True),
    ({"detail": {"State": [{"anything-but": "available"}]}}, False),
    ({"detail": {"State": [{"anything-but": {"prefix": "avail"}}]}}, False),
    # types are kept apart; a nested pattern needs a nested event object
    ({"version": [0]}, False),
    ({"detail": {"ImageId": {"Nested": ["ami-1"]}}}, False),
]


@pytest.mark.parametrize(("pattern", "expected"), MATCHING)
def test_strict_matching_as_eventbridge(clients, pattern, expected):
    assert pattern_error(pattern) is None
    assert matches(pattern, AMI_EVENT) is expected
    assert test_event(clients, pattern, AMI_EVENT) is expected  # moto's API, strict


def test_invalid_patterns_are_named():
    assert pattern_error({"detail": {"ImageId": []}}) == "Empty arrays are not allowed"
    assert pattern_error({"source": "aws.ec2"}) == "'source' must be an object or an array"
    assert pattern_error({"a": [{"numeric": [">", 1], "prefix": "x"}]}) is not None
