"""`python -m devkit.demo`: the product end to end on the embedded default.

A moto server on 127.0.0.1 plays AWS; the real Pulumi engine runs the `local` stack;
the schedule is played tick by tick with the clock fast-forwarded, invoking the
runner with the exact Input the schedule holds, as EventBridge Scheduler would.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from amibackup.runner.clients import Clients
from amibackup.runner.cycle import backup_images
from devkit import scenarios
from devkit.engine import ROOT, local_engine
from devkit.localaws.server import moto_server
from devkit.scenarios import create_group, default_image, group_instances

CLOCK_START = datetime(2026, 11, 1, 23, 55, tzinfo=UTC)  # past: runs in the future are refused


def say(message: str = "") -> None:
    print(message, flush=True)


def step(title: str) -> None:
    say(f"\n== {title}")


def local_backups() -> list[dict[str, Any]]:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    return list(config["config"]["amibackup:backups"])


def play_schedule(clients: Clients, outputs: dict[str, Any], ticks: int,
                  start: datetime = CLOCK_START) -> datetime:
    """Play `ticks` scheduled runs and print a timeline; return the last run's time."""
    schedule = scenarios.schedule_of(clients, outputs["backup_id"])
    ec2 = clients("ec2")
    say(f"schedule {schedule['ScheduleExpression']} ({schedule['State']}), "
        f"playing {ticks} ticks from {start:%Y-%m-%d %H:%M} UTC")
    last = start
    for at, summary in scenarios.play_schedule(clients, outputs["backup_id"], ticks, start):
        kept = len(backup_images(ec2, outputs["backup_id"]))
        say("  " + " | ".join(timeline(at, summary, kept,
                                       default_image(ec2, outputs["template_id"]))))
        last = at
    return last


def timeline(at: datetime, summary: dict[str, Any], kept: int, launches: str) -> list[str]:
    """One run, in words: what it created or why not, promoted, pruned; what is kept."""
    parts = [f"{at:%a %H:%M}"]
    parts.append(f"created {summary['created']}" if summary["created"] else
                 f"skipped: {'; '.join(summary['skipped'])}")
    if summary["promoted"]:
        parts.append(f"template v{summary['template_version']} -> {summary['promoted']}")
    if summary["pruned"]:
        parts.append(f"pruned {', '.join(summary['pruned'])} "
                     f"(+{len(summary['deleted_snapshots'])} snapshot)")
    parts.append(f"{kept} kept; launches {launches}")
    return parts


def manual_change(clients: Clients, group: str, template_id: str) -> str:
    """An operator makes a hand-picked AMI the template's default, without pausing."""
    image, version = scenarios.hand_pick_ami(clients, group, template_id)
    say(f"operator made {image} the default (template v{version}) by hand")
    return image


def roll(clients: Clients, group: str) -> None:
    """Replace every instance, as an instance refresh would."""
    images = sorted({i["ImageId"] for i in scenarios.roll_group(clients, group)})
    say(f"rolled the group: instances now run {', '.join(images)}")


def spot_interruption(clients: Clients, group: str, backup_id: str) -> None:
    newest = max(backup_images(clients("ec2"), backup_id), key=lambda i: i.order).image_id
    victim, replacement = scenarios.interrupt_instance(clients, group)
    say(f"interrupting {victim['InstanceId']} (running {victim['ImageId']})")
    mark = "= newest backup" if replacement["ImageId"] == newest else "!= newest backup"
    say(f"replacement {replacement['InstanceId']} launched from {replacement['ImageId']} "
        f"{mark}")


def run(ticks: int = 6) -> int:
    work = ROOT / ".pulumi-work" / "demo"
    shutil.rmtree(work, ignore_errors=True)  # the emulated AWS starts empty each time
    importlib.import_module("amibackup.runner.handler")  # sets up logging, as in Lambda
    logging.getLogger("amibackup").setLevel(logging.WARNING)  # the timeline says it in words
    step("starting a moto server on 127.0.0.1 (the embedded default AWS)")
    with moto_server() as endpoint:
        scenarios.use_fake_credentials(endpoint)
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
        made_snapshots = scenarios.backup_snapshots(clients, outputs["backup_id"])
        stack.destroy(on_output=lambda line: say("  " + line.rstrip()))
        left = scenarios.leftovers(clients, outputs["backup_id"], made_snapshots)
        ec2 = clients("ec2")
        launches = default_image(ec2, seeded.template_id)
        exists = bool(ec2.describe_images(ImageIds=[launches])["Images"])
        say(f"images of the backup left: {len(left.images)}; "
            f"their snapshots left: {len(left.snapshots)}")
        say(f"its schedules, functions and roles left: "
            f"{len(left.schedules) + len(left.functions) + len(left.roles)}")
        say(f"the group launches {launches} (exists: {exists})")
        say("stopping the moto server")
        return 0 if left == scenarios.Leftovers() and exists else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.demo", description=__doc__)
    parser.add_argument("--ticks", type=int, default=6, help="scheduled runs to play")
    return run(ticks=parser.parse_args(argv).ticks)


if __name__ == "__main__":
    sys.exit(main())
