"""Issue 18 items 3-9, 12: pruning under what AWS really does, through the deployed runner.

On the strict local AWS (moto in-process plus the layers), each run is the deployed function
invoked as its schedule's target would invoke it (`fire_schedule`), and destroy is the
provider's delete. What AWS does that moto does not (references, deregistration protection,
disabled images, snapshots still in use) is set by hand through devkit/localaws/amis.py.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.ec2.models import ec2_backends

from amibackup.names import Names
from amibackup.provision import backup
from amibackup.runner import lock, plan, record
from amibackup.runner.clients import Clients
from amibackup.runner.seal import of_backup
from amibackup.schema import BackupSpec
from amibackup.spec import normalise
from devkit.localaws import amis
from devkit.localaws import ssm as local_ssm
from devkit.localaws.lambda_runtime import FunctionError
from devkit.scenarios import T0, default_image, fire_schedule, leftovers
from tests.support.faults import Cut, after_call, cut_after, refused

SPEC = {"backup_name": "web-backup", "group_name": "web"}
CUT = (Cut, FunctionError)  # the execution environment killed mid-run (a Lambda timeout)
ACCOUNT, REGION = "123456789012", "us-east-1"


def lease_expired(backup_id: str) -> None:
    """Time passing beyond a dead run's lease, as AWS stamps it on the lock."""
    local_ssm.backdate(Names(backup_id).lock_parameter, lock.LEASE_SECONDS + 1)


def deploy(clients: Clients, **overrides: Any) -> tuple[BackupSpec, dict[str, Any]]:
    spec = BackupSpec.from_props(normalise({**SPEC, **overrides}))
    return spec, backup.create(clients, spec)


def fire(clients: Clients, backup_id: str, n: int) -> dict[str, Any]:
    return fire_schedule(clients, backup_id, T0 + timedelta(hours=n))


