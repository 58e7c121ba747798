"""Write policies/deployer.json from amibackup.provision.policy.deployer_policy.

Run after changing the deployer policy: `.venv/bin/python tools/render_policies.py`
(tests/test_iam_enforced.py fails while the checked-in file differs).
"""

from __future__ import annotations

from pathlib import Path

from amibackup.provision.policy import deployer_policy_json

TARGET = Path(__file__).resolve().parents[1] / "policies" / "deployer.json"

if __name__ == "__main__":
    TARGET.write_text(deployer_policy_json())
    print(f"wrote {TARGET}")
