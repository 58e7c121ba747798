"""Pure tests of spec validation and normalisation (no AWS, no Pulumi engine)."""

from __future__ import annotations

from typing import Any

import pytest

from amibackup.spec import MAX_TAGS, Problem, normalise, validate

GROUP: dict[str, Any] = {"group_name": "web"}


class Unknown:
    """Stands in for a value Pulumi does not know yet (preview)."""


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def spec(**overrides: Any) -> dict[str, Any]:
    return {**GROUP, **overrides}


# (id, props, expected field, substring of the message that names the fix)
BAD_SPECS: list[tuple[str, dict[str, Any], str, str]] = [
    # group_name
    ("group-missing", {}, "group_name", "is required: set it to the name of the Auto Scaling"),
    ("group-empty", {"group_name": ""}, "group_name", "is required"),
    ("group-blank", {"group_name": "   "}, "group_name", "is required"),
    ("group-not-a-string", {"group_name": 5}, "group_name", "1 to 255 printable ASCII"),
    ("group-non-ascii", {"group_name": "wéb"}, "group_name", "1 to 255 printable ASCII"),
    ("group-too-long", {"group_name": "g" * 256}, "group_name", "1 to 255 printable ASCII"),
    # frequency
    ("frequency-unknown-word", spec(frequency="every-5-min"), "frequency",
     "must be one of continuous, hourly, daily, weekly, custom; got 'every-5-min'"),
    ("frequency-number", spec(frequency=3), "frequency", "must be one of continuous"),
    # Pulumi drops None-valued inputs before check(); a direct caller passing None is refused.
    ("frequency-none", spec(frequency=None), "frequency", "must be one of continuous"),
    # cron
    ("custom-cron-none", spec(frequency="custom", cron=None), "cron",
     'is required when frequency is "custom": e.g. cron="30 2 * * *"'),
    ("custom-cron-empty", spec(frequency="custom", cron=""), "cron", "is required when"),
    ("custom-cron-not-a-string", spec(frequency="custom", cron=5), "cron",
     'must be a string such as "30 2 * * *"'),
    ("cron-with-preset", spec(frequency="daily", cron="0 3 * * *"), "cron",
     'remove it or set frequency="custom"'),
    ("cron-out-of-range", spec(frequency="custom", cron="61 * * * *"), "cron",
     "minute value 61 is out of range; allowed 0-59"),
    ("cron-wrong-field-count", spec(frequency="custom", cron="not a cron"), "cron",
     "expected 5 fields"),
    ("cron-too-frequent", spec(frequency="custom", cron="*/5 * * * *"), "cron",
     "the minimum is 10 minutes"),
    ("cron-dom-and-dow", spec(frequency="custom", cron="0 3 1 * 1"), "cron",
     "Restrict only one of them"),
    # timezone
    ("timezone-unknown", spec(timezone="Mars/Olympus"), "timezone",
     "use an IANA name such as 'UTC'"),
    ("timezone-wrong-case", spec(timezone="europe/paris"), "timezone",
     "Did you mean 'Europe/Paris'?"),
    ("timezone-empty", spec(timezone=""), "timezone", "must be an IANA time zone name"),
    # retention
    ("retention-0", spec(retention=0), "retention", "whole number from 1 to 100"),
    ("retention-101", spec(retention=101), "retention", "whole number from 1 to 100"),
    ("retention-fraction", spec(retention=2.5), "retention", "got 2.5"),
    ("retention-string", spec(retention="3"), "retention", "got '3'"),
    ("retention-bool", spec(retention=True), "retention", "got True"),
    # flags
    ("no-reboot-string", spec(no_reboot="yes"), "no_reboot", "must be true or false; got 'yes'"),
    ("paused-int", spec(paused=1), "paused", "must be true or false; got 1"),
    ("deregister-string", spec(deregister_on_delete="no"), "deregister_on_delete",
     "must be true or false"),
    # persistence
    ("persistence-root", spec(persistence={"root_volume": True}), "persistence",
     ("root_volume persistence makes the group stateful, and AMI auto-backup cannot coexist "
      "with data persistence")),
    ("persistence-data", spec(persistence={"data_volumes": True}), "persistence",
     "data_volumes persistence makes the group stateful"),
    ("persistence-unknown-key", spec(persistence={"elastic_ip": True}), "persistence.elastic_ip",
     "use root_volume, data_volumes, private_ip"),
    ("persistence-not-bool", spec(persistence={"private_ip": "yes"}), "persistence.private_ip",
     "must be true or false; got 'yes'"),
    ("persistence-not-a-map", spec(persistence=True), "persistence",
     "must be a map with root_volume"),
    # tags
    ("tag-aws-prefix", spec(tags={"aws:cost": "x"}), "tags.aws:cost",
     'keys starting with "aws:" are reserved by AWS; rename the tag'),
    ("tag-aws-prefix-upper", spec(tags={"AWS:cost": "x"}), "tags.AWS:cost", "rename the tag"),
    ("tag-amibackup-prefix", spec(tags={"amibackup:run": "x"}), "tags.amibackup:run",
     'keys starting with "amibackup:" are set by amibackup; rename the tag'),
    ("tag-key-129", spec(tags={"k" * 129: "x"}), "tags", "must be 1 to 128 characters"),
    ("tag-key-empty", spec(tags={"": "x"}), "tags", "must be 1 to 128 characters"),
    ("tag-value-257", spec(tags={"team": "v" * 257}), "tags.team",
     "value must be a string of at most 256 characters"),
    ("tag-value-not-string", spec(tags={"team": 5}), "tags.team",
     "value must be a string of at most 256"),
    ("tags-41", spec(tags={f"k{i}": "v" for i in range(MAX_TAGS + 1)}), "tags",
     "has 41 tags; at most 40"),
    ("tags-not-a-map", spec(tags=["team"]), "tags", "must be a map of tag keys"),
    # region
    ("region-word", spec(region="Europe"), "region", 'such as "eu-west-1"; got \'Europe\''),
    ("region-upper", spec(region="EU-WEST-1"), "region", 'such as "eu-west-1"'),
    ("region-number", spec(region=5), "region", "must be an AWS region name"),
]


