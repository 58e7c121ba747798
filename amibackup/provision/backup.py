"""One backup's AWS parts, reconciled as a unit: roles, runner function, schedule.

Every name derives from the backup id, so delete always finds every part, also
after a failure half-way. `create` undoes what it made if a step fails; `update`
converges whatever exists to the wanted state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from amibackup import access
from amibackup.names import (
    TAG_BACKUP,
    TAG_MANAGED_BY,
    TAG_ON_DELETE,
    TAG_OWNER,
    TAG_PERSISTENCE,
    TAG_STACK,
    Names,
    new_backup_id,
    stack_of,
    tag_value,
)
from amibackup.provision import (
    alarms,
    claim,
    events,
    iam,
    lambda_fn,
    policy,
    record_key,
    scheduler,
)
from amibackup.provision.errors import ProvisionError, ignore_missing
from amibackup.provision.package import code_sha256
from amibackup.provision.teardown import Teardown, remove_images
from amibackup.runner import lock, record
from amibackup.runner.clients import Clients, make_config
from amibackup.runner.config import ENVIRONMENT_LIMIT, Job, environment_size, job_environment
from amibackup.runner.seal import Seal, of_backup
from amibackup.schema import BackupSpec
from amibackup.spec import persistence_text, topic_region

LOCK_WAIT_SECONDS = lock.LEASE_SECONDS + 60


def runner_job(spec: BackupSpec, backup_id: str, region: str,
               template_id: str | None = None, recorded_version: int | None = None,
               period_seconds: int | None = None, owner: str | None = None) -> Job:
    """The runner's whole job, fixed at deploy in the function's environment: with the
    schedule it may run at, and how late Scheduler may deliver a run.

    Its images carry the stack tag: the runner's permissions boundary lets it make and
    delete images of its own stack only.
    """
    return Job(backup_id=backup_id, group_name=spec.group_name, region=region,
               template_id=template_id, recorded_version=recorded_version,
               period_seconds=period_seconds, retention=spec.retention,
               no_reboot=spec.no_reboot,
               tags={**spec.tags, TAG_STACK: stack_of(owner or spec.owner, backup_id)},
               schedule_expression=spec.schedule_expression, timezone=spec.timezone,
               delivery_window_seconds=scheduler.delivery_window_seconds(),
               paused=spec.paused)


def _resource_tags(spec: BackupSpec, backup_id: str, owner: str | None = None
                   ) -> dict[str, str]:
    return {**spec.tags, TAG_BACKUP: backup_id, TAG_MANAGED_BY: "amibackup",
            TAG_STACK: stack_of(owner or spec.owner, backup_id)}


def _function_tags(spec: BackupSpec, tags: dict[str, str]) -> dict[str, str]:
    """The function's tags: the resource's, and the two inputs AWS keeps nowhere else (for
    `pulumi import`, amibackup/provision/adopt.py)."""
    return {**tags, TAG_ON_DELETE: "deregister" if spec.deregister_on_delete else "keep",
            TAG_PERSISTENCE: persistence_text(spec.persistence)}


@dataclass(frozen=True)
class GroupTemplate:
    """The group as create found it, and the launch template it launches."""

    group: dict[str, Any]
    template_id: str
    template_name: str
    default_version: int


def resolve_group(clients: Clients, group_name: str) -> GroupTemplate:
    """The group's launch template and its current default version, or a clear error."""
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
    return GroupTemplate(group, str(default["LaunchTemplateId"]),
                         str(default.get("LaunchTemplateName", "")),
                         int(default["VersionNumber"]))


def current_template_id(clients: Clients, group_name: str) -> str | None:
    """The template the group launches now; None when the group or template is gone."""
    group = access.describe_group(clients("autoscaling"), group_name)
    spec = access.template_of(group) if group else None
    if spec is None:
        return None
    if spec.get("LaunchTemplateId"):
        return str(spec["LaunchTemplateId"])
    default = access.default_version(clients("ec2"), spec)
    return str(default["LaunchTemplateId"]) if default else None


def template_moved(clients: Clients, props: dict[str, Any]) -> bool:
    """The group launches another template than the one the runner is scoped to (preview)."""
    recorded = props.get("launch_template_id")
    if not recorded or not props.get("group_name"):
        return False
    # A preview must not hang on unreachable AWS: one attempt, short timeouts.
    quick = Clients(clients.region, session=clients.session, config=make_config(
        retries={"mode": "standard", "max_attempts": 1}, connect_timeout=3, read_timeout=10))
    current = current_template_id(quick, str(props["group_name"]))
    return current is not None and current != recorded


