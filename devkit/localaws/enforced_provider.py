"""The dynamic provider process, as the engine starts it, under an enforced IAM policy.

`python -m devkit.localaws.enforced_provider` runs `python -m pulumi.dynamic` inside
`iam_enforce.enforce(policy)`: every AWS call any hook makes is authorized as AWS would
authorize it for an identity holding the policy in `AMIBACKUP_ENFORCE_POLICY` (a JSON file),
and each decision is appended to `AMIBACKUP_ENFORCE_RECORDING` (JSON lines): the recording of
every call the provider makes, allowed or denied. `AMIBACKUP_ENFORCE_PRINCIPAL_TAGS` (a JSON
object, optional) are the identity's tags, as `aws:PrincipalTag/K`.
"""

from __future__ import annotations

import json
import os
import runpy

from devkit.localaws.iam_enforce import enforce

POLICY_VAR = "AMIBACKUP_ENFORCE_POLICY"
RECORDING_VAR = "AMIBACKUP_ENFORCE_RECORDING"
PRINCIPAL_TAGS_VAR = "AMIBACKUP_ENFORCE_PRINCIPAL_TAGS"


def main() -> None:
    with open(os.environ[POLICY_VAR], encoding="utf-8") as source:
        policy = json.load(source)
    tags = json.loads(os.environ.get(PRINCIPAL_TAGS_VAR) or "{}")
    with enforce(policy, recording=os.environ[RECORDING_VAR], principal_tags=tags):
        runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
