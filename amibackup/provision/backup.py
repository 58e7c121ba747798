"""One backup's AWS parts, reconciled as a unit: roles, runner function, schedule.

Every name derives from the backup id, so delete always finds every part, also
after a failure half-way. `create` undoes what it made if a step fails; `update`
converges whatever exists to the wanted state.
"""

from __future__ import annotations

import time
from typing import Any

from amibackup import access
from amibackup.names import TAG_BACKUP, TAG_MANAGED_BY, TAG_OWNER, Names, new_backup_id
from amibackup.provision import iam, lambda_fn, policy, scheduler
from amibackup.provision.errors import ProvisionError, ignore_missing
from amibackup.provision.package import code_sha256
from amibackup.provision.teardown import Teardown, remove_images
from amibackup.runner import lock, record
from amibackup.runner.clients import Clients
from amibackup.runner.config import Job, job_environment
from amibackup.schema import BackupSpec

LOCK_WAIT_SECONDS = lock.LEASE_SECONDS + 60


def runner_job(spec: BackupSpec, backup_id: str, region: str,
               template_id: str | None = None, recorded_version: int | None = None) -> Job:
    """The runner's whole job, fixed at deploy in the function's environment."""
    return Job(backup_id=backup_id, group_name=spec.group_name, region=region,
               template_id=template_id, recorded_version=recorded_version,
               retention=spec.retention, no_reboot=spec.no_reboot, tags=dict(spec.tags))


def _resource_tags(spec: BackupSpec, backup_id: str) -> dict[str, str]:
    return {**spec.tags, TAG_BACKUP: backup_id, TAG_MANAGED_BY: "amibackup"}


def resolve_group(clients: Clients, group_name: str) -> tuple[str, int]:
    """The group's launch template id and current default version, or a clear error."""
    group = access.describe_group(clients("autoscaling"), group_name)
    if group is None:
        raise ProvisionError(f"group_name: Auto Scaling group {group_name!r} not found in "
                             f"{clients.region}; create it first or fix the name or region")
    spec = access.template_of(group)
    if spec is None:
        raise ProvisionError(f"group_name: group {group_name!r} uses a launch configuration; "
                             "amibackup needs a launch template (migrate the group)")
    if access.is_pinned(spec):
        raise ProvisionError(
            f"group_name: group {group_name!r} pins launch template version "
            f"{access.pinned_version(spec)}; set its launch template version to $Default so it "
            "launches the newest backup")
    default = access.template_versions(clients("ec2"), spec, ["$Default"])[0]
    return str(default["LaunchTemplateId"]), int(default["VersionNumber"])


def _scope(clients: Clients, spec: BackupSpec, backup_id: str, template_id: str
           ) -> policy.Scope:
    arn = clients("sts").get_caller_identity()["Arn"]
    partition, account = arn.split(":")[1], arn.split(":")[4]
    return policy.Scope(partition, clients.region or "", account, backup_id,
                        spec.group_name, template_id)


def ensure(clients: Clients, spec: BackupSpec, backup_id: str,
           recorded_version: int | None = None, owner: str | None = None) -> dict[str, Any]:
    """Make every part exist as `spec` asks; return the resource's outputs."""
    names = Names(backup_id)
    template_id, default_version = resolve_group(clients, spec.group_name)
    scope = _scope(clients, spec, backup_id, template_id)
    tags = _resource_tags(spec, backup_id)
    if owner:
        tags[TAG_OWNER] = owner
    a_iam, lam, sch = clients("iam"), clients("lambda"), clients("scheduler")

    def role(name: str, service: str, doc: dict[str, Any], what: str) -> str:
        found = ignore_missing(lambda: a_iam.get_role(RoleName=name))
        if found:
            iam.put_policy(a_iam, name, doc)
            iam.set_tags(a_iam, name, tags)
            return str(found["Role"]["Arn"])
        return iam.create_role(a_iam, name, policy.trust(service, scope.account), doc, tags,
                               f"amibackup {backup_id}: {what}")

    runner_role = role(names.runner_role, "lambda.amazonaws.com", policy.runner_policy(scope),
                       f"runner of the AMI backup of group {spec.group_name}")
    scheduler_role = role(names.scheduler_role, "scheduler.amazonaws.com",
                          policy.scheduler_policy(scope), "lets the schedule invoke the runner")

    environment = job_environment(runner_job(
        spec, backup_id, scope.region, template_id,
        recorded_version if recorded_version is not None else default_version))
    function_arn = _ensure_function(lam, names, runner_role, tags, environment)

    request = scheduler.schedule_request(
        names.schedule, spec.schedule_expression, spec.timezone, not spec.paused,
        function_arn, scheduler_role, f"amibackup {backup_id} of group {spec.group_name}")
    exists = scheduler.get_schedule(sch, names.schedule) is not None
    schedule_arn = scheduler.put_schedule(sch, request, create=not exists)

    return {
        **spec.to_props(), "backup_id": backup_id, "resolved_region": scope.region,
        "schedule_name": names.schedule, "schedule_arn": schedule_arn,
        "schedule_state": request["State"], "function_name": names.function,
        "function_arn": function_arn, "role_arn": runner_role,
        "scheduler_role_arn": scheduler_role, "launch_template_id": template_id,
        "recorded_version": recorded_version if recorded_version is not None
        else default_version,
        "code_sha256": code_sha256(),
        **_image_outputs(clients, backup_id),
    }