def _scope(clients: Clients, spec: BackupSpec, backup_id: str, template_id: str
           ) -> policy.Scope:
    arn = clients("sts").get_caller_identity()["Arn"]
    partition, account = arn.split(":")[1], arn.split(":")[4]
    return policy.Scope(partition, clients.region or "", account, backup_id,
                        spec.group_name, template_id)


def _check_topic(spec: BackupSpec, region: str) -> None:
    """Alarms notify topics of their own region only (checked before anything is made)."""
    where = topic_region(spec.alarm_topic_arn) if spec.alarm_topic_arn else region
    if where != region:
        raise ProvisionError(f"alarm_topic_arn: topic {spec.alarm_topic_arn} is in {where}, "
                             f"the backup in {region}: use an SNS topic in {region}")


def _boundary(clients: Clients, scope: policy.Scope) -> tuple[str, list[str]]:
    """The permissions boundary's ARN (made if the account has none, and we may); warnings."""
    arn = policy.boundary_arn(scope.partition, scope.account)
    warning = iam.ensure_boundary(
        clients("iam"), arn, policy.boundary_policy(scope.partition, "*"),  # as shipped
        "amibackup: the most any role amibackup makes may do (README, 'Deployer policy')")
    return arn, [warning] if warning else []


def runner_environment(spec: BackupSpec, backup_id: str, region: str, template_id: str,
                       recorded: int | None, owner: str | None = None) -> dict[str, str]:
    """The function's environment (the runner's job); refused when over Lambda's 4 KB.

    Check refuses it at plan time; this catches values unknown then, and runs before
    anything is made or changed (an update fails whole, not with the roles re-tagged).
    """
    period = alarms.schedule_period(spec.schedule_expression, spec.timezone)
    environment = job_environment(runner_job(spec, backup_id, region, template_id, recorded,
                                             int(period), owner))
    size = environment_size(environment)
    if size > ENVIRONMENT_LIMIT:
        raise ProvisionError(
            f"tags: the runner's job carries your tags in its Lambda environment, which would "
            f"be {size} bytes; Lambda allows {ENVIRONMENT_LIMIT} bytes in total. Shorten or "
            f"remove tags (about {size - ENVIRONMENT_LIMIT} bytes too many)")
    return environment


def _roles(clients: Clients, spec: BackupSpec, scope: policy.Scope, tags: dict[str, str],
           boundary: str) -> tuple[str, str]:
    """The runner's and the scheduler's roles, with their boundary, policies and tags."""
    a_iam, names = clients("iam"), scope.names

    def role(name: str, service: str, doc: dict[str, Any], what: str) -> str:
        found = ignore_missing(lambda: a_iam.get_role(RoleName=name))
        if found:
            iam.set_tags(a_iam, name, tags)  # the stack tag first: the rest is scoped by it
            iam.ensure_boundary_on(a_iam, found["Role"], boundary)
            iam.put_policy(a_iam, name, doc)
            return str(found["Role"]["Arn"])
        return iam.create_role(a_iam, name, policy.trust(service, scope.account), doc, tags,
                               f"amibackup {scope.backup_id}: {what}", boundary)

    return (role(names.runner_role, "lambda.amazonaws.com", policy.runner_policy(scope),
                 f"runner of the AMI backup of group {spec.group_name}"),
            role(names.scheduler_role, "scheduler.amazonaws.com",
                 policy.scheduler_policy(scope), "lets the schedule invoke the runner"))


