"""One schema: the resource, provider, validation, program and runner all derive from it."""

from __future__ import annotations

from dataclasses import fields

import pytest

from amibackup import schema
from amibackup.provider import INPUT_KEYS, REPLACE_KEYS
from amibackup.resource import AmiAutoBackup, AmiAutoBackupArgs, PersistenceArgs
from amibackup.runner.cycle import Job
from amibackup.spec import normalise


def test_resource_arguments_and_outputs_are_the_schemas() -> None:
    assert tuple(f.name for f in fields(AmiAutoBackupArgs)) == schema.INPUT_KEYS
    outputs = [k for k, v in vars(AmiAutoBackup).items()
               if isinstance(v, property) and "Output" in str(v.fget.__annotations__["return"])]
    assert tuple(outputs) == schema.OUTPUT_KEYS
    for f in schema.OUTPUTS:  # each output's docstring is the schema's
        assert getattr(AmiAutoBackup, f.name).__doc__ == f.doc, f.name
    assert (INPUT_KEYS, REPLACE_KEYS) == (schema.INPUT_KEYS, ("group_name", "region"))


def test_every_field_is_documented_in_the_resource() -> None:
    for f in schema.FIELDS:
        assert f.doc and f"{f.name} (" in (AmiAutoBackup.__doc__ or ""), f.name
    for f in schema.INPUTS:
        assert f"{f.name} (" in (AmiAutoBackupArgs.__doc__ or ""), f.name


def test_defaults_come_from_the_schema() -> None:
    filled = normalise({"group_name": "web"})
    assert {k: filled[k] for k in schema.DEFAULTS} == schema.DEFAULTS
    job = Job("b1", "web")
    assert (job.retention, job.no_reboot) == (schema.DEFAULTS["retention"],
                                              schema.DEFAULTS["no_reboot"])
    assert Job.from_config({"backup_id": "b1", "group_name": "web"}).retention == \
        schema.DEFAULT_RETENTION


def test_spec_round_trips_normalised_props() -> None:
    props = normalise({"group_name": "web", "backup_name": "web-backup", "retention": 5.0,
                       "tags": {"team": "web"}})
    spec = schema.BackupSpec.from_props(props)
    assert spec.retention == 5 and spec.tags == {"team": "web"}
    assert spec.schedule_expression == props["schedule_expression"]
    assert spec.to_props() == props


def test_args_turn_nested_persistence_into_a_map() -> None:
    args = AmiAutoBackupArgs(group_name="web", persistence=PersistenceArgs(private_ip=True))
    assert args.to_props()["persistence"] == {"private_ip": True}


def test_args_and_keywords_are_exclusive_and_keywords_are_checked() -> None:
    with pytest.raises(TypeError, match="not both"):
        AmiAutoBackup("b", AmiAutoBackupArgs(group_name="web"), retention=3)
    with pytest.raises(TypeError, match="retension"):
        AmiAutoBackup("b", group_name="web", retension=3)
