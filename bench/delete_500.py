"""Deleting 500 images of one backup: `teardown.delete_images` (parallel) vs a naive loop.

Against a moto server: each repetition resets it, makes 500 images of one backup (one
snapshot each) and times one method; the other method gets an identical fresh set in
the same repetition (order alternates). Two servers are measured:

* `inproc`: `devkit.localaws.server.moto_server()`, a ThreadedMotoServer in THIS
  process, so server and boto3 threads share one GIL;
* `subprocess`: `python -m moto.server` in its own process (own GIL), still one
  Python process serving every request;
* `latency`: the same, with every answer delayed by --latency-ms (default 30 ms; AWS
  answers these calls in tens to hundreds of ms) by bench/latency_server.py, so the
  benchmark sees what parallel teardown buys against a real API rather than only moto's
  CPU.

    python bench/delete_500.py [--images 500] [--reps 3]
                               [--server inproc|subprocess|latency|all] [--latency-ms 30]
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import ensure_paths, fake_aws_env, fmt, stats, table, write_result

ensure_paths()

from amibackup.provision import teardown
from amibackup.runner import plan
from amibackup.runner.clients import Clients
from amibackup.runner.cycle import backup_images
from devkit.localaws.server import moto_server, reset
from devkit.scenarios import EMULATOR_AMI, leftovers, stop_process

NAME = "delete_500"
GOAL = "teardown.delete_images at least 4x faster than a one-at-a-time loop (500 images)"


class PoolWarnings(logging.Handler):
    """Counts urllib3's "Connection pool is full, discarding connection" warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Connection pool is full" in record.getMessage():
            self.count += 1


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by process `pid` (None: this process)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def inproc_server() -> Iterator[tuple[str, int | None]]:
    with moto_server() as url:
        yield url, None