@pytest.mark.parametrize(("props", "field", "fix"),
                         [pytest.param(p, f, m, id=i) for i, p, f, m in BAD_SPECS])
def test_bad_spec_reports_one_problem_naming_the_fix(
    props: dict[str, Any], field: str, fix: str
) -> None:
    problems = validate(props)
    assert [p.field for p in problems] == [field], problems
    assert fix in problems[0].message


def test_table_is_large_enough() -> None:
    assert len(BAD_SPECS) >= 25
    assert len({i for i, *_ in BAD_SPECS}) == len(BAD_SPECS)


def test_custom_without_cron_key_is_refused() -> None:
    problems = validate(spec(frequency="custom"))
    assert [p.field for p in problems] == ["cron"]
    assert 'is required when frequency is "custom"' in problems[0].message


GOOD_SPECS: list[tuple[str, dict[str, Any]]] = [
    ("minimal", dict(GROUP)),
    ("retention-float-whole", spec(retention=3.0)),
    ("retention-bounds-1", spec(retention=1)),
    ("retention-bounds-100", spec(retention=100)),
    ("private-ip-alone", spec(persistence={"private_ip": True})),
    ("persistence-all-false", spec(persistence={"root_volume": False, "data_volumes": False,
                                                "private_ip": False})),
    ("custom-cron", spec(frequency="custom", cron="*/10 * * * *", timezone="Europe/Paris")),
    ("eventbridge-cron", spec(frequency="custom", cron="cron(30 2 * * ? *)")),
    ("preset-empty-cron", spec(frequency="weekly", cron="")),
    ("tags-at-limits", spec(tags={**{f"k{i}": "v" for i in range(MAX_TAGS - 1)},
                                  "k" * 128: "v" * 256})),
    ("region", spec(region="us-gov-west-1")),
    ("flags", spec(no_reboot=False, paused=True, deregister_on_delete=False)),
]


@pytest.mark.parametrize("props", [pytest.param(p, id=i) for i, p in GOOD_SPECS])
def test_good_spec_has_no_problem(props: dict[str, Any]) -> None:
    assert validate(props) == []


def test_every_problem_is_returned_at_once() -> None:
    problems = validate({
        "group_name": "", "frequency": "sometimes", "timezone": "Nowhere/Land", "retention": 0,
        "paused": "no", "persistence": {"root_volume": True}, "tags": {"aws:x": "y"},
        "region": "moon",
    })
    assert {p.field for p in problems} == {
        "group_name", "frequency", "timezone", "retention", "paused", "persistence",
        "tags.aws:x", "region",
    }
    assert all(isinstance(p, Problem) and p.message for p in problems)
    assert str(problems[0]).startswith(f"{problems[0].field}: ")


def test_stateful_message_names_both_keys_and_the_rule() -> None:
    [problem] = validate(spec(persistence={"root_volume": True, "data_volumes": True,
                                           "private_ip": True}))
    assert problem.field == "persistence"
    assert "root_volume and data_volumes" in problem.message
    assert "stateful" in problem.message
    assert "private_ip persistence alone is allowed" in problem.message


# ---------------------------------------------------------------- unknown values (preview)