def ensure(clients: Clients, spec: BackupSpec, backup_id: str,
           recorded_version: int | None = None, owner: str | None = None) -> dict[str, Any]:
    """Make every part exist as `spec` asks; return the resource's outputs."""
    names = Names(backup_id)
    found = resolve_group(clients, spec.group_name)
    scope = _scope(clients, spec, backup_id, found.template_id)
    _check_topic(spec, scope.region)
    owner = owner or spec.owner
    tags = _resource_tags(spec, backup_id, owner)
    if owner:
        tags[TAG_OWNER] = tag_value(owner)  # a resource name may hold any character
    recorded = recorded_version if recorded_version is not None else found.default_version
    period = alarms.schedule_period(spec.schedule_expression, spec.timezone)
    environment = runner_environment(spec, backup_id, scope.region, found.template_id,
                                     recorded, owner)
    boundary, boundary_warnings = _boundary(clients, scope)
    runner_role, scheduler_role = _roles(clients, spec, scope, tags, boundary)
    record_key.ensure_key(clients("kms"), scope, runner_role, tags)
    function_arn, reserved, warnings = _ensure_function(clients("lambda"), names, runner_role,
                                                        _function_tags(spec, tags), environment)
    warnings = boundary_warnings + warnings
    rule_arn = events.ensure_rule(clients("events"), clients("lambda"), names, backup_id,
                                  function_arn, enabled=not spec.paused)
    request = scheduler.schedule_request(
        names.schedule, spec.schedule_expression, spec.timezone, not spec.paused,
        function_arn, scheduler_role, f"amibackup {backup_id} of group {spec.group_name}")
    sch = clients("scheduler")
    exists = scheduler.get_schedule(sch, names.schedule) is not None
    schedule_arn = scheduler.put_schedule(sch, request, create=not exists)
    alarm_list = alarms.ensure_alarms(clients("cloudwatch"), names, spec.alarm_topic_arn, period)
    return {
        **spec.to_props(), "backup_id": backup_id, "resolved_region": scope.region,
        "schedule_name": names.schedule, "schedule_arn": schedule_arn,
        "schedule_state": request["State"], "function_name": names.function,
        "function_arn": function_arn, "role_arn": runner_role,
        "scheduler_role_arn": scheduler_role, "launch_template_id": found.template_id,
        "group_template_id": found.template_id,
        "recorded_version": recorded,
        "code_sha256": code_sha256(), "reserved_concurrency": reserved,
        "ami_rule_arn": rule_arn, "alarm_names": alarm_list, "warnings": warnings,
        **_image_outputs(clients, backup_id),
    }


def _image_outputs(clients: Clients, backup_id: str) -> dict[str, Any]:
    """The backup's available images, newest first, and the newest of them (none when the
    record fails its MAC check: README, *Threat model*)."""
    try:
        owned = record.read(clients("ssm"), Names(backup_id).record_parameter,
                            of_backup(clients("kms"), backup_id))
    except record.RecordForged:
        return {"image_ids": [], "latest_image_id": None}
    images = [i.of_run(owned.images[i.image_id])
              for i in access.images_by_id(clients("ec2"), sorted(owned.images))]
    available = sorted((i for i in images if i.state == "available"),
                       key=lambda i: i.order, reverse=True)
    return {"image_ids": [i.image_id for i in available],
            "latest_image_id": available[0].image_id if available else None}


def _ensure_function(lam: Any, names: Names, runner_role: str, tags: dict[str, str],
                     environment: dict[str, str]) -> tuple[str, int | None, list[str]]:
    """The runner function with this package's code, job and tags; (ARN, reserved, warnings)."""
    function = lambda_fn.get_function(lam, names.function)
    if function is None:
        function_arn = lambda_fn.create_function(lam, names.function, runner_role, tags,
                                                 environment)
    else:
        function_arn = str(function["FunctionArn"])
        if function.get("CodeSha256") != code_sha256():
            lambda_fn.update_code(lam, names.function)
        if function.get("Environment", {}).get("Variables", {}) != environment:
            lambda_fn.set_environment(lam, names.function, environment)
        lambda_fn.set_tags(lam, function_arn, tags)
    warning = lambda_fn.reserve_one(lam, names.function)
    return function_arn, (None if warning else 1), ([warning] if warning else [])


def create(clients: Clients, spec: BackupSpec, owner: str | None = None) -> dict[str, Any]:
    """Provision a new backup; on any failure remove what was made, then raise.

    Refused before anything is made: a group whose template another group launches or
    another backup claims, and mixed-instances overrides with their own template. `owner`
    (project/stack/resource name, else the spec's) lets a replacement of the same resource
    take over the claim while the backup it replaces still exists.
    """
    owner = owner or spec.owner
    found = resolve_group(clients, spec.group_name)
    claim.check_group_alone(clients("autoscaling"), found.group, found.template_id,
                            found.template_name)
    backup_id = new_backup_id(spec.backup_name or spec.group_name)
    runner_environment(spec, backup_id, clients.region or "", found.template_id,
                       found.default_version, owner)  # fits, before anything is made
    claim.claim(clients("ssm"), found.template_id, backup_id, owner, spec.group_name)
    try:
        return ensure(clients, spec, backup_id, owner=owner)
    except BaseException:
        remove_infrastructure(clients, backup_id)
        claim.release(clients("ssm"), found.template_id, backup_id)
        raise


