"""Drive the `pulumi-resource-amibackup` plugin the way the Pulumi engine does: over gRPC.

Starts the console script as the engine would (`pulumi-resource-amibackup <engine
address>`), with boto3 in it pointed at a moto server, and calls its RPCs with camelCase
property maps (`PropertyValue`s, so secrets and unknowns travel as the engine sends them).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.runtime import rpc
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

from amibackup.plugin.package_schema import TOKEN
from tests.support.harness import served_port

PLUGIN = Path(sys.executable).parent / "pulumi-resource-amibackup"
UNKNOWN = rpc.UNKNOWN
Props = dict[str, PropertyValue]


def urn(name: str, stack: str = "test", project: str = "proj") -> str:
    return f"urn:pulumi:{stack}::{project}::{TOKEN}::{name}"


def wire(value: Any, secret: bool = False) -> PropertyValue:
    """A plain value as the engine sends it (ints as floats)."""
    if isinstance(value, PropertyValue):
        return value
    if isinstance(value, Mapping):
        out = PropertyValue({k: wire(v) for k, v in value.items()})
    elif isinstance(value, list | tuple):
        out = PropertyValue([wire(v) for v in value])
    elif isinstance(value, int) and not isinstance(value, bool):
        out = PropertyValue(float(value))
    else:
        out = PropertyValue(value)
    return out.with_secret(secret) if secret else out


def props(**values: Any) -> Props:
    return {k: wire(v) for k, v in values.items()}


def plain(values: Mapping[str, PropertyValue]) -> dict[str, Any]:
    """Values without their secret marks (see `secret_keys`)."""
    def one(v: PropertyValue) -> Any:
        if isinstance(v.value, Mapping):
            return {k: one(x) for k, x in v.value.items()}
        if isinstance(v.value, tuple):
            return [one(x) for x in v.value]
        return v.value
    return {k: one(v) for k, v in values.items()}


def secret_keys(values: Mapping[str, PropertyValue]) -> set[str]:
    return {k for k, v in values.items() if v.contains_secret()}


class PluginClient:
    """A gRPC client of one plugin process."""

    def __init__(self, port: int) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def info(self) -> plugin_pb2.PluginInfo:
        return self.stub.GetPluginInfo(empty_pb2.Empty())

    def schema(self) -> str:
        return str(self.stub.GetSchema(provider_pb2.GetSchemaRequest(version=0)).schema)

    def configure(self, **config: str) -> None:
        self.stub.Configure(provider_pb2.ConfigureRequest(
            variables={f"amibackup:config:{k}": v for k, v in config.items()},
            args=PropertyValue.marshal_map(props(**config)), acceptSecrets=True,
            acceptResources=True))

    def check(self, news: Props, olds: Props | None = None, name: str = "web-backup"
              ) -> tuple[Props, list[tuple[str, str]]]:
        out = self.stub.Check(provider_pb2.CheckRequest(
            urn=urn(name), olds=PropertyValue.marshal_map(olds or {}),
            news=PropertyValue.marshal_map(news)))
        return (PropertyValue.unmarshal_map(out.inputs),
                [(f.property, f.reason) for f in out.failures])

    def diff(self, id_: str, olds: Props, news: Props, name: str = "web-backup"
             ) -> provider_pb2.DiffResponse:
        return self.stub.Diff(provider_pb2.DiffRequest(
            id=id_, urn=urn(name), olds=PropertyValue.marshal_map(olds),
            news=PropertyValue.marshal_map(news)))

    def create(self, properties: Props, preview: bool = False, name: str = "web-backup"
               ) -> tuple[str, Props]:
        out = self.stub.Create(provider_pb2.CreateRequest(
            urn=urn(name), properties=PropertyValue.marshal_map(properties), preview=preview))
        return out.id, PropertyValue.unmarshal_map(out.properties)

    def update(self, id_: str, olds: Props, news: Props, preview: bool = False,
               name: str = "web-backup") -> Props:
        out = self.stub.Update(provider_pb2.UpdateRequest(
            id=id_, urn=urn(name), olds=PropertyValue.marshal_map(olds),
            news=PropertyValue.marshal_map(news), preview=preview))
        return PropertyValue.unmarshal_map(out.properties)

    def read(self, id_: str, properties: Props, inputs: Props, name: str = "web-backup"
             ) -> tuple[str, Props, Props]:
        out = self.stub.Read(provider_pb2.ReadRequest(
            id=id_, urn=urn(name), properties=PropertyValue.marshal_map(properties),
            inputs=PropertyValue.marshal_map(inputs)))
        return (out.id, PropertyValue.unmarshal_map(out.properties),
                PropertyValue.unmarshal_map(out.inputs))

    def delete(self, id_: str, properties: Props, name: str = "web-backup") -> None:
        self.stub.Delete(provider_pb2.DeleteRequest(
            id=id_, urn=urn(name), properties=PropertyValue.marshal_map(properties)))


@contextmanager
def plugin_process(env: dict[str, str]) -> Iterator[PluginClient]:
    """Start the plugin as the engine does (its address last: none listens in tests)."""
    with served_port([str(PLUGIN), "127.0.0.1:9"], env) as port:
        client = PluginClient(port)
        grpc.channel_ready_future(client.channel).result(timeout=30)
        yield client
        client.channel.close()
