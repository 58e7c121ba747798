"""`python -m devkit.demo`: the product end to end on the embedded default.

A moto server on 127.0.0.1 plays AWS (with the dev kit's strict layers); the plain `pulumi`
CLI runs this repository's program and `local` stack as a user types it (devkit.pulumi_cli,
with our language host); the schedule is played tick by tick with the clock fast-forwarded
through devkit.scenarios, as EventBridge Scheduler would invoke the runner.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from amibackup.access import backup_images
from amibackup.runner.clients import Clients
from devkit import pulumi_cli, scenarios
from devkit.localaws import ec2 as local_ec2
from devkit.localaws.lambda_runtime import deliver_ami_events
from devkit.localaws.server import moto_server
from devkit.pulumi_cli import ROOT, CliResult
from devkit.scenarios import create_group, default_image, group_instances

CLOCK_START = datetime(2026, 11, 1, 23, 55, tzinfo=UTC)  # past: runs in the future are refused
WORK_DIR = ROOT / ".pulumi-work" / "demo"  # the demo's own file backend and PULUMI_HOME
STACK_FILE = ROOT / "stacks" / "Pulumi.local.yaml"
# What the user sees that matters, per command (the rest of the CLI's output is elided).
SHOWN = ("(create)", "(update)", "(delete)", "schedule_description", "schedule_expression",
         "Resources:", " to create", " to update", " to delete", " created", " updated",
         " deleted", " unchanged", "has a problem", "Duration:", "error:", "warning:")


def say(message: str = "") -> None:
    print(message, flush=True)


def step(title: str) -> None:
    say(f"\n== {title}")


class Cli:
    """The plain `pulumi` CLI in this repository, as a user types it, against the local AWS."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def __call__(self, *args: str, shown: Iterable[str] = SHOWN) -> CliResult:
        """Run `pulumi ARGS`, echo the command and the lines of its output that matter."""
        say(f"$ pulumi {' '.join(args)}")
        done = pulumi_cli.pulumi(args, cwd=ROOT, work_dir=WORK_DIR, endpoint=self.endpoint)
        for line in important_lines(done.text, tuple(shown)):
            say(f"  {line}")
        if done.code:
            say(f"  (exit code {done.code})")
        return done

    def ok(self, *args: str, shown: Iterable[str] = SHOWN) -> CliResult:
        done = self(*args, shown=shown)
        if done.code:
            raise SystemExit(f"pulumi {' '.join(args)} failed:\n{done.text[-3000:]}")
        return done


def important_lines(text: str, shown: tuple[str, ...]) -> list[str]:
    """The lines a user looks for in a command's output, once each, in order."""
    picked: list[str] = []
    for line in (ln.rstrip() for ln in text.splitlines()):
        if line.strip() and any(key in line for key in shown) and line not in picked:
            picked.append(line)
    return picked


def local_backups() -> list[dict[str, Any]]:
    return list(yaml.safe_load(STACK_FILE.read_text())["config"]["amibackup:backups"])


def play_schedule(clients: Clients, backup_id: str, template_id: str, ticks: int,
                  start: datetime = CLOCK_START) -> tuple[datetime, list[dict[str, Any]]]:
    """Play `ticks` scheduled runs (devkit.scenarios) and print a timeline; return the last
    run's time and each run's summary."""
    schedule = scenarios.schedule_of(clients, backup_id)
    ec2 = clients("ec2")
    say(f"schedule {schedule['ScheduleExpression']} ({schedule['State']}), "
        f"playing {ticks} tick(s) after {start:%Y-%m-%d %H:%M} UTC")
    last, summaries = start, []
    for at, summary in scenarios.play_schedule(clients, backup_id, ticks, start):
        kept = len(backup_images(ec2, backup_id))
        say("  " + " | ".join(timeline(at, summary, kept, default_image(ec2, template_id))))
        last = at
        summaries.append(summary)
    return last, summaries