def _image_outputs(clients: Clients, backup_id: str) -> dict[str, Any]:
    """The backup's available images, newest first, and the newest of them."""
    owned = record.read(clients("ssm"), Names(backup_id).record_parameter)
    images = access.images_by_id(clients("ec2"), sorted(owned.images))
    available = sorted((i for i in images if i.state == "available"),
                       key=lambda i: i.order, reverse=True)
    return {"image_ids": [i.image_id for i in available],
            "latest_image_id": available[0].image_id if available else None}


def _ensure_function(lam: Any, names: Names, runner_role: str, tags: dict[str, str],
                     environment: dict[str, str]) -> str:
    """The runner function with this package's code and job, one run at a time, these tags."""
    function = lambda_fn.get_function(lam, names.function)
    if function is None:
        return lambda_fn.create_function(lam, names.function, runner_role, tags, environment)
    function_arn = str(function["FunctionArn"])
    if function.get("CodeSha256") != code_sha256():
        lambda_fn.update_code(lam, names.function)
    if function.get("Environment", {}).get("Variables", {}) != environment:
        lambda_fn.set_environment(lam, names.function, environment)
    lam.put_function_concurrency(FunctionName=names.function, ReservedConcurrentExecutions=1)
    lambda_fn.set_tags(lam, function_arn, tags)
    return function_arn


def create(clients: Clients, spec: BackupSpec, owner: str | None = None) -> dict[str, Any]:
    """Provision a new backup; on any failure remove what was made, then raise.

    `owner` (project/stack/resource name) lets a replacement of the same resource through
    while the backup it replaces still exists.
    """
    others = [name for name in scheduler.backups_of_group(clients("scheduler"), clients("lambda"),
                                                          spec.group_name)
              if owner is None or _owner_of(clients, name) != owner]
    if others:
        raise ProvisionError(
            f"group_name: group {spec.group_name!r} already has an amibackup backup "
            f"({', '.join(others)}); two backups would fight over its launch template: keep "
            "one backup per group")
    backup_id = new_backup_id(spec.backup_name or spec.group_name)
    try:
        return ensure(clients, spec, backup_id, owner=owner)
    except BaseException:
        remove_infrastructure(clients, backup_id)
        raise


def _owner_of(clients: Clients, schedule_name: str) -> str | None:
    """The owner tag on the function of the backup whose schedule is `schedule_name`."""
    function = lambda_fn.get_function(clients("lambda"), schedule_name)  # same name
    if function is None:
        return None
    tags = clients("lambda").list_tags(Resource=function["FunctionArn"]).get("Tags", {})
    return tags.get(TAG_OWNER)


def read(clients: Clients, backup_id: str, props: dict[str, Any]) -> dict[str, Any] | None:
    """The live state; None when every part is gone."""
    names = Names(backup_id)
    schedule = scheduler.get_schedule(clients("scheduler"), names.schedule)
    function = lambda_fn.get_function(clients("lambda"), names.function)
    if schedule is None and function is None and not iam.role_exists(
            clients("iam"), names.runner_role):
        return None
    outs = dict(props)
    outs["schedule_state"] = schedule["State"] if schedule else "MISSING"
    if schedule:
        outs["schedule_expression"] = schedule["ScheduleExpression"]
    outs["function_arn"] = function["FunctionArn"] if function else None
    outs["code_sha256"] = function.get("CodeSha256") if function else None
    outs.update(_image_outputs(clients, backup_id))
    return outs


def remove_infrastructure(clients: Clients, backup_id: str) -> None:
    """Schedule, function, log group and roles; every step tolerates "not found"."""
    names = Names(backup_id)
    steps = [
        lambda: scheduler.delete_schedule(clients("scheduler"), names.schedule),
        lambda: lambda_fn.delete_function(clients("lambda"), clients("logs"), names),
        lambda: iam.delete_role(clients("iam"), names.scheduler_role),
        lambda: iam.delete_role(clients("iam"), names.runner_role),
    ]
    errors = []
    for step in steps:  # one failing step must not leave the others' parts behind
        try:
            step()
        except Exception as err:  # noqa: BLE001 - collected and re-raised below
            errors.append(err)
    if errors:
        raise ProvisionError(f"removing backup {backup_id} left parts behind; run the delete "
                             f"again: {'; '.join(map(str, errors))}") from errors[0]


def wait_for_runs(ssm: Any, backup_id: str, timeout: float = LOCK_WAIT_SECONDS,
                  delay: float = 5.0) -> None:
    """Take the run lock so no cycle is half-way while the backup is torn down."""
    deadline = time.monotonic() + timeout
    owner = lock.unique_owner("teardown")
    while True:
        try:
            lock.acquire(ssm, Names(backup_id).lock_parameter, owner=owner)
            return
        except lock.Busy:
            if time.monotonic() > deadline:
                raise ProvisionError(f"a run of backup {backup_id} still holds its lock after "
                                     f"{timeout:.0f}s; retry the delete") from None
            time.sleep(delay)  # no AWS waiter exists for an SSM parameter's deletion


def delete(clients: Clients, backup_id: str, spec: BackupSpec,
           recorded_version: int | None = None) -> Teardown:
    """Stop new runs, wait for one in flight, restore the template, remove everything."""
    names = Names(backup_id)
    scheduler.delete_schedule(clients("scheduler"), names.schedule)
    lambda_fn.stop_invocations(clients("lambda"), names.function)
    ssm = clients("ssm")
    wait_for_runs(ssm, backup_id)
    try:
        result = Teardown()
        if spec.deregister_on_delete:
            result = remove_images(clients("ec2"), clients("autoscaling"), ssm, backup_id,
                                   spec.group_name, recorded_version)
        record.delete(ssm, names.record_parameter)  # kept images are the operator's now
        remove_infrastructure(clients, backup_id)
    finally:
        lock.release(ssm, names.lock_parameter)
    return result

