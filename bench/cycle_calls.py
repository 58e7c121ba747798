"""AWS API calls of ONE steady-state runner cycle, by group size and images in the account.

Steady state: the backup already holds `retention` images, so the measured cycle makes
one image, promotes it and prunes one. As in AWS, the image is `pending` when the scheduled
run returns (the strict local AWS holds it); its `EC2 AMI State Change` event then invokes
the runner, which promotes and prunes: a cycle is the run plus its event, counted apart.
Calls are counted with botocore's `before-call.<service>.<Operation>` event (one per API
call; retries are not extra calls) on the session the cycle's clients are made from.
moto runs in-process (`mock_aws`). Wall times are moto's, not AWS's: shown only as a
sanity check, not a goal.

    python bench/cycle_calls.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from _common import ensure_paths, fake_aws_env, fmt, stats, table, write_result

ensure_paths()

import boto3
from moto import mock_aws

from amibackup.names import Names
from amibackup.runner import plan, record
from amibackup.runner.clients import Clients
from amibackup.runner.cycle import Job, backup_images, run_cycle
from amibackup.runner.handler import handle
from amibackup.runner.seal import of_backup
from devkit.localaws.ec2 import images_pending, on_ami_event, release_images
from devkit.localaws.layers import install_layers
from devkit.scenarios import T0, create_group, hourly_job, signing_key

NAME = "cycle_calls"
GOAL = "constant across group sizes and image counts, at most 16 calls per cycle"
REGION = "us-east-1"
BACKUP = "bench-backup"
RETENTION = 3
MEASURED = 3  # steady-state cycles measured per scenario


class CallCounter:
    """Counts `before-call.<service>.<Operation>` events."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.calls[f"{service}.{operation}"] += 1


def counted_clients() -> tuple[Clients, CallCounter]:
    """Fresh clients on a fresh session whose events feed a counter (moto state is global)."""
    counter = CallCounter()
    session = boto3.session.Session(region_name=REGION)
    session.events.register("before-call.*.*", counter)
    return Clients(REGION, session=session), counter


DEPLOYED: dict[str, str] = {}  # the group's template, as provisioning puts it in the job


def job(n: int, retention: int) -> Job:
    """The job as deployed: with the group's template (the run reads its claim)."""
    return hourly_job(n, "web", BACKUP, retention, template_id=DEPLOYED.get("template_id"))


def cycle(clients: Clients, n: int, retention: int = RETENTION) -> Any:
    return run_cycle(job(n, retention), clients, now=T0 + timedelta(hours=n, seconds=5))


def event_cycle(n: int, retention: int) -> tuple[Any, Any, CallCounter, CallCounter]:
    """The scheduled run (its image held `pending`), then the image's event handled as the
    deployed function would; both summaries and their call counters."""
    run_clients, run_counter = counted_clients()
    event_clients, event_counter = counted_clients()
    for clients in (run_clients, event_clients):
        for service in ("ssm", "ec2", "autoscaling"):  # make clients (no call) untimed
            clients(service)
    with images_pending() as hold:
        run = cycle(run_clients, n, retention)
    events: list[dict[str, Any]] = []
    unsubscribe = on_ami_event(events.append)
    try:
        release_images(hold.image_ids)
    finally:
        unsubscribe()
    (event,) = events
    now = T0 + timedelta(hours=n, minutes=10)
    promoted = handle(event, job(n, retention), event_clients, None, now)
    return run, promoted, run_counter, event_counter