UNKNOWN_SKIPPED: list[tuple[str, dict[str, Any]]] = [
    ("group_name", {"group_name": Unknown()}),
    ("retention", spec(retention=Unknown())),
    ("cron-custom", spec(frequency="custom", cron=Unknown())),
    ("timezone-with-fast-cron", spec(frequency="custom", cron="*/5 * * * *",
                                     timezone=Unknown())),
    ("persistence-values", spec(persistence={"root_volume": Unknown(),
                                             "data_volumes": Unknown(),
                                             "private_ip": Unknown()})),
    ("persistence-whole", spec(persistence=Unknown())),
    ("tag-values", spec(tags={"team": Unknown(), "env": Unknown()})),
    ("tags-whole", spec(tags=Unknown())),
    ("flag", spec(paused=Unknown())),
    ("region", spec(region=Unknown())),
]


@pytest.mark.parametrize("props", [pytest.param(p, id=i) for i, p in UNKNOWN_SKIPPED])
def test_unknown_values_are_skipped(props: dict[str, Any]) -> None:
    assert validate(props, is_unknown=is_unknown) == []


@pytest.mark.parametrize("props", [pytest.param(p, id=i) for i, p in UNKNOWN_SKIPPED])
def test_same_unknown_placeholders_are_refused_when_taken_as_known(
    props: dict[str, Any]
) -> None:
    """The placeholders above are invalid values: the skip really comes from is_unknown."""
    assert validate(props) != []


def test_unknown_tag_value_does_not_hide_a_bad_known_key() -> None:
    problems = validate(spec(tags={"aws:team": Unknown()}), is_unknown=is_unknown)
    assert [p.field for p in problems] == ["tags.aws:team"]


def test_unknown_value_does_not_hide_other_problems() -> None:
    problems = validate({"group_name": Unknown(), "retention": 0}, is_unknown=is_unknown)
    assert [p.field for p in problems] == ["retention"]


def test_unknown_frequency_with_known_cron_is_not_refused() -> None:
    assert validate(spec(frequency=Unknown(), cron="0 3 * * *"), is_unknown=is_unknown) == []


# ---------------------------------------------------------------- normalise


def test_normalise_fills_defaults_and_resolves_schedule() -> None:
    out = normalise(dict(GROUP))
    assert out == {
        "group_name": "web", "frequency": "hourly", "timezone": "UTC", "retention": 3,
        "no_reboot": True, "paused": False, "deregister_on_delete": True, "tags": {},
        "schedule_expression": "cron(0 * * * ? *)",
        "schedule_description": "at minute 0 of every hour (UTC)",
    }


def test_normalise_turns_whole_float_into_int() -> None:
    out = normalise(spec(retention=3.0))
    assert out["retention"] == 3
    assert type(out["retention"]) is int


def test_normalise_keeps_given_values_and_fills_persistence() -> None:
    out = normalise(spec(frequency="custom", cron="30 2 * * 1-5", timezone="Europe/Paris",
                         retention=7, paused=True, persistence={"private_ip": True},
                         tags={"team": "a"}, cron_unused=None))
    assert out["retention"] == 7 and out["paused"] is True
    assert out["persistence"] == {"root_volume": False, "data_volumes": False,
                                  "private_ip": True}
    assert out["tags"] == {"team": "a"}
    assert "cron_unused" not in out  # None means absent
    assert out["schedule_expression"] == "cron(30 2 ? * 2-6 *)"
    assert out["schedule_description"] == "at 02:30 on Mon-Fri (Europe/Paris)"


@pytest.mark.parametrize("props", [
    pytest.param(spec(frequency="custom", cron=Unknown()), id="cron"),
    pytest.param(spec(frequency=Unknown()), id="frequency"),
    pytest.param(spec(timezone=Unknown()), id="timezone"),
])
def test_normalise_omits_schedule_when_an_input_is_unknown(props: dict[str, Any]) -> None:
    out = normalise(props, is_unknown=is_unknown)
    assert "schedule_expression" not in out
    assert "schedule_description" not in out
    assert out["retention"] == 3  # defaults are still filled


@pytest.mark.parametrize("props", [
    pytest.param(spec(frequency="custom", cron="*/5 * * * *"), id="too-frequent"),
    pytest.param(spec(frequency="custom"), id="custom-no-cron"),
    pytest.param(spec(timezone="Nowhere/Land"), id="bad-timezone"),
])
def test_normalise_omits_schedule_when_invalid(props: dict[str, Any]) -> None:
    out = normalise(props)
    assert "schedule_expression" not in out
    assert "schedule_description" not in out


def test_persistence_survives_its_tag_and_an_edited_tag_reads_as_unset():
    """The persistence input as the function's tag (import reads it back, adopt.py)."""
    from amibackup.spec import persistence_of_text, persistence_text
    for value in ({"private_ip": True, "root_volume": False, "data_volumes": False},
                  {"private_ip": False}):
        assert persistence_of_text(persistence_text(value)) == value
    assert persistence_text(None) == persistence_text({}) == "none"
    assert persistence_of_text("none") is None and persistence_of_text(None) is None
    for edited in ("private_ip=yes", "stateful=true", "private_ip=true private_ip=false"):
        assert persistence_of_text(edited) is None