def timeline(at: datetime, summary: dict[str, Any], kept: int, launches: str) -> list[str]:
    """One run, in words: what it created or why not, promoted, pruned; what is kept."""
    parts = [f"{at:%a %H:%M}"]
    parts.append(f"created {summary['created']}" if summary["created"] else "created nothing")
    if summary["skipped"]:
        parts.append(f"skipped: {'; '.join(summary['skipped'])}")
    if summary["promoted"]:
        parts.append(f"template v{summary['template_version']} -> {summary['promoted']}")
    if summary["pruned"]:
        parts.append(f"pruned {', '.join(summary['pruned'])} "
                     f"(+{len(summary['deleted_snapshots'])} snapshot)")
    parts.append(f"{kept} kept; launches {launches}")
    return parts


def launch_settings(ec2: Any, template_id: str) -> dict[str, Any]:
    """What the default version launches besides the image: IMDS, user data, instance tags."""
    data = ec2.describe_launch_template_versions(
        LaunchTemplateId=template_id, Versions=["$Default"])["LaunchTemplateVersions"][0][
        "LaunchTemplateData"]
    metadata = {k: data.get("MetadataOptions", {}).get(k)
                for k in ("HttpTokens", "HttpEndpoint", "HttpPutResponseHopLimit")}
    tags = {t["Key"]: t["Value"] for spec in data.get("TagSpecifications", [])
            if spec.get("ResourceType") == "instance" for t in spec.get("Tags", [])}
    user_data = base64.b64decode(data.get("UserData", "")).decode(errors="replace")
    return {"metadata": metadata, "user_data": user_data, "instance_tags": tags}


def show_settings_survive(clients: Clients, seeded: scenarios.DemoGroup) -> bool:
    """Print the default version's settings next to the seeded ones; whether they match."""
    ec2 = clients("ec2")
    versions = ec2.describe_launch_templates(LaunchTemplateIds=[seeded.template_id])[
        "LaunchTemplates"][0]
    now = launch_settings(ec2, seeded.template_id)
    seeded_data = scenarios.template_data(seeded.base_image, seeded.group_name)
    expected = {"metadata": {k: seeded_data["MetadataOptions"][k]
                             for k in ("HttpTokens", "HttpEndpoint", "HttpPutResponseHopLimit")},
                "user_data": base64.b64decode(seeded_data["UserData"]).decode(),
                "instance_tags": {t["Key"]: t["Value"]
                                  for t in seeded_data["TagSpecifications"][0]["Tags"]}}
    say(f"default version v{versions['DefaultVersionNumber']} "
        f"(of {versions['LatestVersionNumber']}) launches {default_image(ec2, seeded.template_id)}")
    say(f"  metadata options: {json.dumps(now['metadata'])}")
    say(f"  user data: {now['user_data'].strip()!r}")
    say(f"  instance tags: {json.dumps(now['instance_tags'])}")
    same = now == expected
    say("the IMDSv2 settings, user data and tags survived every promotion: "
        f"{'yes' if same else 'NO, they differ from the seeded template'}")
    return same


def spot_interruption(clients: Clients, group: str, backup_id: str) -> None:
    newest = max(backup_images(clients("ec2"), backup_id), key=lambda i: i.order).image_id
    victim, replacement = scenarios.interrupt_instance(clients, group)
    say(f"interrupting {victim['InstanceId']} (running {victim['ImageId']})")
    mark = "= newest backup" if replacement["ImageId"] == newest else "!= newest backup"
    say(f"replacement {replacement['InstanceId']} launched from {replacement['ImageId']} "
        f"{mark}")


def roll_back_to_older(clients: Clients, backup_id: str, template_id: str) -> str | None:
    """An operator makes the oldest kept backup the default again (the template version that
    launched it), without pausing the backup; return that image (None: only one is kept)."""
    ec2 = clients("ec2")
    launches = default_image(ec2, template_id)
    older = [i for i in backup_images(ec2, backup_id) if i.image_id != launches]
    if not older:
        say("only one backup is kept so far: no older one to roll back to (play more ticks)")
        return None
    oldest = min(older, key=lambda i: i.order).image_id
    versions = ec2.describe_launch_template_versions(
        LaunchTemplateId=template_id)["LaunchTemplateVersions"]
    version = max(v["VersionNumber"] for v in versions
                  if v["LaunchTemplateData"].get("ImageId") == oldest)
    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version))
    say(f"operator made the older backup {oldest} the default again (template v{version}), "
        "without pausing")
    return oldest