def seed_images(ec2: Any, count: int, base_image: str, backup: str | None) -> dict[str, str]:
    """`count` self-owned AMIs (one snapshot each), of another backup/none, or of `backup`;
    the ones of `backup`, by id, with their run keys (for its record)."""
    made: dict[str, str] = {}
    boot = ec2.run_instances(ImageId=base_image, MinCount=1, MaxCount=1,
                             InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    for k in range(count):
        if backup is None:  # not ours: half untagged, half another backup's
            tags = [{"Key": plan.TAG_BACKUP, "Value": "someone-else"}] if k % 2 else []
            name = f"other-{k}"
        else:  # ours, older than any run the benchmark plays (run keys order them)
            key = plan.run_key(T0 - timedelta(hours=count - k))
            tags = [{"Key": plan.TAG_BACKUP, "Value": backup}, {"Key": plan.TAG_RUN, "Value": key},
                    {"Key": plan.TAG_SOURCE_IMAGE, "Value": base_image}]
            name = plan.image_name(backup, key)
        spec = [{"ResourceType": "image", "Tags": tags}] if tags else []
        image = ec2.create_image(InstanceId=boot, Name=name, NoReboot=True,
                                 TagSpecifications=spec)["ImageId"]
        if backup is not None:
            made[image] = key
    ec2.terminate_instances(InstanceIds=[boot])
    return made


def scenario(size: int, others: int, ours: int = 0, retention: int = RETENTION
             ) -> dict[str, Any]:
    """Seed moto, reach steady state, count the calls of MEASURED further cycles."""
    with mock_aws():
        setup = Clients(REGION)
        group = create_group(setup, "web", size=size)
        DEPLOYED["template_id"] = group.template_id
        signing_key(setup, BACKUP)  # the record's KMS HMAC key, as deploying it makes one
        seed_images(setup("ec2"), others, group.base_image, None)
        if ours:
            owned = seed_images(setup("ec2"), ours, group.base_image, BACKUP)
            record.write(setup("ssm"), Names(BACKUP).record_parameter,
                         record.Record(images=owned),  # the backup made them
                         of_backup(setup("kms"), BACKUP))
            warm = 0
        else:
            warm = retention  # `retention` cycles fill the backup: the next one prunes one
            for n in range(warm):
                cycle(setup, n, retention)
        held = len(backup_images(setup("ec2"), BACKUP))
        runs = []
        for n in range(warm, warm + MEASURED):
            start = time.perf_counter()
            run, event, run_counter, event_counter = event_cycle(n, retention)
            elapsed = time.perf_counter() - start
            both = run_counter.calls + event_counter.calls
            runs.append({"calls": sum(both.values()), "by_op": dict(both),
                         "run_calls": sum(run_counter.calls.values()),
                         "event_calls": sum(event_counter.calls.values()),
                         "run_by_op": dict(run_counter.calls),
                         "event_by_op": dict(event_counter.calls),
                         "seconds": elapsed, "created": bool(run.created),
                         "promoted": event.promoted == run.created,
                         "pruned": len(run.pruned) + len(event.pruned),
                         "skipped": run.skipped + event.skipped,
                         "warnings": run.warnings + event.warnings})
    totals = [r["calls"] for r in runs]
    return {"group_size": size, "other_images": others, "backup_images_before": held,
            "retention": retention, "calls": stats([float(t) for t in totals], 1),
            "calls_per_run": totals, "pruned_per_run": [r["pruned"] for r in runs],
            "run_calls": [r["run_calls"] for r in runs],
            "event_calls": [r["event_calls"] for r in runs],
            "promoted_by_event": [r["promoted"] for r in runs],
            "run_by_op": runs[0]["run_by_op"], "event_by_op": runs[0]["event_by_op"],
            "by_op": runs[0]["by_op"], "by_op_identical": all(
                r["by_op"] == runs[0]["by_op"] for r in runs),
            "seconds": stats([r["seconds"] for r in runs]),
            "notes": sorted({s for r in runs for s in r["skipped"] + r["warnings"]})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10/100 instances, 3/50 images")
    args = parser.parse_args()
    fake_aws_env()
    install_layers()  # the strict local AWS, as in the tests (CreateImage tags snapshots)
    logging.getLogger("amibackup").setLevel(logging.WARNING)
    sizes = [10, 100] if args.quick else [10, 100, 500]
    image_counts = [3, 50] if args.quick else [3, 50, 500]

    matrix = []
    for size in sizes:
        for others in image_counts:
            matrix.append(scenario(size, others))
            print(f"  group {size:>3}, {others:>3} other images: "
                  f"{matrix[-1]['calls_per_run']} calls", flush=True)
    ours = 50 if args.quick else 100  # the largest retention; the record holds up to 8 KB
    own = [scenario(10, 3, ours=ours, retention=ours),  # steady state at a large retention
           scenario(10, 3, ours=ours, retention=RETENTION)]  # catch-up after lowering retention
    for row in own:
        print(f"  group 10, {ours} images of this backup, retention {row['retention']}: "
              f"{row['calls_per_run']} calls", flush=True)

    ops = sorted({op for r in matrix + own for op in r["by_op"]})
    print("\nCalls of one steady-state cycle "
          "(3 cycles each; moto in-process time per cycle, median [min-max])")
    print(table(["group", "other AMIs", "backup AMIs", "retention", "calls/cycle",
                 "run + event", "pruned/cycle", "moto ms/cycle"],
                [[r["group_size"], r["other_images"], r["backup_images_before"], r["retention"],
                  "/".join(map(str, r["calls_per_run"])),
                  "/".join(f"{a}+{b}" for a, b in zip(r["run_calls"], r["event_calls"],
                                                        strict=True)),
                  "/".join(map(str, r["pruned_per_run"])), fmt(r["seconds"], "", 1000, 0)]
                 for r in matrix + own]))
    base = matrix[0]["by_op"]
    print("\nPer-operation breakdown (first measured cycle; identical in every matrix row: "
          f"{all(r['by_op'] == base for r in matrix)})")
    run_ops, event_ops = matrix[0]["run_by_op"], matrix[0]["event_by_op"]
    print(table(["operation", "matrix rows", "(run", "+ event)",
                 *(f"{r['backup_images_before']} ours, ret {r['retention']}" for r in own)],
                [[op, base.get(op, 0), run_ops.get(op, 0), event_ops.get(op, 0),
                  *(r["by_op"].get(op, 0) for r in own)] for op in ops]))

    constant = len({tuple(sorted(r["by_op"].items())) for r in matrix}) == 1
    worst = max(max(r["calls_per_run"]) for r in matrix)
    lock_calls = 2 * 2  # PutParameter + DeleteParameter of the run lock, in each invocation
    record_calls = (base.get("ssm.PutParameter", 0) - 2 + base.get("ssm.GetParameter", 0)
                    + base.get("ssm.GetParameters", 0))
    rule_calls = base.get("eventbridge.PutRule", 0)
    met = constant and worst <= 16
    kms = {op: n for op, n in base.items() if op.startswith("kms.")}
    print(f"KMS calls per cycle (the signed record and lock, issue 15): {sum(kms.values())} "
          f"{kms}; at $0.03 per 10,000, hourly: ${sum(kms.values()) * 730 * 3e-6:.4f} a month "
          "plus $1 a month for the key")
    print(f"\nGoal: {GOAL}. Constant: {constant}; calls per cycle (run + event): {worst} "
          f"({worst - lock_calls - record_calls - rule_calls - sum(kms.values())} EC2/Auto "
          f"Scaling + {sum(kms.values())} KMS (signed lock and record) + {lock_calls} "
          f"for the two run locks + {record_calls} other SSM: template claim, record + "
          f"{rule_calls} PutRule of the backup's AMI rule). Met: {met}")
    write_result(NAME, GOAL, met, {
        "constant_across_matrix": constant, "max_calls_matrix": worst,
        "lock_calls": lock_calls, "other_ssm_calls": record_calls, "rule_calls": rule_calls,
        "kms_calls": sum(kms.values()), "kms_by_op": kms,
        "matrix": matrix, "own_images": own})


if __name__ == "__main__":
    main()
