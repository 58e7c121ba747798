"""Issue 11: billed seconds of one run, and the lag from `available` to promotion,
waiting in the run (the previous design) versus promoting on the image's event (now).

Everything runs on the strict local AWS in this process (moto + devkit layers): the backup
is provisioned as `pulumi up` would (function, schedule, AMI event rule), runs are the
deployed function invoked as Lambda would (devkit/localaws/lambda_runtime.py), images stay
`pending` until released (devkit/localaws/ec2.py) and a release emits the `EC2 AMI State
Change` event, delivered to the rule's target.

1. Billed seconds, image taking IMAGE_SECONDS (10 min), measured in one run, interleaved:
   - before: the run creates the image, then waits as commit 3347498 did (the
     `image_available` waiter, Delay 15 s, MaxAttempts bounded by the remaining time of a
     900 s invocation, minus 30 s), then promotes and prunes. The waiter's sleeps run on a
     fake clock that releases the image at IMAGE_SECONDS; its polls are real calls.
     Billed = run + modelled wait + real polls + the promotion (measured as the same
     promote-and-prune cycle the event invocation runs; it re-reads the record, a few ms
     more than the old inline promotion).
   - after: the run (returns at once) + the event's invocation (promote, prune).
2. Lag from `available` to the template launching the image, per frequency:
   - after: the event invocation's time (EventBridge's delivery delay is not modelled).
   - before: an image the run could not wait for (slower than the invocation,
     SLOW_IMAGE_SECONDS) is promoted by the next scheduled run: next run - available + that
     run's time; measured by playing the schedule with the event dropped. A 10-min image
     was caught by the waiter's next poll (at most 15 s), paid for in billed seconds (1).

moto's call times are not AWS's (an EC2 call there takes tens of ms): call counts are given
so the figures can be scaled.

    python bench/event_promotion.py [--reps N]
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from _common import ensure_paths, fake_aws_env, fmt, stats, table, write_result

ensure_paths()

import botocore.waiter
from moto import mock_aws

from amibackup.names import Names
from amibackup.provision import backup
from amibackup.runner.clients import Clients
from amibackup.schema import BackupSpec
from amibackup.spec import normalise
from devkit.localaws import lambda_runtime
from devkit.localaws.ec2 import images_pending, release_images
from devkit.localaws.layers import install_layers
from devkit.scenarios import T0, create_group, default_image, fire_schedule, scheduled_times

NAME = "event_promotion"
GOAL = ("a 10-minute image bills seconds, not ~600 s; promotion within one invocation of "
        "`available` for hourly, daily and weekly, not up to one period")
REGION = "us-east-1"
IMAGE_SECONDS = 600.0  # the image: 10 minutes from CreateImage to available
SLOW_IMAGE_SECONDS = 1200.0  # an image the old run could not wait for (> 900 - 30 s)
LAMBDA_TIMEOUT = 900.0  # the deployed function's timeout (provision/lambda_fn.py TIMEOUT)
OLD_DELAY = 15  # the old waiter's poll interval (3347498 Job.wait_delay)
MEMORY_GB = 0.25  # the deployed function's MemorySize, 256 MB
RETENTION = 3


def deploy(clients: Clients, frequency: str = "hourly") -> str:
    """The backup of group "web" as provisioning creates it; its backup id."""
    spec = BackupSpec.from_props(normalise({"backup_name": "bench-backup", "group_name": "web",
                                            "frequency": frequency,
                                            "retention": RETENTION}))
    return str(backup.create(clients, spec)["backup_id"])


@contextmanager
def timed_invocations() -> Iterator[list[tuple[float, dict[str, Any]]]]:
    """Wall seconds and result of each invocation the event delivery makes."""
    made: list[tuple[float, dict[str, Any]]] = []
    plain = lambda_runtime.invoke

    def timed(lam: Any, function: str, event: Any, at: datetime | None = None) -> Any:
        start = time.perf_counter()
        result = plain(lam, function, event, at=at)
        made.append((time.perf_counter() - start, result))
        return result
    with mock.patch.object(lambda_runtime, "invoke", timed):
        yield made


def timed_run(clients: Clients, backup_id: str, at: datetime) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    summary = fire_schedule(clients, backup_id, at)
    return time.perf_counter() - start, summary


def after_once(clients: Clients, backup_id: str, at: datetime) -> dict[str, Any]:
    """Now: the run returns with the image pending; its event's invocation promotes it."""
    with images_pending() as hold:
        run_s, run = timed_run(clients, backup_id, at)
    assert run["created"] and run["promoted"] is None, run
    with lambda_runtime.deliver_ami_events(clients) as delivered, \
            timed_invocations() as invocations:
        release_images(hold.image_ids)  # available: EC2 emits the event
    assert not delivered.errors, delivered.errors
    [(event_s, event)] = invocations
    assert event["promoted"] == run["created"], event
    return {"run_s": run_s, "event_s": event_s, "billed_s": run_s + event_s,
            "pruned": len(event["pruned"])}


