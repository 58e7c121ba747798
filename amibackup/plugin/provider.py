"""The `amibackup` provider plugin: the dynamic provider's hooks behind a real plugin.

Served with `pulumi.provider.experimental` (GetSchema, CheckConfig, Configure, Check,
Diff, Create, Read, Update, Delete). Each hook converts the engine's camelCase property
values to the snake_case dicts of `amibackup.provider.AmiAutoBackupProvider`, whose hooks
do the work (validation, diff, provisioning, teardown), so the plugin and the dynamic
resource behave alike from one code path. Nothing is pickled into the state: the engine
runs this plugin by name, and a new version of the package is a new plugin version.

Differences a plugin needs: Create/Update are called during previews (no side effects
then), Read must rebuild the inputs from AWS for `pulumi import`, and secrets are kept
secret by the provider (the engine re-secrets only outputs named like a secret input).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    ConfigureRequest,
    ConfigureResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    GetSchemaRequest,
    GetSchemaResponse,
    PropertyDiff,
    PropertyDiffKind,
    Provider,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)

from amibackup import spec
from amibackup.identity import AwsSettings
from amibackup.plugin.package_schema import (
    CONFIG,
    PACKAGE,
    TOKEN,
    camel,
    camel_text,
    schema_json,
)
from amibackup.plugin.props import is_unknown, to_plain, to_wire
from amibackup.schema import INPUT_KEYS, OUTPUT_KEYS, REPLACE_KEYS

if TYPE_CHECKING:
    from amibackup.provider import AmiAutoBackupProvider

T = TypeVar("T")


def urn_parts(urn: str) -> tuple[str, str, str]:
    """(project, stack, resource name) of `urn:pulumi:<stack>::<project>::<type>::<name>`."""
    parts = urn.split("::")
    stack = parts[0].rsplit(":", 1)[-1] if parts else ""
    project = parts[1] if len(parts) > 1 else ""
    return project, stack, parts[-1] if len(parts) > 3 else ""


def failure_path(field: str) -> str:
    """`persistence.root_volume` -> `persistence.rootVolume` (tag keys are kept)."""
    head, _, rest = field.partition(".")
    if head == "persistence" and rest:
        return f"{camel(head)}.{camel(rest)}"
    return f"{camel(head)}.{rest}" if rest else camel(head)


def check_failures(problems: list[spec.Problem]) -> list[CheckFailure]:
    """One failure per problem, on the top-level property, its reason naming the field; the
    property names in the reasons as the program spells them (camelCase)."""
    return [CheckFailure(camel(p.field.split(".")[0]),
                         f"{failure_path(p.field)}: {camel_text(p.message)}")
            for p in problems]


def diff_kind(key: str, olds: Mapping[str, Any], news: Mapping[str, Any],
              replaces: list[str]) -> PropertyDiffKind:
    empty: tuple[Any, ...] = (None, "", {}, [])
    added, deleted = olds.get(key) in empty, news.get(key) in empty and key in INPUT_KEYS
    if added and not deleted:
        return PropertyDiffKind.ADD_REPLACE if key in replaces else PropertyDiffKind.ADD
    if deleted and not added:
        return PropertyDiffKind.DELETE_REPLACE if key in replaces else PropertyDiffKind.DELETE
    return PropertyDiffKind.UPDATE_REPLACE if key in replaces else PropertyDiffKind.UPDATE


def detailed_diff(changes: list[str], olds: Mapping[str, Any], news: Mapping[str, Any],
                  replaces: list[str]) -> dict[str, PropertyDiff]:
    """What `pulumi preview --diff` shows: each changed property and how it changes.

    Inputs (and the schedule outputs the check computes from them) are input diffs; drift
    found by refresh or a moved group shows as the output that differs."""
    shown = {k: PropertyDiff(diff_kind(k, olds, news, replaces),
                             k in INPUT_KEYS or k in news)
             for k in dict.fromkeys(changes)}
    if any(k in ("frequency", "cron", "timezone") for k in changes):
        for derived in ("schedule_expression", "schedule_description"):
            if derived in news and olds.get(derived) != news.get(derived):
                shown.setdefault(derived, PropertyDiff(PropertyDiffKind.UPDATE, True))
    return {camel(k): v for k, v in shown.items()}


class AmiBackupProvider(Provider):
    """Serves `amibackup:index:AmiAutoBackup` with the dynamic provider's hooks."""

    def __init__(self, hooks: AmiAutoBackupProvider | None = None) -> None:
        self._hooks = hooks

    @property
    def hooks(self) -> AmiAutoBackupProvider:
        """The dynamic provider's hooks, imported at first use: a plugin started only for
        its schema (YAML starts it once for that) never loads boto3."""
        if self._hooks is None:
            from amibackup.provider import AmiAutoBackupProvider

            self._hooks = AmiAutoBackupProvider()
        return self._hooks

    @staticmethod
    async def _run(call: Callable[..., T], *args: Any) -> T:
        """boto3 blocks: run a hook in a worker thread so the server keeps serving."""
        return await asyncio.to_thread(call, *args)

    async def get_schema(self, request: GetSchemaRequest) -> GetSchemaResponse:  # noqa: ARG002
        return GetSchemaResponse(schema=schema_json())

    async def check_config(self, request: CheckRequest) -> CheckResponse:
        failures = [CheckFailure(key, f"{key}: must be a string; got {value.value!r}")
                    for key, value in request.new_inputs.items()
                    if key in CONFIG and not isinstance(value.value, str | None)]
        return CheckResponse(inputs=request.new_inputs, failures=failures)

    async def configure(self, request: ConfigureRequest) -> ConfigureResponse:
        """`amibackup:region` and `amibackup:profile`, from the stack or a Provider resource."""
        def setting(name: str) -> str | None:
            value = request.args.get(name)
            if value is not None and isinstance(value.value, str) and value.value:
                return value.value
            for key in (f"{PACKAGE}:{name}", f"{PACKAGE}:config:{name}"):
                if request.variables.get(key):
                    return request.variables[key]
            return None

        self.hooks.use(AwsSettings(setting("region"), setting("profile")))
        return ConfigureResponse(accept_secrets=True, supports_preview=True)

    async def check(self, request: CheckRequest) -> CheckResponse:
        news, secrets = to_plain(request.new_inputs)
        olds, _ = to_plain(request.old_inputs)
        project, stack, name = urn_parts(request.urn)
        news.setdefault("owner", f"{project}/{stack}/{name}")
        news.setdefault("backup_name", name)
        problems = await self._run(self.hooks.validate, olds, news)
        return CheckResponse(inputs=to_wire(spec.normalise(news, is_unknown), secrets),
                             failures=check_failures(problems))

    async def diff(self, request: DiffRequest) -> DiffResponse:
        olds, _ = to_plain(request.old_state)
        news, _ = to_plain(request.new_inputs)
        ignored = {camel(k) for k in request.ignore_changes}
        changes = [k for k in await self._run(self.hooks.changes, olds, news)
                   if camel(k) not in ignored]
        replaces = [k for k in REPLACE_KEYS if k in changes]
        shown = detailed_diff(changes, olds, news, replaces)
        return DiffResponse(changes=bool(changes), replaces=[camel(k) for k in replaces],
                            diffs=list(shown), detailed_diff=shown,
                            delete_before_replace=False)

    async def create(self, request: CreateRequest) -> CreateResponse:
        props, secrets = to_plain(request.properties)
        if request.preview:  # nothing is made in a preview: the outputs are not known yet
            planned = {**{k: _unknown() for k in OUTPUT_KEYS}, **props}
            return CreateResponse(resource_id="", properties=to_wire(planned, secrets))
        done = await self._run(self.hooks.create, props)
        return CreateResponse(resource_id=done.id, properties=to_wire(done.outs or {}, secrets))

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        olds, _ = to_plain(request.olds)
        news, secrets = to_plain(request.news)
        if request.preview:
            return UpdateResponse(properties=to_wire({**olds, **news}, secrets))
        done = await self._run(self.hooks.update, request.resource_id, olds, news)
        return UpdateResponse(properties=to_wire(done.outs or {}, secrets))

    async def read(self, request: ReadRequest) -> ReadResponse:
        props, secrets = to_plain(request.properties)
        if not props.get("backup_id"):  # `pulumi import`: only the id is known
            return await self._adopt(request.resource_id, request.urn)
        found = await self._run(self.hooks.read, request.resource_id, props)
        if not found.id:
            return ReadResponse(resource_id="")  # every part is gone: drop it from the state
        return ReadResponse(resource_id=found.id,
                            properties=to_wire(found.outs or {}, secrets),
                            inputs=dict(request.inputs))

    async def _adopt(self, backup_id: str, urn: str) -> ReadResponse:
        """The whole backup from AWS (the provider's region): inputs a program would
        declare, and the outputs."""
        from amibackup.provision import adopt

        project, stack, name = urn_parts(urn)
        clients = await self._run(self.hooks._existing, {})
        found = await self._run(adopt.describe, clients, backup_id,
                                f"{project}/{stack}/{name}")
        if found is None:
            return ReadResponse(resource_id="")
        inputs, outputs = found
        return ReadResponse(resource_id=backup_id, properties=to_wire(outputs),
                            inputs=to_wire(inputs))

    async def delete(self, request: DeleteRequest) -> None:
        props, _ = to_plain(request.properties)
        await self._run(self.hooks.delete, request.resource_id, props)


def _unknown() -> Any:
    from pulumi.output import Unknown

    return Unknown()


def main() -> None:
    """The console script `pulumi-resource-amibackup`: the engine starts it with its address."""
    import sys

    from pulumi.provider.experimental import server

    from amibackup import __version__

    server.main(sys.argv[1:], __version__, AmiBackupProvider())


__all__ = ["TOKEN", "AmiBackupProvider", "main"]
