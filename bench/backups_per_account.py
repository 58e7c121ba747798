"""Invocations and AWS calls per image with N backups in one account and region.

N backups are provisioned as `pulumi up` would (function, schedule, AMI event rule with
its target and permission) on the strict local AWS in-process. Backup 0's schedule fires
(its image held `pending`, as in AWS); releasing the image emits its `EC2 AMI State
Change` event, which reaches the Lambda target of every rule whose pattern matches
(EventBridge's content filtering, devkit/localaws/eventbridge.py). Measured for the same
image, in the same run:

- *narrowed* (this version): each rule names only its backup's images in flight, and only
  `available`/`failed`;
- *account-wide* (before issue 16): every rule's pattern set back to
  `{"source": ["aws.ec2"], "detail-type": ["EC2 AMI State Change"]}`, so every runner is
  woken by every image, for each state change.

Calls are the runner's own, counted where the local AWS answers the deployed function's
process (`counted()`), over the run and every invocation the image's events cause. The dev
kit's delivery calls (ListRules, GetFunctionConfiguration) are not the product's and are
not counted.

    python bench/backups_per_account.py [--sizes 1 10 50] [--images 2]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from datetime import timedelta
from typing import Any

from _common import ensure_paths, fake_aws_env, table, write_result

ensure_paths()

from moto import mock_aws
from moto.core.responses import BaseResponse

from amibackup.names import Names
from amibackup.provision import backup
from amibackup.runner.clients import Clients, forget_shared
from amibackup.schema import BackupSpec
from amibackup.spec import normalise
from devkit.localaws.ec2 import images_pending, release_images
from devkit.localaws.lambda_runtime import deliver_ami_events
from devkit.localaws.layers import install_layers
from devkit.scenarios import T0, create_group, fire_schedule

NAME = "backups_per_account"
GOAL = "one invocation per image event and a constant number of calls per image, at N = 1..50"
REGION = "us-east-1"
RETENTION = 3  # the default
BROAD = {"source": ["aws.ec2"], "detail-type": ["EC2 AMI State Change"]}


@contextmanager
def counted() -> Iterator[Counter[str]]:
    """The runner's calls made in the block, counted where the local AWS answers them.

    The deployed function runs in its own process (devkit/localaws/lambda_runtime.py),
    which calls the moto server over moto's in-process state; that server answers on its
    own threads. The dev kit's own calls (delivery's ListRules, ...) are answered on this
    thread, in-process, and are not counted.
    """
    calls: Counter[str] = Counter()
    original = BaseResponse.call_action
    here = threading.current_thread()

    def call_action(self: Any) -> Any:
        if threading.current_thread() is not here:
            calls.update([f"{self.service_name}.{self._get_action()}"])
        return original(self)

    forget_shared()
    BaseResponse.call_action = call_action  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseResponse.call_action = original  # type: ignore[method-assign]


def one_image(clients: Clients, backup_id: str, n: int) -> dict[str, Any]:
    """Backup 0's run and its image's events; invocations and the runner's calls."""
    events, lam = clients("events"), clients("lambda")  # the dev kit's, made before counting
    with counted() as calls, redirect_stderr(io.StringIO()):  # the runs' JSON lines
        with images_pending() as hold:
            run = fire_schedule(clients, backup_id, T0 + timedelta(hours=n))
        run_calls = sum(calls.values())
        with deliver_ami_events(lambda s: {"events": events, "lambda": lam}[s]) as delivered:
            release_images(hold.image_ids)
    invoked = [arn for arn, _ in delivered.results] + [arn for arn, _ in delivered.errors]
    promoted = [r for _, r in delivered.results if r.get("promoted") == run["created"]]
    return {"invocations": len(invoked), "runners_invoked": len(set(invoked)),
            "calls": sum(calls.values()), "run_calls": run_calls,
            "event_calls": sum(calls.values()) - run_calls, "by_op": dict(calls),
            "promoted_by_its_event": len(promoted) == 1, "errors": len(delivered.errors),
            "pruned": sum(len(r.get("pruned", [])) for _, r in delivered.results)}


def widen(clients: Clients, backup_ids: list[str]) -> None:
    for backup_id in backup_ids:
        clients("events").put_rule(Name=Names(backup_id).ami_rule, EventBusName="default",
                                   State="ENABLED", EventPattern=json.dumps(BROAD))


def scenario(n: int, images: int) -> dict[str, Any]:
    with mock_aws():
        clients = Clients(REGION)
        ids = []
        for i in range(n):
            group = create_group(clients, f"web{i}", size=1)
            spec = BackupSpec.from_props(normalise({"backup_name": f"web{i}-backup",
                                                    "group_name": group.group_name}))
            ids.append(str(backup.create(clients, spec)["backup_id"]))
        for k in range(RETENTION):  # steady state: each measured image prunes one
            fire_schedule(clients, ids[0], T0 - timedelta(hours=RETENTION - k))
        narrowed = [one_image(clients, ids[0], k) for k in range(images)]
        widen(clients, ids)
        broad = [one_image(clients, ids[0], images + k) for k in range(images)]
    return {"backups": n, "narrowed": narrowed, "account_wide": broad}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--images", type=int, default=2, help="images measured per design")
    args = parser.parse_args()
    fake_aws_env()
    install_layers()
    logging.getLogger("amibackup").setLevel(logging.WARNING)
    rows = []
    for n in args.sizes:
        rows.append(scenario(n, args.images))
        print(f"  N={n}: narrowed {[r['calls'] for r in rows[-1]['narrowed']]} calls, "
              f"account-wide {[r['calls'] for r in rows[-1]['account_wide']]}", flush=True)
    print("\nPer image (run + every invocation its events cause), each image measured")
    print(table(["backups", "design", "invocations", "runners", "calls (run + events)",
                 "promoted by its event"],
                [[r["backups"], design, "/".join(str(x["invocations"]) for x in r[key]),
                  "/".join(str(x["runners_invoked"]) for x in r[key]),
                  "/".join(f"{x['calls']} ({x['run_calls']} + {x['event_calls']})"
                           for x in r[key]),
                  "/".join("yes" if x["promoted_by_its_event"] else "no" for x in r[key])]
                 for r in rows for design, key in (("narrowed", "narrowed"),
                                                   ("account-wide", "account_wide"))]))
    narrowed = [x for r in rows for x in r["narrowed"]]
    # calls > 0: a counter that sees no call (the runner moved out of its reach) fails
    constant = len({x["calls"] for x in narrowed}) == 1 and all(
        x["calls"] > 0 and x["invocations"] == 1 and x["promoted_by_its_event"] for x in narrowed)
    ops = sorted({op for x in narrowed for op in x["by_op"]})
    print("\nCalls by operation, narrowed, N = " + str(rows[-1]["backups"]))
    print(table(["operation", "calls"], [[op, rows[-1]["narrowed"][0]["by_op"].get(op, 0)]
                                          for op in ops]))
    print(f"\nGoal: {GOAL}. Met: {constant}")
    write_result(NAME, GOAL, constant, {"sizes": args.sizes, "rows": rows,
                                        "constant": constant,
                                        "calls_per_image": sorted({x["calls"] for x in narrowed})})


if __name__ == "__main__":
    main()