@contextmanager
def subprocess_server(latency_ms: float = 0) -> Iterator[tuple[str, int | None]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = ([sys.executable, str(Path(__file__).with_name("latency_server.py")), str(port),
                str(latency_ms)] if latency_ms else
               [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto server subprocess did not start")
        yield url, proc.pid
    finally:
        stop_process(proc)


def seed(ec2: Any, backup: str, count: int) -> list[plan.Image]:
    boot = ec2.run_instances(ImageId=EMULATOR_AMI, MinCount=1, MaxCount=1,
                             InstanceType="t3.micro")["Instances"][0]["InstanceId"]

    def make(k: int) -> None:
        tags = [{"Key": plan.TAG_BACKUP, "Value": backup},
                {"Key": plan.TAG_RUN, "Value": f"20260101T{k:04d}Z"}]
        ec2.create_image(InstanceId=boot, Name=f"amibackup-{backup}-{k}", NoReboot=True,
                         TagSpecifications=[{"ResourceType": "image", "Tags": tags}])

    with ThreadPoolExecutor(8) as pool:  # seeding is not timed
        list(pool.map(make, range(count)))
    images = backup_images(ec2, backup)
    assert len(images) == count and all(len(i.snapshot_ids) == 1 for i in images), images[:2]
    return images


def naive(ec2: Any, images: list[plan.Image]) -> None:
    for image in images:
        ec2.deregister_image(ImageId=image.image_id)
        for snap in image.snapshot_ids:
            ec2.delete_snapshot(SnapshotId=snap)


def product(ec2: Any, images: list[plan.Image]) -> None:
    result = teardown.Teardown()
    teardown.delete_images(ec2, images, {}, result)
    assert len(result.deregistered) == len(images) and not result.warnings, result.warnings[:3]


def measure(endpoint: str, server_pid: int | None, count: int, reps: int, pool: PoolWarnings
            ) -> dict[str, Any]:
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    times: dict[str, list[float]] = {"product": [], "naive": []}
    # CPU seconds used during the timed deletion: by this process (boto3, and the server
    # too when it runs in-process) and by the server process (subprocess mode).
    client_cpu: dict[str, list[float]] = {"product": [], "naive": []}
    server_cpu: dict[str, list[float]] = {"product": [], "naive": []}
    seed_s: list[float] = []
    pool_warnings: list[int] = []
    for rep in range(reps):
        order = ["product", "naive"] if rep % 2 == 0 else ["naive", "product"]
        for method in order:
            reset(endpoint)
            clients = Clients("us-east-1")
            ec2 = clients("ec2")
            start = time.perf_counter()
            images = seed(ec2, f"bench-{method}-{rep}", count)
            seed_s.append(time.perf_counter() - start)
            pool.count = 0
            cpu0 = process_cpu(None), process_cpu(server_pid) if server_pid else 0.0
            start = time.perf_counter()
            (product if method == "product" else naive)(ec2, images)
            times[method].append(time.perf_counter() - start)
            client_cpu[method].append(process_cpu(None) - cpu0[0])
            if server_pid:
                server_cpu[method].append(process_cpu(server_pid) - cpu0[1])
            if method == "product":
                pool_warnings.append(pool.count)
            left = leftovers(clients, images[0].tags[plan.TAG_BACKUP],
                             {s for i in images for s in i.snapshot_ids})
            assert not left.images and not left.snapshots, f"{method} left {left}"
            print(f"    rep {rep + 1} {method:<7} {times[method][-1]:6.2f}s", flush=True)
    speedups = [n / p for n, p in zip(times["naive"], times["product"], strict=True)]
    return {"images": count, "reps": reps, "product_s": stats(times["product"], 3),
            "naive_s": stats(times["naive"], 3), "speedup_per_rep": stats(speedups, 2),
            "speedup_of_medians": round(stats(times["naive"])["median"]
                                        / stats(times["product"])["median"], 2),
            "naive_ms_per_call": round(stats(times["naive"])["median"] * 1000 / (2 * count), 2),
            "seed_s": stats(seed_s, 2), "urllib3_pool_full_warnings": pool_warnings,
            "this_process_cpu_s": {k: stats(v, 2) for k, v in client_cpu.items()},
            "server_process_cpu_s": {k: stats(v, 2) for k, v in server_cpu.items() if v}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--server", choices=["inproc", "subprocess", "latency", "all"],
                        default="all")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    args = parser.parse_args()
    fake_aws_env()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    pool = PoolWarnings()
    logging.getLogger("urllib3.connectionpool").addHandler(pool)

    results: dict[str, Any] = {}
    servers = ["inproc", "subprocess", "latency"] if args.server == "all" else [args.server]
    for kind in servers:
        print(f"  moto server: {kind}", flush=True)
        server = (inproc_server() if kind == "inproc" else
                  subprocess_server(args.latency_ms if kind == "latency" else 0))
        with server as (url, pid):
            results[kind] = measure(url, pid, args.images, args.reps, pool)

    print(f"\nDeleting {args.images} images + {args.images} snapshots of one backup "
          f"(median [min-max] of {args.reps} reps; teardown.WORKERS={teardown.WORKERS})")
    print(table(["moto server", "delete_images s", "naive loop s", "speedup (per rep)",
                 "naive ms/call", "pool-full warnings"],
                [[k, fmt(r["product_s"], "", 1, 2), fmt(r["naive_s"], "", 1, 2),
                  fmt(r["speedup_per_rep"], "x", 1, 2), r["naive_ms_per_call"],
                  "/".join(map(str, r["urllib3_pool_full_warnings"]))]
                 for k, r in results.items()]))
    print("\nCPU seconds during the deletion (median): this process (boto3 threads, plus the "
          "server when in-process) / the server process")
    print(table(["moto server", "delete_images cpu", "naive loop cpu"],
                [[k, *(f"{r['this_process_cpu_s'][m]['median']:.2f} / "
                       + (f"{r['server_process_cpu_s'][m]['median']:.2f}"
                          if r["server_process_cpu_s"] else "-")
                       for m in ("product", "naive"))] for k, r in results.items()]))
    met = {k: r["speedup_per_rep"]["median"] >= 4 for k, r in results.items()}
    print(f"\nGoal: {GOAL}. Met: " + ", ".join(f"{k}: {v}" for k, v in met.items()))
    write_result(NAME, GOAL, all(met.values()), {
        "workers": teardown.WORKERS, "latency_ms": args.latency_ms,
        "goal_met_by_server": met, "servers": results})


if __name__ == "__main__":
    main()