def rollback_outcome(clients: Clients, template_id: str, image: str) -> bool:
    """Say plainly whether the tick kept the operator's rollback; whether it did."""
    ec2 = clients("ec2")
    launches = default_image(ec2, template_id)
    exists = image_exists(ec2, image)
    if launches == image and exists:
        say(f"rollback kept: the template still launches {image}, and it still exists")
        return True
    say(f"ROLLBACK NOT KEPT (issue 10 item 1, fixed by helper 'intent'): the tick made the "
        f"template launch {launches}; {image} "
        f"{'still exists' if exists else 'was pruned (deregistered)'}")
    return False


def image_exists(ec2: Any, image: str) -> bool:
    """Whether the AMI is still registered (a filter: no error for a deregistered one)."""
    return bool(ec2.describe_images(Filters=[{"Name": "image-id", "Values": [image]}])["Images"])


def manual_change(clients: Clients, group: str, template_id: str) -> str:
    """An operator makes a hand-picked AMI the template's default, without pausing."""
    image, version = scenarios.hand_pick_ami(clients, group, template_id)
    say(f"operator made {image} the default (template v{version}) by hand")
    return image


def roll(clients: Clients, group: str) -> None:
    """Replace every instance, as an instance refresh would."""
    images = sorted({i["ImageId"] for i in scenarios.roll_group(clients, group)})
    say(f"rolled the group: instances now run {', '.join(images)}")


def image_state(ec2: Any, image: str) -> str:
    return str(ec2.describe_images(ImageIds=[image])["Images"][0]["State"])


def promoted_on_its_event(clients: Clients, backup_id: str, template_id: str,
                          last: datetime) -> datetime:
    """A slow image: the tick creates it and returns at once; when it becomes available, its
    EC2 AMI State Change event reaches the runner through the deployed rule, and the runner
    promotes it before the next tick. Returns that next tick's time."""
    ec2, events = clients("ec2"), clients("events")
    with local_ec2.images_pending() as hold:  # images stay `pending` until released
        last, _ = play_schedule(clients, backup_id, template_id, 1, start=last)
    (image,) = hold.image_ids
    say(f"the run returned at once: {image} is {image_state(ec2, image)}; the template still "
        f"launches the previous backup {default_image(ec2, template_id)}")
    seen: list[dict[str, Any]] = []
    with deliver_ami_events(clients) as delivered:
        unsubscribe = local_ec2.on_ami_event(seen.append)
        local_ec2.release_images([image])
        unsubscribe()
    say(f"EC2 finishes it (in AWS, minutes later): {image} is {image_state(ec2, image)}, "
        "and EC2 emits "
        + json.dumps({k: seen[0][k] for k in ("source", "detail-type")}
                     | {"detail": {k: seen[0]["detail"][k] for k in ("ImageId", "State")}}))
    for function, summary in delivered.results:
        rules = events.list_rule_names_by_target(TargetArn=function)["RuleNames"]
        say(f"rule {', '.join(rules)} invoked {function.rsplit(':', 1)[-1]}: "
            f"promoted {summary['promoted']} (template v{summary['template_version']})"
            + (f", pruned {', '.join(summary['pruned'])}" if summary["pruned"] else ""))
    for function, error in delivered.errors:
        say(f"EVENT DELIVERY FAILED: {function}: {error}")
    say(f"before the next scheduled run the template launches {default_image(ec2, template_id)}")
    last, _ = play_schedule(clients, backup_id, template_id, 1, start=last)
    return last