def exists(clients: Clients, image_id: str) -> bool:
    return bool(clients("ec2").describe_images(
        Owners=["self"], IncludeDisabled=True,
        Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"])


def owned(clients: Clients, backup_id: str) -> record.Record:
    return record.read(clients("ssm"), Names(backup_id).record_parameter,
                       of_backup(clients("kms"), backup_id))


def snapshots_of(clients: Clients, image_id: str) -> list[str]:
    (image,) = clients("ec2").describe_images(ImageIds=[image_id])["Images"]
    return [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]


def snapshot_exists(clients: Clients, snapshot_id: str) -> bool:
    found = clients("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return any(s["SnapshotId"] == snapshot_id for s in found)


def destroy(clients: Clients, spec: BackupSpec, outs: dict[str, Any]) -> Any:
    return backup.delete(clients, outs["backup_id"], spec, outs["recorded_version"])


# --- item 3: in use anywhere in the account and region ------------------------------------

def test_a_backup_used_outside_the_group_is_kept_and_says_why(clients, group):
    """A canary template, an instance outside the group and an SSM parameter each keep the
    backup they name; once none does, the next run prunes it."""
    ec2, ssm = clients("ec2"), clients("ssm")
    _spec, outs = deploy(clients, retention=1)
    backup_id = outs["backup_id"]
    first = fire(clients, backup_id, 0)["created"]
    fire(clients, backup_id, 1)
    assert not exists(clients, first)  # retention 1: nothing used it, so it went
    made = [fire(clients, backup_id, 2)["created"]]
    canary = ec2.create_launch_template(LaunchTemplateName="canary", LaunchTemplateData={
        "ImageId": made[0], "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    made.append(fire(clients, backup_id, 3)["created"])
    stray = ec2.run_instances(ImageId=made[1], MinCount=1, MaxCount=1)["Instances"][0]
    made.append(fire(clients, backup_id, 4)["created"])
    ssm.put_parameter(Name="/golden/web", Value=made[2], Type="String",
                      DataType="aws:ec2:image")
    later = [fire(clients, backup_id, n) for n in range(5, 7)]
    assert all(exists(clients, i) for i in made) and set(made) <= set(later[-1]["protected"])
    reasons = later[-1]["reasons"]
    assert f"launch-template/{canary}" in reasons[made[0]]
    assert f"instance/{stray['InstanceId']}" in reasons[made[1]]
    assert "parameter/golden/web" in reasons[made[2]]
    # Nothing uses them any more: the next run deregisters them.
    ec2.delete_launch_template(LaunchTemplateId=canary)
    ec2.terminate_instances(InstanceIds=[stray["InstanceId"]])
    ssm.delete_parameter(Name="/golden/web")
    freed = fire(clients, backup_id, 7)
    assert set(made) <= set(freed["pruned"]) and not any(exists(clients, i) for i in made)


def test_destroy_keeps_what_another_template_uses(clients, group):
    ec2 = clients("ec2")
    spec, outs = deploy(clients, retention=2)
    made = [fire(clients, outs["backup_id"], n)["created"] for n in range(2)]
    ec2.create_launch_template(LaunchTemplateName="canary", LaunchTemplateData={
        "ImageId": made[0], "InstanceType": "t3.micro"})
    result = destroy(clients, spec, outs)
    assert made[0] in result.kept and exists(clients, made[0])
    assert any("launch-template/" in w and made[0] in w for w in result.warnings)
    assert made[1] in result.deregistered and not exists(clients, made[1])


# --- item 4: an image AWS refuses to deregister ------------------------------------------

def test_an_image_that_cannot_be_deregistered_is_kept_and_runs_carry_on(clients, group):
    ec2 = clients("ec2")
    spec, outs = deploy(clients, retention=1)
    backup_id = outs["backup_id"]
    first = fire(clients, backup_id, 0)["created"]
    ec2.enable_image_deregistration_protection(ImageId=first)
    later = [fire(clients, backup_id, n) for n in range(1, 4)]  # none raises
    assert all(s["created"] and not s["failed"] for s in later)
    assert first in later[-1]["protected"] and exists(clients, first)
    assert "deregistration refused" in later[-1]["reasons"][first]
    assert any(first in w for w in later[-1]["warnings"])
    assert owned(clients, backup_id).owns(first)  # still ours: a later run retries it
    assert default_image(ec2, group.template_id) == later[-1]["created"]
    result = destroy(clients, spec, outs)  # carries on, reports the image it had to keep
    assert first in result.kept and exists(clients, first)
    assert later[-1]["created"] in result.deregistered


# --- item 5: snapshots go with their image, or are retried until gone --------------------

def test_a_snapshot_still_in_use_is_retried_until_gone(clients, group):
    _spec, outs = deploy(clients, retention=1)
    backup_id = outs["backup_id"]
    first = fire(clients, backup_id, 0)["created"]
    (snap,) = snapshots_of(clients, first)
    with amis.snapshots_stay(attempts=2):  # DeregisterImage's deletion, then DeleteSnapshot
        pruning = fire(clients, backup_id, 1)
    assert pruning["pruned"] == [first] and snap not in pruning["deleted_snapshots"]
    assert snapshot_exists(clients, snap)
    retry = fire(clients, backup_id, 2)
    assert not snapshot_exists(clients, snap) and snap in retry["deleted_snapshots"]
    assert owned(clients, backup_id).snapshots == {}


def test_destroy_leaves_no_snapshot_even_one_briefly_in_use(clients, group):
    spec, outs = deploy(clients, retention=1)
    backup_id = outs["backup_id"]
    first = fire(clients, backup_id, 0)["created"]
    (left_by_run,) = snapshots_of(clients, first)
    with amis.snapshots_stay(attempts=3):
        second = fire(clients, backup_id, 1)["created"]  # prunes `first`: its snapshot stays
        (snap,) = snapshots_of(clients, second)
        assert snapshot_exists(clients, left_by_run)
        result = destroy(clients, spec, outs)  # waits while AWS says "in use"
    assert {snap, left_by_run} <= set(result.deleted_snapshots)
    assert leftovers(clients, backup_id).snapshots == ()


# --- item 6: forgotten only when AWS says it is gone; disabled images count ---------------

def test_a_disabled_backup_stays_in_the_record_and_goes_at_destroy(clients, group):
    ec2 = clients("ec2")
    spec, outs = deploy(clients, retention=3)
    backup_id = outs["backup_id"]
    first = fire(clients, backup_id, 0)["created"]
    fire(clients, backup_id, 1)
    ec2.disable_image(ImageId=first)  # AWS now leaves it out of DescribeImages by default
    fire(clients, backup_id, 2)
    assert owned(clients, backup_id).owns(first)
    destroy(clients, spec, outs)
    assert not exists(clients, first)
    assert leftovers(clients, backup_id).images == ()


# --- item 7: cut right after CreateImage ---------------------------------------------------

def test_the_image_of_a_run_cut_after_create_image_is_adopted_by_the_next(clients, group):
    spec, outs = deploy(clients, retention=2)
    backup_id = outs["backup_id"]
    first = fire(clients, backup_id, 0)["created"]
    with cut_after("CreateImage"), pytest.raises(CUT):
        fire(clients, backup_id, 1)
    lease_expired(backup_id)  # the next scheduled run comes after the dead run's lease
    orphan = [i for i in _backup_image_ids(clients, backup_id) if i != first]
    assert len(orphan) == 1 and not owned(clients, backup_id).owns(orphan[0])
    nxt = fire(clients, backup_id, 2)
    assert owned(clients, backup_id).owns(orphan[0]) and nxt["adopted"] == orphan
    destroy(clients, spec, outs)
    assert not exists(clients, orphan[0])


def test_destroy_deregisters_the_image_of_a_run_cut_after_create_image(clients, group):
    """The cut run's image is in no `images` entry (only its run's start is recorded):
    teardown adopts it by name, as the next run would, and deregisters it."""
    spec, outs = deploy(clients)
    backup_id = outs["backup_id"]
    with cut_after("CreateImage"), pytest.raises(CUT):
        fire(clients, backup_id, 0)
    lease_expired(backup_id)
    [orphan] = _backup_image_ids(clients, backup_id)
    assert not owned(clients, backup_id).owns(orphan) and owned(clients, backup_id).runs
    destroy(clients, spec, outs)
    assert not exists(clients, orphan)


def test_destroy_leaves_an_image_holding_a_runs_name_it_did_not_make(clients, group):
    """A colleague's image made, before the run started, under the name that run gives its
    image: the run refuses to adopt it (and fails), and teardown leaves it, saying why."""
    spec, outs = deploy(clients)
    backup_id = outs["backup_id"]
    instance = clients("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[
        group.group_name])["AutoScalingGroups"][0]["Instances"][0]["InstanceId"]
    colleagues = clients("ec2").create_image(
        InstanceId=instance, NoReboot=True,
        Name=plan.image_name(backup_id, plan.run_key(T0)))["ImageId"]
    # Made an hour before (AWS compares to the second: the same second would be the run's).
    made = ec2_backends[ACCOUNT][REGION].amis[colleagues]
    made.creation_date -= timedelta(hours=1)
    with pytest.raises((FunctionError, RuntimeError), match="not adopting"):
        fire(clients, backup_id, 0)
    assert list(owned(clients, backup_id).runs) == [plan.run_key(T0)]
    result = destroy(clients, spec, outs)
    assert exists(clients, colleagues)
    assert any("not this backup's" in w and colleagues in w for w in result.warnings)


def _backup_image_ids(clients: Clients, backup_id: str) -> list[str]:
    from amibackup.access import backup_images
    return [i.image_id for i in backup_images(clients("ec2"), backup_id)]


# --- item 8: cut in the middle of a promotion ---------------------------------------------

def test_a_promotion_cut_before_the_default_moved_is_finished_by_the_next_run(clients, group):
    ec2 = clients("ec2")
    _spec, outs = deploy(clients, retention=3)
    backup_id = outs["backup_id"]
    first = fire(clients, backup_id, 0)["created"]
    with cut_after("CreateLaunchTemplateVersion"), pytest.raises(CUT):
        fire(clients, backup_id, 1)
    lease_expired(backup_id)
    assert default_image(ec2, group.template_id) == first  # the new version is not default
    nxt = fire(clients, backup_id, 2)
    assert not any("manual change" in s or "operator's choice" in s for s in nxt["skipped"])
    assert nxt["created"] and default_image(ec2, group.template_id) == nxt["created"]
    assert any("finished the promotion" in w for w in nxt["warnings"])
    assert owned(clients, backup_id).promoting == {}


def test_an_operators_rollback_is_not_taken_for_a_cut_promotion(clients, group):
    ec2 = clients("ec2")
    _spec, outs = deploy(clients, retention=3)
    backup_id = outs["backup_id"]
    first = fire(clients, backup_id, 0)
    second = fire(clients, backup_id, 1)
    ec2.modify_launch_template(LaunchTemplateId=group.template_id,
                               DefaultVersion=str(first["template_version"]))
    nxt = fire(clients, backup_id, 2)
    assert not any("finished the promotion" in w for w in nxt["warnings"])
    assert default_image(ec2, group.template_id) == first["created"] != second["created"]


# --- item 9: a rollback landing during a run wins ------------------------------------------

@pytest.mark.parametrize("lands_after", ["CreateLaunchTemplateVersion", "ModifyLaunchTemplate"])
def test_a_rollback_during_the_run_wins(clients, group, lands_after):
    """The operator moves the default back to the oldest backup while a run promotes: not
    overwritten (landing before ModifyLaunchTemplate), and that backup is not pruned."""
    ec2 = clients("ec2")
    _spec, outs = deploy(clients, retention=2)
    backup_id = outs["backup_id"]
    oldest = fire(clients, backup_id, 0)
    fire(clients, backup_id, 1)

    def rollback() -> None:  # the operator's ModifyLaunchTemplate, at that very moment
        template = ec2_backends[ACCOUNT][REGION].launch_templates[group.template_id]
        template.default_version_number = oldest["template_version"]

    with after_call(lands_after, rollback) as fired:
        run = fire(clients, backup_id, 2)
    assert fired == [lands_after]
    assert default_image(ec2, group.template_id) == oldest["created"]
    assert oldest["created"] not in run["pruned"] and exists(clients, oldest["created"])
    assert oldest["created"] in run["protected"]
    if lands_after == "CreateLaunchTemplateVersion":
        assert any("operator's change wins" in s for s in run["skipped"])


# --- item 12: every failed run reaches the alarm ------------------------------------------

def test_a_run_that_raises_still_logs_its_summary_with_failed(clients, group, capsys):
    _, outs = deploy(clients)
    with refused("CreateImage", "UnauthorizedOperation") as fired, \
            pytest.raises((ClientError, FunctionError), match="UnauthorizedOperation"):
        fire(clients, outs["backup_id"], 0)
    assert fired == ["CreateImage"]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{") and '"_aws"' in line]
    assert lines and lines[-1]["Failed"] == 1.0  # the metric the -failed alarm watches
    assert "UnauthorizedOperation" in lines[-1]["failed"][0]
