"""Check + Diff through gRPC, as the engine drives a preview, for 200 distinct resources.

Uses tests/support/harness.py: a `python -m pulumi.dynamic` provider process and a gRPC client.
Each pass starts a fresh provider process, warms it with 20 other resources (imports), then
times Check then Diff for 200 distinct input sets against plausible olds (a created
resource's outputs; about a third unchanged, a third updated in place, a third replaced).
Per-resource time = Check + Diff round trips, including the harness's (client-side)
property serialization, which is reported separately.

AWS is a moto server in this process holding the 200 groups (each with its launch
template), so the Diff of an unchanged backup really looks the group's template up (issue
10), as a preview does. The baseline is a no-op dynamic provider (devkit/noop_provider.py:
Check returns the inputs, Diff sees no change) through the same harness, its passes
interleaved with amibackup's in the same run: amibackup's cost is reported as a ratio.

    python bench/check_diff_grpc.py [--resources 200] [--passes 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _common import ensure_paths, fake_aws_env, fmt, stats, table, write_result

ensure_paths()

from amibackup import spec
from amibackup.provision.package import code_sha256
from devkit.localaws.layers import install_layers
from devkit.localaws.server import FAKE_CREDENTIALS, moto_server
from devkit.noop_provider import NoopProvider
from tests.support.harness import ProviderClient, from_struct, provider_process, to_struct

NAME = "check_diff_grpc"
GOAL = "Check + Diff through gRPC at most 3x a no-op dynamic provider's, per resource"
RATIO_GOAL = 3.0
FREQUENCIES = ("hourly", "daily", "weekly", "continuous", "custom")
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney")


def inputs(i: int) -> dict[str, Any]:
    frequency = FREQUENCIES[i % len(FREQUENCIES)]
    props: dict[str, Any] = {
        "backup_name": f"web-{i}", "group_name": f"web-{i}", "frequency": frequency,
        "timezone": ZONES[(i // 5) % len(ZONES)], "retention": float(i % 10 + 1),
        "no_reboot": i % 3 != 0, "paused": i % 7 == 0,
        "tags": {"team": f"team-{i % 13}", "env": "prod" if i % 2 else "staging"},
    }
    if frequency == "custom":  # distinct crons: no cache of schedule resolution helps
        props["cron"] = f"{i % 60} {(i // 5) % 24} * * 1-5"
    if i % 4 == 1:
        props["persistence"] = {"private_ip": True}
    return props


def olds_for(i: int, news_inputs: dict[str, Any], templates: dict[str, str] | None = None
             ) -> dict[str, Any]:
    """The outputs a created resource would hold, for inputs equal or close to the news."""
    old = dict(news_inputs)
    if i % 3 == 1:
        old["retention"] = float(int(old["retention"]) % 10 + 1)  # update in place
    elif i % 3 == 2:
        old["group_name"] = f"old-web-{i}"  # replace
    backup_id = f"web-{i}-{i:08x}"
    return {**spec.normalise(old), "backup_id": backup_id, "resolved_region": "us-east-1",
            "schedule_name": f"amibackup-{backup_id}",
            "schedule_arn": f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/"
                            f"amibackup-{backup_id}",
            "schedule_state": "DISABLED" if old["paused"] else "ENABLED",
            "function_name": f"amibackup-{backup_id}",
            "function_arn": f"arn:aws:lambda:us-east-1:123456789012:function:amibackup-{backup_id}",
            "role_arn": f"arn:aws:iam::123456789012:role/amibackup-{backup_id}-run",
            "scheduler_role_arn": f"arn:aws:iam::123456789012:role/amibackup-{backup_id}-sch",
            "launch_template_id": (templates or {}).get(f"web-{i}", f"lt-{i:017x}"),
            "recorded_version": 1,
            "code_sha256": code_sha256(),
            "image_ids": [f"ami-{i:08x}{k:09x}" for k in range(3)],
            "latest_image_id": f"ami-{i:08x}{0:09x}"}


def one(client: ProviderClient, i: int, old: dict[str, Any]) -> tuple[float, float, int]:
    start = time.perf_counter()
    news, failures = client.check(inputs(i), name=f"r{i}")
    mid = time.perf_counter()
    diff = client.diff(old["backup_id"], old, news, name=f"r{i}")
    end = time.perf_counter()
    assert not failures, failures
    return mid - start, end - mid, diff.changes


def serialization_cost(client: ProviderClient, cases: list[tuple[int, dict[str, Any]]]
                       ) -> float:
    """Client-side work of the harness per resource (structs in and out), without gRPC."""
    start = time.perf_counter()
    for i, old in cases:
        news = spec.normalise(inputs(i))
        from_struct(to_struct(client.with_provider(inputs(i))))
        to_struct(client.with_provider(old))
        to_struct(client.with_provider(news))
    return (time.perf_counter() - start) / len(cases)


def seed_groups(endpoint: str, count: int) -> dict[str, str]:
    """`count` groups web-0... each launching its own template; name -> template id."""
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=endpoint)
    asg = boto3.client("autoscaling", region_name="us-east-1", endpoint_url=endpoint)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    made = {}
    for i in range(count):
        template = ec2.create_launch_template(
            LaunchTemplateName=f"web-{i}", LaunchTemplateData={
                "ImageId": image, "InstanceType": "t3.micro"})["LaunchTemplate"]
        asg.create_auto_scaling_group(
            AutoScalingGroupName=f"web-{i}", MinSize=0, MaxSize=1, DesiredCapacity=0,
            AvailabilityZones=["us-east-1a"],
            LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"],
                            "Version": "$Default"})
        made[f"web-{i}"] = str(template["LaunchTemplateId"])
    return made


def run_pass(count: int, endpoint: str, templates: dict[str, str], provider: Any = None
             ) -> dict[str, Any]:
    env = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
    cases = [(i, olds_for(i, inputs(i), templates)) for i in range(count)]
    warm = [(i, olds_for(i, inputs(i))) for i in range(10_000, 10_020)]
    with provider_process(env, provider=provider) as client:
        for i, old in warm:
            one(client, i, old)
        start = time.perf_counter()
        timings = [one(client, i, old) for i, old in cases]
        total = time.perf_counter() - start
        serial = serialization_cost(client, cases)
    changes = [c for *_, c in timings]
    return {"per_resource_s": total / count,
            "check_median_s": statistics.median(t[0] for t in timings),
            "diff_median_s": statistics.median(t[1] for t in timings),
            "slowest_resource_s": max(t[0] + t[1] for t in timings),
            "client_serialization_s": serial,
            "diff_changes": {str(c): changes.count(c) for c in sorted(set(changes))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    fake_aws_env()
    install_layers()
    passes, baseline = [], []
    with moto_server() as endpoint:
        templates = seed_groups(endpoint, args.resources)
        for n in range(args.passes):
            baseline.append(run_pass(args.resources, endpoint, templates, NoopProvider()))
            passes.append(run_pass(args.resources, endpoint, templates))
            ratio = passes[-1]["per_resource_s"] / baseline[-1]["per_resource_s"]
            print(f"  pass {n + 1}: {passes[-1]['per_resource_s'] * 1000:.2f} ms/resource, "
                  f"no-op {baseline[-1]['per_resource_s'] * 1000:.2f} ms: {ratio:.2f}x",
                  flush=True)
    keys = ("per_resource_s", "check_median_s", "diff_median_s", "slowest_resource_s",
            "client_serialization_s")
    summary = {k: stats([p[k] for p in passes], 6) for k in keys}
    noop = {k: stats([p[k] for p in baseline], 6) for k in keys}
    ratios = stats([p["per_resource_s"] / b["per_resource_s"]
                    for p, b in zip(passes, baseline, strict=True)], 2)
    print(f"\nCheck + Diff over gRPC, {args.resources} resources (median [min-max] of "
          f"{args.passes} passes, ms)")
    print(table(["measure", "amibackup", "no-op provider"],
                [[k.removesuffix("_s"), fmt(summary[k], "", 1000, 2), fmt(noop[k], "", 1000, 2)]
                 for k in keys]))
    print(f"Diff results (1 = none, 2 = some): {passes[0]['diff_changes']}")
    met = ratios["median"] <= RATIO_GOAL
    print(f"\nRatio to the no-op provider (per pass): {fmt(ratios, 'x', 1, 2)}")
    print(f"Goal: {GOAL}. Met: {met}")
    write_result(NAME, GOAL, met, {"resources": args.resources, "passes": passes,
                                   "noop_passes": baseline, "summary": summary,
                                   "noop_summary": noop, "ratio": ratios})


if __name__ == "__main__":
    main()