def preview_stateful(pulumi: Cli, backups: list[dict[str, Any]]) -> None:
    """A proposed change makes the group stateful: `pulumi preview` refuses it, naming the
    field. The proposal is a copy of the stack file (`--config-file`), so the repo stays as
    it is."""
    config = yaml.safe_load(STACK_FILE.read_text())
    config["config"]["amibackup:backups"] = [
        {**backups[0], "persistence": {"root_volume": True}}]
    with tempfile.TemporaryDirectory() as folder:
        proposal = Path(folder) / "Pulumi.local.yaml"
        proposal.write_text(yaml.safe_dump(config))
        say("proposed: persistence {root_volume: true} for the group")
        done = pulumi("preview", "--diff", "--config-file", str(proposal),
                      shown=("has a problem",))
    say("preview refused it, as it should" if done.code else
        "UNEXPECTED: the preview of a stateful group succeeded")


def stack_output(pulumi: Cli, name: str) -> dict[str, Any]:
    """What the program exported under `name` (as of the last `pulumi up`)."""
    done = pulumi.ok("stack", "output", name, "--json", shown=())
    return dict(json.loads(done.stdout))


def refresh(pulumi: Cli, clients: Clients, name: str, backup_id: str) -> None:
    """`pulumi refresh` reads the backup's images into its state: show they match AWS."""
    pulumi.ok("refresh", "--yes")
    state = json.loads(pulumi.ok("stack", "export", shown=()).stdout)
    (outputs,) = [r.get("outputs", {}) for r in state["deployment"]["resources"]
                  if r["urn"].endswith(f"::{name}")]
    # In the order of the runs the backup's signed record names (tags are only labels).
    from amibackup.names import Names
    from amibackup.runner import record
    from amibackup.runner.cycle import recorded_images
    from amibackup.runner.seal import of_backup

    owned = record.read(clients("ssm"), Names(backup_id).record_parameter,
                        of_backup(clients("kms"), backup_id))
    newest = [i.image_id for i in sorted(recorded_images(clients("ec2"), owned),
                                         key=lambda i: i.order, reverse=True)]
    say(f"state after refresh: latest_image_id {outputs.get('latest_image_id')}, "
        f"image_ids {', '.join(outputs.get('image_ids') or [])}")
    say("the state matches the backup's images in AWS: "
        f"{'yes' if list(outputs.get('image_ids') or []) == newest else 'NO'}")


def run(ticks: int = 6) -> int:
    # The runner's JSON summary lines: the timeline says them in words (warnings still show).
    logging.getLogger("amibackup.runner").setLevel(logging.WARNING)
    shutil.rmtree(WORK_DIR, ignore_errors=True)  # the emulated AWS starts empty each time
    step("starting a moto server on 127.0.0.1 (the embedded default AWS, strict layers on)")
    with moto_server() as endpoint:
        scenarios.use_fake_credentials(endpoint)
        say(f"AWS_ENDPOINT_URL={endpoint}")
        clients = Clients("us-east-1")
        backups = local_backups()
        group = backups[0]["group_name"]
        seeded = create_group(clients, group, size=2)
        say(f"seeded group {group}: template {seeded.template_id} (IMDSv2, user data, tags), "
            f"base image {seeded.base_image}, {len(group_instances(clients, group))} instances")
        return scenes(Cli(endpoint), clients, backups, seeded, ticks)


