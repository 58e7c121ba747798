"""The backup's KMS HMAC key as the runner uses it: MACs of the record and of the run lock.

Standard library + boto3 only (it ships in the runner's zip). Only the runner's role may
GenerateMac with the key (its key policy, see provision/record_key.py); VerifyMac is open to
the account's administrators too, so teardown and refresh can check what the runner wrote.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

MAC_ALGORITHM = "HMAC_SHA_256"


@dataclass
class Seal:
    """The backup's KMS HMAC key (`key_id`: its alias or ARN), through a KMS client.

    Remembers the (message, MAC) pairs it made or verified, so reading back what this
    invocation wrote, or reading the same value twice, costs no second KMS call.
    """

    kms: Any
    key_id: str
    known: set[tuple[bytes, str]] = field(default_factory=set)

    def mac(self, message: bytes) -> str:
        made = self.kms.generate_mac(KeyId=self.key_id, Message=message,
                                     MacAlgorithm=MAC_ALGORITHM)["Mac"]
        text = base64.b64encode(made).decode()
        self.known.add((message, text))
        return text

    def valid(self, message: bytes, mac: str) -> bool:
        if (message, mac) in self.known:
            return True
        try:
            raw = base64.b64decode(mac, validate=True)
            ok = bool(self.kms.verify_mac(KeyId=self.key_id, Message=message, Mac=raw,
                                          MacAlgorithm=MAC_ALGORITHM)["MacValid"])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "KMSInvalidMacException":
                raise
            ok = False
        except ValueError:  # not base64
            ok = False
        if ok:
            self.known.add((message, mac))
        return ok

    def created(self) -> datetime:
        """When the key was made (AWS's stamp): a record older than its key predates signing."""
        return self.kms.describe_key(KeyId=self.key_id)["KeyMetadata"]["CreationDate"]


def of_backup(kms: Any, backup_id: str) -> Seal:
    """The seal of `backup_id`: its key by alias (pinned: no one may UpdateAlias it)."""
    from amibackup.names import Names

    return Seal(kms, Names(backup_id).record_key)
