"""The Pulumi package schema of the `amibackup` plugin, derived from `amibackup.schema`.

One source: every input and output of `amibackup.schema.FIELDS` becomes a camelCase
property documented with the field's doc (and its default), so a field added there shows
up in the plugin, its generated SDKs and the YAML language host without another edit here.
A field whose `type` this module does not know fails loudly (`TYPES` maps it).
Standard library only.
"""

from __future__ import annotations

import json
import re
from typing import Any

from amibackup import __version__
from amibackup.schema import FIELDS, INPUTS, OUTPUTS, PERSISTENCE_FIELDS, Field

PACKAGE = "amibackup"
RESOURCE = "AmiAutoBackup"
TOKEN = f"{PACKAGE}:index:{RESOURCE}"
PERSISTENCE_TOKEN = f"{PACKAGE}:index:Persistence"
# Provider configuration (`amibackup:region`, `amibackup:profile`), as the aws provider has them.
CONFIG: dict[str, str] = {
    "region": "AWS region of new backups (a backup's own `region` input wins); default: "
              "boto3's (AWS_REGION, AWS_DEFAULT_REGION, the profile's region).",
    "profile": "AWS shared-config profile whose credentials the provider uses; default: "
               "boto3's credential chain.",
}

# Field.type (as users write it in Python) -> a Pulumi schema type.
TYPES: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "dict[str, str]": {"type": "object", "additionalProperties": {"type": "string"}},
    "list[str]": {"type": "array", "items": {"type": "string"}},
    "PersistenceArgs": {"$ref": f"#/types/{PERSISTENCE_TOKEN}"},
}


def camel(name: str) -> str:
    """`group_name` -> `groupName`: Pulumi's property naming convention."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    """`groupName` -> `group_name` (the inverse of `camel` for the schema's names)."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def optional(field: Field) -> bool:
    return field.type.replace(" ", "").endswith("|None")


def schema_type(field: Field) -> dict[str, Any]:
    base = field.type.replace(" ", "").removesuffix("|None")
    for known, pulumi_type in TYPES.items():
        if known.replace(" ", "") == base:
            return dict(pulumi_type)
    raise ValueError(f"amibackup.schema field {field.name!r} has type {field.type!r}, which "
                     f"amibackup/plugin/package_schema.py TYPES does not map to a Pulumi type: "
                     f"add it there")


NAMES = {f.name for f in (*FIELDS, *PERSISTENCE_FIELDS) if "_" in f.name}
SNAKE_WORD = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def camel_text(text: str) -> str:
    """`text` with the schema's snake_case property names in it made camelCase."""
    return SNAKE_WORD.sub(lambda m: camel(m.group()) if m.group() in NAMES else m.group(), text)


def describe(field: Field) -> str:
    """The field's doc, with its default; the schema's snake_case names in it made camelCase."""
    text = camel_text(field.doc)
    if field.default is not None:
        shown = json.dumps(field.default)
        text = f"{text} Default: {shown}."
    return text


def prop(field: Field) -> dict[str, Any]:
    out = {**schema_type(field), "description": describe(field)}
    if field.replaces:
        out["replaceOnChanges"] = True
    return out


def _inputs() -> dict[str, dict[str, Any]]:
    return {camel(f.name): prop(f) for f in INPUTS}


def resource_schema() -> dict[str, Any]:
    """The AmiAutoBackup resource: its inputs, and its state (inputs echoed plus outputs)."""
    properties = {**_inputs(), **{camel(f.name): prop(f) for f in OUTPUTS}}
    required_inputs = [camel(f.name) for f in INPUTS if f.required]
    # Always set in the state: the required inputs, those with a default, and every output
    # that is not optional.
    required = [camel(f.name) for f in INPUTS
                if f.default is not None or camel(f.name) in required_inputs]
    required += [camel(f.name) for f in OUTPUTS if not optional(f)]
    return {
        "description": "Scheduled AMI backups of an Auto Scaling group's newest healthy "
                       "instance. The group launches from the newest available backup; the "
                       "last `retention` images (and their snapshots) are kept.",
        "properties": properties,
        "required": sorted(required),
        "inputProperties": _inputs(),
        "requiredInputs": required_inputs,
    }


def package_schema(version: str = __version__) -> dict[str, Any]:
    """The whole package schema, as `pulumi package get-schema` prints it."""
    config = {name: {"type": "string", "description": doc} for name, doc in CONFIG.items()}
    return {
        "name": PACKAGE,
        "displayName": "AMI Auto-Backup",
        "version": version,
        "description": "AMI Auto-Backup for AWS Auto Scaling groups: scheduled images of the "
                       "newest healthy instance, promoted into the group's launch template.",
        "keywords": ["pulumi", "aws", "ami", "backup", "autoscaling", "category/cloud"],
        "license": "Apache-2.0",
        "config": {"variables": config},
        "provider": {
            "description": "The amibackup provider: where new backups go and with which "
                           "credentials.",
            "inputProperties": config,
            "properties": config,
        },
        "types": {
            PERSISTENCE_TOKEN: {
                "type": "object",
                "description": "The group's persistence settings.",
                "properties": {camel(f.name): prop(f) for f in PERSISTENCE_FIELDS},
            },
        },
        "resources": {TOKEN: resource_schema()},
        "language": {
            "nodejs": {"packageName": "@amibackup/pulumi", "packageDescription":
                       "AMI Auto-Backup for AWS Auto Scaling groups (Pulumi provider SDK)"},
            "go": {"importBasePath": "github.com/amibackup/amibackup/sdk/go/amibackup",
                   "generateResourceContainerTypes": False},
            "python": {"packageName": "pulumi_amibackup"},
            "csharp": {"rootNamespace": "AmiBackup"},
        },
    }


def schema_json(version: str = __version__) -> str:
    """The schema as the committed file `schema/schema.json` holds it."""
    return json.dumps(package_schema(version), indent=2, sort_keys=False) + "\n"