def scenes(pulumi: Cli, clients: Clients, backups: list[dict[str, Any]],
           seeded: scenarios.DemoGroup, ticks: int) -> int:
    """Every scene, in order; the exit code: 0 when the template's settings survived, destroy
    left nothing and the group's image exists."""
    group, template_id = seeded.group_name, seeded.template_id
    step("the plain pulumi CLI (built from Go modules once, then cached) in this repository")
    say(f"engine: {pulumi_cli.engine_bin() / 'pulumi'}")
    pulumi.ok("stack", "select", "--create", "local", shown=("error:",))
    pulumi.ok("preview", "--diff")
    pulumi.ok("up", "--yes")
    outputs = stack_output(pulumi, backups[0]["name"])
    backup_id = outputs["backup_id"]
    say(f"backup {backup_id}: {outputs['schedule_description']}")

    step("playing the schedule (clock fast-forwarded)")
    last, _ = play_schedule(clients, backup_id, template_id, ticks)

    step("the template's settings after the promotions")
    settings_kept = show_settings_survive(clients, seeded)

    step("Spot interruption: the replacement launches from the newest backup")
    spot_interruption(clients, group, backup_id)

    step("rollback: the operator makes an older kept backup the default")
    older = roll_back_to_older(clients, backup_id, template_id)
    if older:
        last, _ = play_schedule(clients, backup_id, template_id, 1, start=last)
        rollback_outcome(clients, template_id, older)

    step("changing the AMI by hand is never silently overwritten")
    manual_change(clients, group, template_id)
    last, _ = play_schedule(clients, backup_id, template_id, 1, start=last)
    roll(clients, group)
    last, _ = play_schedule(clients, backup_id, template_id, 1, start=last)

    step("a slow image is promoted on its own event, between two scheduled runs")
    last = promoted_on_its_event(clients, backup_id, template_id, last)

    step("pulumi refresh: the outputs follow what the runs made")
    refresh(pulumi, clients, backups[0]["name"], backup_id)

    step("a stateful group is refused at plan time (pulumi preview)")
    preview_stateful(pulumi, backups)

    step("a $Latest group: promotions move $Latest, never the default")
    on_latest(clients, group, backup_id, template_id, last)

    step("pulumi destroy")
    left_clean = destroy(pulumi, clients, backup_id, template_id)
    return 0 if left_clean and settings_kept else 1


def which_the_group(clients: Clients, template_id: str) -> str:
    """What the demo group launches now: its template version and that version's image."""
    group = clients("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[local_backups()[0]["group_name"]])["AutoScalingGroups"][0]
    which = group["LaunchTemplate"]["Version"]
    return f"{which}, {launched(clients('ec2'), template_id, which)[1]}"


def launched(ec2: Any, template_id: str, which: str) -> tuple[int, str]:
    """The version number and image of the template's `$Default` or `$Latest`."""
    version = ec2.describe_launch_template_versions(
        LaunchTemplateId=template_id, Versions=[which])["LaunchTemplateVersions"][0]
    return int(version["VersionNumber"]), str(version["LaunchTemplateData"]["ImageId"])


def on_latest(clients: Clients, group: str, backup_id: str, template_id: str,
              last: datetime) -> None:
    """The operator moves the group to `$Latest`; the next tick promotes there only, so the
    default and the latest both launch backups when the backup is destroyed."""
    clients("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"})
    say(f"group {group} now launches $Latest")
    play_schedule(clients, backup_id, template_id, 1, start=last)
    ec2 = clients("ec2")
    ours = {i.image_id for i in backup_images(ec2, backup_id)}
    for which in ("$Latest", "$Default"):
        number, image = launched(ec2, template_id, which)
        say(f"{which}: version {number} launches {image} "
            f"({'a backup' if image in ours else 'not a backup'})")


def destroy(pulumi: Cli, clients: Clients, backup_id: str, template_id: str) -> bool:
    """`pulumi destroy`, then count what is left; whether nothing is and the group's image
    exists."""
    made_snapshots = scenarios.backup_snapshots(clients, backup_id)
    pulumi.ok("destroy", "--yes")
    left = scenarios.leftovers(clients, backup_id, made_snapshots)
    ec2 = clients("ec2")
    say(f"images of the backup left: {len(left.images)}; "
        f"their snapshots left: {len(left.snapshots)}")
    say(f"its schedules, functions and roles left: "
        f"{len(left.schedules) + len(left.functions) + len(left.roles)}")
    exists = True
    for which in ("$Latest", "$Default"):  # teardown restores what any group may launch
        number, image = launched(ec2, template_id, which)
        live = image_exists(ec2, image)
        exists = exists and live
        say(f"{which}: version {number} launches {image} (exists: {live})")
    say(f"the group launches {which_the_group(clients, template_id)} (exists: {exists})")
    say("stopping the moto server")
    return left == scenarios.Leftovers() and exists


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.demo", description=__doc__)
    parser.add_argument("--ticks", type=int, default=6, help="scheduled runs to play")
    return run(ticks=parser.parse_args(argv).ticks)


if __name__ == "__main__":
    sys.exit(main())