def before_once(clients: Clients, backup_id: str, at: datetime) -> dict[str, Any]:
    """The previous design: the run waits (waiter, fake clock) for the image, then promotes."""
    with images_pending() as hold:
        run_s, run = timed_run(clients, backup_id, at)
    fake = {"slept": 0.0, "polls": 0}

    def fake_sleep(seconds: float) -> None:
        fake["slept"] += seconds
        if fake["slept"] >= IMAGE_SECONDS:
            release_images(hold.image_ids)  # nobody listens: the old design had no rule
    ec2 = clients("ec2")
    ec2.meta.events.register("before-call.ec2.DescribeImages",
                             lambda **_: fake.__setitem__("polls", fake["polls"] + 1))
    attempts = int((LAMBDA_TIMEOUT - run_s - 30) // OLD_DELAY)
    start = time.perf_counter()
    with mock.patch.object(botocore.waiter.time, "sleep", fake_sleep):
        ec2.get_waiter("image_available").wait(
            ImageIds=hold.image_ids, WaiterConfig={"Delay": OLD_DELAY, "MaxAttempts": attempts})
    polls_s = time.perf_counter() - start
    # The promotion and pruning the old run did after its wait: the same cycle, measured.
    function = Names(backup_id).function
    event = {"version": "0", "id": "bench", "detail-type": "EC2 AMI State Change",
             "source": "aws.ec2", "account": "123456789012", "time": "", "region": REGION,
             "resources": [], "detail": {"ImageId": run["created"], "State": "available",
                                         "RequestId": "", "ErrorReason": ""}}
    start = time.perf_counter()
    promoted = lambda_runtime.invoke(clients("lambda"), function, event)
    promote_s = time.perf_counter() - start
    assert promoted["promoted"] == run["created"], promoted
    return {"run_s": run_s, "wait_modelled_s": fake["slept"], "polls": fake["polls"],
            "polls_s": polls_s, "promote_s": promote_s,
            "billed_s": run_s + fake["slept"] + polls_s + promote_s,
            "lag_after_available_s": fake["slept"] - IMAGE_SECONDS + polls_s / fake["polls"]
            + promote_s}


def billed(reps: int) -> dict[str, Any]:
    """Figure 1: both designs on one hourly backup, interleaved, after `retention` runs."""
    with mock_aws():
        clients = Clients(REGION)
        create_group(clients, "web", size=2)
        backup_id = deploy(clients)
        times = scheduled_times(clients, backup_id, RETENTION + 2 * reps)
        for at in times[:RETENTION]:  # steady state: each measured run prunes one
            fire_schedule(clients, backup_id, at)
        samples: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for k, at in enumerate(times[RETENTION:]):
            which = ("before", "after")[k % 2] if (k // 2) % 2 == 0 else \
                ("after", "before")[k % 2]  # alternate which goes first
            method = before_once if which == "before" else after_once
            samples[which].append(method(clients, backup_id, at))
    return samples


def lag(frequency: str) -> dict[str, Any]:
    """Figure 2 for one frequency: after (event) and before (next run) on the same backup."""
    with mock_aws():
        clients = Clients(REGION)
        group = create_group(clients, "web", size=2)
        backup_id = deploy(clients, frequency)
        # A month back: the handler refuses a run named after a time still to come.
        times = scheduled_times(clients, backup_id, 4, start=T0 - timedelta(days=60))
        period = (times[1] - times[0]).total_seconds()
        fire_schedule(clients, backup_id, times[0])
        after = after_once(clients, backup_id, times[1])
        with images_pending() as hold:  # slower than the invocation: the event is lost
            timed_run(clients, backup_id, times[2])
        release_images(hold.image_ids)
        available_at = times[2] + timedelta(seconds=SLOW_IMAGE_SECONDS)
        with images_pending():  # the next run's own image is pending too
            next_s, next_run = timed_run(clients, backup_id, times[3])
        assert next_run["promoted"] == hold.image_ids[0], next_run
        assert default_image(clients("ec2"), group.template_id) == hold.image_ids[0]
        before = (times[3] - available_at).total_seconds() + next_s
    return {"frequency": frequency, "period_s": period, "after_s": after["event_s"],
            "before_s": before, "before_period_fraction": before / period}


def hms(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    return (f"{days}d " if days else "") + time.strftime("%H:%M:%S", time.gmtime(rest))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="runs per design (figure 1)")
    args = parser.parse_args()
    fake_aws_env()
    install_layers()
    # The handler sets its logger to INFO per invocation; a filter keeps the summaries out.
    logging.getLogger("amibackup").addFilter(lambda record: record.levelno >= logging.WARNING)

    samples = billed(args.reps)
    one = {w: {k: stats([s[k] for s in samples[w]]) for k in samples[w][0]} for w in samples}
    ratio = stats([b["billed_s"] / a["billed_s"]
                   for b, a in zip(samples["before"], samples["after"], strict=True)], 1)
    print(f"\n1. Billed seconds of one run, {IMAGE_SECONDS:.0f} s image "
          f"({args.reps} runs each, median [min-max])")
    print(table(["design", "run", "wait (modelled)", "waiter polls", "promotion",
                 "billed s", "GB-s (256 MB)"],
                [["before: wait in the run", fmt(one["before"]["run_s"], " s", 1, 3),
                  fmt(one["before"]["wait_modelled_s"], " s", 1, 0),
                  f"{one['before']['polls']['median']:.0f} calls, "
                  + fmt(one["before"]["polls_s"], " s", 1, 3),
                  fmt(one["before"]["promote_s"], " s", 1, 3),
                  fmt(one["before"]["billed_s"], "", 1, 1),
                  f"{one['before']['billed_s']['median'] * MEMORY_GB:.1f}"],
                 ["after: run + event", fmt(one["after"]["run_s"], " s", 1, 3), "0", "0",
                  fmt(one["after"]["event_s"], " s", 1, 3),
                  fmt(one["after"]["billed_s"], "", 1, 3),
                  f"{one['after']['billed_s']['median'] * MEMORY_GB:.3f}"]]))
    print(f"before/after: {fmt(ratio, 'x', 1, 0)}")

    lags = [lag(f) for f in ("hourly", "daily", "weekly")]
    print(f"\n2. From `available` to the template launching the image (before: an image of "
          f"{SLOW_IMAGE_SECONDS / 60:.0f} min, promoted by the next run)")
    print(table(["frequency", "period", "before: next run", "of a period",
                 "after: event invocation"],
                [[r["frequency"], hms(r["period_s"]), hms(r["before_s"]),
                  f"{r['before_period_fraction']:.2f}", f"{r['after_s'] * 1000:.0f} ms"]
                 for r in lags]))
    lag10 = one["before"]["lag_after_available_s"]
    print(f"(before, a {IMAGE_SECONDS / 60:.0f}-min image: the waiter's next poll, "
          f"{fmt(lag10, ' s', 1, 2)}, at most {OLD_DELAY} s, paid for by figure 1)")

    met = (one["after"]["billed_s"]["max"] < 60
           and all(r["after_s"] < 60 for r in lags))
    print(f"\nGoal: {GOAL}. Met: {met}")
    write_result(NAME, GOAL, met, {
        "image_seconds": IMAGE_SECONDS, "slow_image_seconds": SLOW_IMAGE_SECONDS,
        "lambda_timeout": LAMBDA_TIMEOUT, "old_wait_delay": OLD_DELAY,
        "billed": one, "billed_ratio": ratio, "billed_samples": samples, "lag": lags})


if __name__ == "__main__":
    main()