def update(clients: Clients, spec: BackupSpec, backup_id: str, olds: dict[str, Any],
           owner: str | None = None) -> dict[str, Any]:
    """Converge to `spec`; a group moved to another template moves the claim and the
    runner's scope with it (and records the new template's default version)."""
    owner = owner or spec.owner
    found = resolve_group(clients, spec.group_name)
    old_template = olds.get("launch_template_id")
    recorded = olds.get("recorded_version")
    moved = bool(old_template) and old_template != found.template_id
    if moved:
        claim.check_group_alone(clients("autoscaling"), found.group, found.template_id,
                                found.template_name)
        recorded = None
    runner_environment(spec, backup_id, clients.region or "", found.template_id,
                       int(recorded) if recorded is not None else found.default_version,
                       owner)
    claim.claim(clients("ssm"), found.template_id, backup_id, owner, spec.group_name)
    outs = ensure(clients, spec, backup_id,
                  recorded_version=int(recorded) if recorded is not None else None, owner=owner)
    if moved:
        claim.release(clients("ssm"), str(old_template), backup_id)
    return outs


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
    if props.get("group_name"):
        outs["group_template_id"] = current_template_id(clients, str(props["group_name"]))
    outs.update(_image_outputs(clients, backup_id))
    return outs


def remove_infrastructure(clients: Clients, backup_id: str) -> None:
    """Schedule, function, log group and roles; every step tolerates "not found"."""
    names = Names(backup_id)
    steps = [
        lambda: scheduler.delete_schedule(clients("scheduler"), names.schedule),
        lambda: events.remove_rule(clients("events"), clients("lambda"), names),
        lambda: alarms.remove_alarms(clients("cloudwatch"), names),
        lambda: lambda_fn.delete_function(clients("lambda"), clients("logs"), names),
        lambda: iam.delete_role(clients("iam"), names.scheduler_role),
        lambda: iam.delete_role(clients("iam"), names.runner_role),
        lambda: record_key.remove_key(clients("kms"), names),
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


def wait_for_runs(ssm: Any, backup_id: str, seal: Seal, timeout: float = LOCK_WAIT_SECONDS,
                  delay: float = 5.0) -> list[str]:
    """Take the run lock so no cycle is half-way while the backup is torn down; warnings.

    Only a lock the runner signed is waited for, and only until its lease ends (by AWS's
    stamp); one written by anyone else is no run: it is removed at once, and said so.
    """
    deadline = time.monotonic() + timeout
    owner = lock.unique_owner("teardown")
    name = Names(backup_id).lock_parameter
    warnings: list[str] = []
    while True:
        try:
            lock.acquire(ssm, name, owner=owner)
            return warnings
        except lock.Busy as busy:
            if busy.parameter is not None and not lock.runners(busy.parameter, seal):
                warnings.append(f"removed a run lock that no run of this backup wrote: "
                                f"{busy.holder}")
                lock.release(ssm, name)
                continue
            if time.monotonic() > deadline:
                raise ProvisionError(f"a run of backup {backup_id} still holds its lock after "
                                     f"{timeout:.0f}s ({busy.holder}); retry the delete"
                                     ) from None
            time.sleep(delay)  # no AWS waiter exists for an SSM parameter's deletion


def delete(clients: Clients, backup_id: str, spec: BackupSpec,
           recorded_version: int | None = None, template_id: str | None = None) -> Teardown:
    """Stop new runs, wait for one in flight, restore the template, remove everything.

    `template_id` (the recorded launch_template_id) is restored even when the group is gone,
    and its claim released. The result's `warnings` are for the user (kept images).
    """
    names = Names(backup_id)
    scheduler.delete_schedule(clients("scheduler"), names.schedule)
    events.remove_rule(clients("events"), clients("lambda"), names)  # no image events either
    lambda_fn.stop_invocations(clients("lambda"), names.function)
    ssm = clients("ssm")
    seal = of_backup(clients("kms"), backup_id)
    removed_lock = wait_for_runs(ssm, backup_id, seal)
    # A run that was in flight narrows its rule at its end (PutRule), which re-creates a
    # rule deleted meanwhile: remove it again now that no run can start.
    events.remove_rule(clients("events"), clients("lambda"), names)
    try:
        result = Teardown(warnings=removed_lock)
        if spec.deregister_on_delete:
            result = remove_images(clients("ec2"), clients("autoscaling"), ssm, backup_id,
                                   spec.group_name, recorded_version, template_id,
                                   seal=seal)
            result.warnings[:0] = removed_lock
        record.delete(ssm, names.record_parameter)  # kept images are the operator's now
        remove_infrastructure(clients, backup_id)
        claimed = {template_id, current_template_id(clients, spec.group_name)} - {None}
        for claimed_id in sorted(str(t) for t in claimed):  # released only if still ours
            claim.release(ssm, claimed_id, backup_id)
    finally:
        lock.release(ssm, names.lock_parameter)
    return result

