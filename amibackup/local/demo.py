"""`amibackup demo`: the product end to end on the embedded default.

A moto server on 127.0.0.1 plays AWS; the real Pulumi engine runs the `local` stack;
the schedule is played tick by tick with the clock fast-forwarded, invoking the
runner with the exact Input the schedule holds, as EventBridge Scheduler would.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime
from typing import Any

import yaml

from amibackup.local.engine import ROOT, local_engine
from amibackup.local.moto_server import FAKE_CREDENTIALS, moto_server
from amibackup.local.seed import create_group, default_image, group_instances
from amibackup.provision.scheduler import SCHEDULED_TIME
from amibackup.runner.clients import Clients
from amibackup.runner.cycle import Job, backup_images, run_cycle
from amibackup.schedule import next_runs

CLOCK_START = datetime(2026, 11, 29, 23, 55, tzinfo=UTC)


def say(message: str = "") -> None:
    print(message, flush=True)


def step(title: str) -> None:
    say(f"\n== {title}")


def local_backups() -> list[dict[str, Any]]:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    return list(config["config"]["amibackup:backups"])


def play_schedule(clients: Clients, outputs: dict[str, Any], ticks: int,
                  start: datetime = CLOCK_START) -> datetime:
    """Invoke the runner for each scheduled time, with the schedule's own target Input."""
    schedule = clients("scheduler").get_schedule(Name=f"amibackup-{outputs['backup_id']}")
    target = schedule["Target"]
    when = next_runs(schedule["ScheduleExpression"], ticks,
                     schedule.get("ScheduleExpressionTimezone", "UTC"), start=start)
    ec2 = clients("ec2")
    template = outputs["template_id"]
    say(f"schedule {schedule['ScheduleExpression']} ({schedule['State']}), "
        f"playing {ticks} ticks from {start:%Y-%m-%d %H:%M} UTC")
    for at in when:
        event = json.loads(target["Input"].replace(SCHEDULED_TIME, at.isoformat()))
        summary = run_cycle(Job.from_event(event), clients, now=at)
        kept = len(backup_images(ec2, outputs["backup_id"]))
        parts = [f"{at:%a %H:%M}"]
        parts.append(f"created {summary.created}" if summary.created else
                     f"skipped: {'; '.join(summary.skipped)}")
        if summary.promoted:
            parts.append(f"template v{summary.template_version} -> {summary.promoted}")
        if summary.pruned:
            parts.append(f"pruned {', '.join(summary.pruned)} "
                         f"(+{len(summary.deleted_snapshots)} snapshot)")
        parts.append(f"{kept} kept; launches {default_image(ec2, template)}")
        say("  " + " | ".join(parts))
    return when[-1]


def manual_change(clients: Clients, group: str, template_id: str) -> str:
    """An operator makes a hand-picked AMI the template's default, without pausing."""
    ec2 = clients("ec2")
    source = group_instances(clients, group)[0]["InstanceId"]
    image = ec2.create_image(InstanceId=source, Name="hand-picked-ami", NoReboot=True)["ImageId"]
    version = ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion="$Default",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
    )["LaunchTemplateVersion"]["VersionNumber"]
    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version))
    say(f"operator made {image} the default (template v{version}) by hand")
    return image


def roll(clients: Clients, group: str) -> None:
    """Replace every instance, as an instance refresh would (moto lacks that call)."""
    time.sleep(1.1)
    for instance in group_instances(clients, group):
        clients("autoscaling").terminate_instance_in_auto_scaling_group(
            InstanceId=instance["InstanceId"], ShouldDecrementDesiredCapacity=False)
    images = sorted({i["ImageId"] for i in group_instances(clients, group)})
    say(f"rolled the group: instances now run {', '.join(images)}")


def spot_interruption(clients: Clients, group: str, backup_id: str) -> None:
    time.sleep(1.1)  # moto stamps launch times to the second: make the replacement newest
    newest = max(backup_images(clients("ec2"), backup_id), key=lambda i: i.order).image_id
    victim = group_instances(clients, group)[0]
    say(f"interrupting {victim['InstanceId']} (running {victim['ImageId']})")
    clients("autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=victim["InstanceId"], ShouldDecrementDesiredCapacity=False)
    for instance in group_instances(clients, group):
        if instance["InstanceId"] != victim["InstanceId"] and instance["LaunchTime"] > victim[
                "LaunchTime"]:
            mark = "= newest backup" if instance["ImageId"] == newest else "!= newest backup"
            say(f"replacement {instance['InstanceId']} launched from {instance['ImageId']} "
                f"{mark}")


def run(ticks: int = 6) -> int:
    work = ROOT / ".pulumi-work" / "demo"
    shutil.rmtree(work, ignore_errors=True)  # the emulated AWS starts empty each time
    os.environ.update(FAKE_CREDENTIALS)
    step("starting a moto server on 127.0.0.1 (the embedded default AWS)")
    with moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        say(f"AWS_ENDPOINT_URL={endpoint}")
        clients = Clients("us-east-1")
        backups = local_backups()
        group = backups[0]["group_name"]
        seeded = create_group(clients, group, size=2)
        say(f"seeded group {group}: template {seeded.template_id}, base image "
            f"{seeded.base_image}, {len(group_instances(clients, group))} instances")

        step("the Pulumi engine (from PATH, else built from Go modules once, then cached)")
        engine = local_engine(work, endpoint)
        say(f"engine: {engine.bin_dir / 'pulumi'}")

        step("pulumi up (stack local)")
        stack = engine.stack("local", backups)
        result = stack.up(on_output=lambda line: say("  " + line.rstrip()))
        name = backups[0]["name"]
        outputs = {**result.outputs[name].value, "template_id": seeded.template_id}
        say(f"backup {outputs['backup_id']}: {outputs['schedule_description']}")

        step("playing the schedule (clock fast-forwarded)")
        last = play_schedule(clients, outputs, ticks)

        step("Spot interruption: the replacement launches from the newest backup")
        spot_interruption(clients, group, outputs["backup_id"])

        step("changing the AMI by hand is never silently overwritten")
        manual_change(clients, group, seeded.template_id)
        last = play_schedule(clients, outputs, 1, start=last)
        roll(clients, group)
        play_schedule(clients, outputs, 1, start=last)

        step("a stateful group is refused at plan time (pulumi preview)")
        stateful = [{**backups[0], "name": "stateful-backup",
                     "persistence": {"root_volume": True}}]
        try:
            engine.stack("stateful", stateful).preview()
            say("UNEXPECTED: the preview of a stateful group succeeded")
        except Exception as err:  # noqa: BLE001 - the engine's CommandError, shown as is
            lines = [ln.strip() for ln in str(err).splitlines() if "has a problem" in ln]
            say("preview failed as it should:")
            say(f"  {lines[-1] if lines else str(err).strip()[-600:]}")

        step("pulumi destroy")
        ec2 = clients("ec2")
        made_snapshots = {s for i in backup_images(ec2, outputs["backup_id"])
                          for s in i.snapshot_ids}
        stack.destroy(on_output=lambda line: say("  " + line.rstrip()))
        left = backup_images(ec2, outputs["backup_id"])
        launches = default_image(ec2, seeded.template_id)
        snapshots = [s for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
                     if s["SnapshotId"] in made_snapshots]
        exists = bool(ec2.describe_images(ImageIds=[launches])["Images"])
        say(f"images of the backup left: {len(left)}; their snapshots left: {len(snapshots)}")
        say(f"the group launches {launches} (exists: {exists})")
        say("stopping the moto server")
        return 0 if not left and not snapshots and exists else 1
