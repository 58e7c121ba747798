"""The backup's AMI event rule follows the images in flight (issue 16).

After a cycle, the runner writes its own rule's pattern: the ids of its images still
`pending` (their `available`/`failed` event is awaited), or an id no event carries when
none is. So another backup's image never wakes this runner, and this runner's image
wakes no other. One PutRule per invocation that ran a cycle; a failure only warns:
events are best effort, and the next scheduled run promotes what an event would have.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from amibackup import access
from amibackup.names import Names
from amibackup.runner.clients import Clients
from amibackup.runner.config import Job
from amibackup.runner.summary import Summary


def follow_in_flight(clients: Clients, job: Job, summary: Summary,
                     only_if_deployed: bool = False) -> None:
    """Point the rule at `summary.in_flight` (None: the cycle stopped early, leave it).

    `only_if_deployed` (an ad-hoc `amibackup run --backup ID`): the backup may have no rule
    (nothing deployed); PutRule would make one nobody deletes, so the rule is looked up
    first and, if there is none, left alone (the next run adopts and promotes the image).
    """
    if summary.in_flight is None:
        return
    if only_if_deployed and not access.ami_rule_exists(clients("events"),
                                                       Names(job.backup_id).ami_rule):
        summary.skipped.append(f"backup {job.backup_id} has no AMI event rule (not deployed): "
                               "its image is adopted and promoted by its next run")
        return
    try:
        access.narrow_ami_rule(clients("events"), Names(job.backup_id).ami_rule, job.backup_id,
                               summary.in_flight, enabled=not job.paused)
    except (ClientError, BotoCoreError) as err:
        why = access.error_code(err) if isinstance(err, ClientError) else type(err).__name__
        summary.warnings.append(
            f"the AMI event rule was not pointed at the images in flight ({why}); their "
            "events may be missed: the next scheduled run promotes them")
