"""`amibackup`: the operator's command line. Same code as the Lambda runner."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from amibackup import __version__
from amibackup.schedule import PRESETS, ScheduleError, next_runs, resolve
from amibackup.schema import DEFAULT_RETENTION

# What an operator can fix (credentials, region, endpoint, AWS's refusal, a bad value):
# one line on stderr, never a traceback.
OPERATOR_ERRORS = (ClientError, NoCredentialsError, NoRegionError, EndpointConnectionError,
                   ValueError)


def _tags(pairs: Sequence[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--tag takes KEY=VALUE; got {pair!r}")
        tags[key] = value
    return tags


def scheduled_job(clients: Any, group: str) -> dict[str, Any]:
    """The job the group's deployed runner has (its function's configuration), so a manual
    run does exactly what the schedule's run does."""
    from amibackup.provision import lambda_fn, scheduler

    names = scheduler.backups_of_group(clients("scheduler"), clients("lambda"), group)
    if len(names) != 1:
        found = f"schedules {', '.join(names)}" if names else "no amibackup schedule"
        raise SystemExit(f"error: {found} for group {group!r} in {clients.region}; pass "
                         "--backup ID to choose (an ad-hoc backup id makes its own images)")
    target = scheduler.get_schedule(clients("scheduler"), names[0])["Target"]  # type: ignore[index]
    job = lambda_fn.job_of(clients("lambda"), target["Arn"]) or {}
    print(f"running the job of function {target['Arn'].split(':')[-1]} "
          f"(backup {job.get('backup_id')})", file=sys.stderr)
    return job


def cmd_run(args: argparse.Namespace) -> int:
    from amibackup.runner.clients import Clients
    from amibackup.runner.config import Job
    from amibackup.runner.cycle import run_cycle

    clients = Clients(args.region)
    if args.backup:
        config: dict[str, Any] = {"backup_id": args.backup, "group_name": args.group,
                                  "region": clients.region}
    else:
        config = scheduled_job(clients, args.group)
    overrides = {"retention": args.retention, "tags": _tags(args.tag) or None,
                 "no_reboot": False if args.reboot else None}
    config.update({k: v for k, v in overrides.items() if v is not None})
    # An ad-hoc backup (--backup) on a template another backup claims makes and prunes its
    # own images and leaves the template to that backup.
    summary = run_cycle(Job.from_config(config), clients, adhoc=bool(args.backup))
    print(json.dumps(summary.__dict__, indent=2, sort_keys=True))
    return 1 if summary.failed else 0


def cmd_list(args: argparse.Namespace) -> int:
    from amibackup import access, names
    from amibackup.runner.clients import Clients

    ec2 = Clients(args.region)("ec2")
    key, value = (names.TAG_BACKUP, args.backup) if args.backup else (names.TAG_GROUP, args.group)
    rows = [[image.created.isoformat()[:19], image.image_id, image.state,
             image.tags.get(names.TAG_BACKUP, ""), image.tags.get(names.TAG_SOURCE_INSTANCE, ""),
             ",".join(image.snapshot_ids)] for image in access.tagged_images(ec2, key, value)]
    rows.sort(reverse=True)
    print(_table(["created", "image", "state", "backup", "source instance", "snapshots"], rows))
    print(f"{len(rows)} image(s)")
    return 0


def cmd_next(args: argparse.Namespace) -> int:
    preset = args.expression in PRESETS
    try:
        schedule = resolve(args.expression if preset else "custom",
                           None if preset else args.expression, args.timezone)
        runs = next_runs(schedule.expression, args.count, schedule.timezone)
    except ScheduleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"expression:  {schedule.expression}")
    print(f"timezone:    {schedule.timezone}")
    print(f"description: {schedule.description}")
    for run in runs:
        print(f"  {run.isoformat()}")
    return 0


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amibackup", description=__doc__)
    p.add_argument("--version", action="version", version=f"amibackup {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one backup cycle now")
    run.add_argument("--group", required=True, help="Auto Scaling group name")
    run.add_argument("--backup", help="backup id for an ad-hoc backup; default: the job of "
                                      "the group's deployed runner (its backup_id)")
    run.add_argument("--retention", type=int, help="available images to keep (default: the "
                                                   f"runner's, else {DEFAULT_RETENTION})")
    run.add_argument("--reboot", action="store_true", help="reboot the instance for the image")
    run.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--region")
    run.set_defaults(func=cmd_run)

    lst = sub.add_parser("list", help="list the backup images of a group or backup")
    lst.add_argument("--group", required=True)
    lst.add_argument("--backup", help="only this backup id")
    lst.add_argument("--region")
    lst.set_defaults(func=cmd_list)

    nxt = sub.add_parser("next", help="show a schedule's next runs and description")
    nxt.add_argument("expression", help="continuous|hourly|daily|weekly, a 5-field cron, "
                                        "or an EventBridge cron(...)/rate(...)")
    nxt.add_argument("--timezone", default="UTC")
    nxt.add_argument("--count", type=int, default=5)
    nxt.set_defaults(func=cmd_next)

    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except OPERATOR_ERRORS as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 1


def _one_line(err: Exception) -> str:
    hint = {NoCredentialsError: " (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
            NoRegionError: " (pass --region or set AWS_REGION)"}.get(type(err), "")
    return " ".join(str(err).split()) + hint


if __name__ == "__main__":
    sys.exit(main())
