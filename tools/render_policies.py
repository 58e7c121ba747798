"""Write policies/deployer.json and policies/boundary.json from amibackup.provision.policy.

Run after changing either policy: `.venv/bin/python tools/render_policies.py`
(tests/test_iam_enforced.py fails while a checked-in file differs).

A deployer policy for one stack, for an identity that cannot carry the `amibackup:stack`
tag (the shipped policy scopes every write to that tag of the identity itself):

    .venv/bin/python tools/render_policies.py --stack myproject/prod \\
        --account 123456789012 --region eu-west-1 --out deployer-prod.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from amibackup.provision.policy import (
    PRINCIPAL_STACK,
    boundary_policy_json,
    deployer_policy_json,
)

POLICIES = Path(__file__).resolve().parents[1] / "policies"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stack", help="project/stack: render one stack's deployer policy")
    parser.add_argument("--account", default="*", help="AWS account id (default: any)")
    parser.add_argument("--region", default="*", help="AWS region (default: any)")
    parser.add_argument("--partition", default="aws")
    parser.add_argument("--out", type=Path, help="where to write the one stack's policy")
    args = parser.parse_args(argv)
    if args.stack:
        text = deployer_policy_json(args.partition, args.account, args.region, args.stack)
        if args.out:
            args.out.write_text(text)
            print(f"wrote {args.out}")
        else:
            print(text, end="")
        return
    for name, text in (("deployer.json", deployer_policy_json(stack=PRINCIPAL_STACK)),
                       ("boundary.json", boundary_policy_json())):
        (POLICIES / name).write_text(text)
        print(f"wrote {POLICIES / name}")


if __name__ == "__main__":
    main()
