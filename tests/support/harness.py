"""Drive the dynamic provider the way the Pulumi engine does: over gRPC.

Starts `python -u -m pulumi.dynamic` (the process the engine starts through
`pulumi-resource-pulumi-python`), with boto3 in it pointed at a moto server, and
calls Configure/Check/Diff/Create/Update/Read/Delete with serialized properties.
Also used by bench/.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from amibackup.provider import AmiAutoBackupProvider
from devkit.scenarios import stop_process

TYPE = "pulumi-python:dynamic/amibackup:AmiAutoBackup"
PROVIDER_KEY = "__provider"
UNKNOWN = rpc.UNKNOWN


def urn(name: str) -> str:
    return f"urn:pulumi:test::amibackup::{TYPE}::{name}"


def to_struct(props: dict[str, Any]) -> struct_pb2.Struct:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(struct, keep_unknowns=True))


class ProviderClient:
    """A gRPC client of one provider process; properties in and out as plain dicts."""

    def __init__(self, port: int, provider: Any = None) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.serialized = serialize_provider(provider or AmiAutoBackupProvider())

    def with_provider(self, props: dict[str, Any]) -> dict[str, Any]:
        return {**props, PROVIDER_KEY: self.serialized}

    def configure(self, config: dict[str, str]) -> None:
        self.stub.Configure(provider_pb2.ConfigureRequest(
            variables=config, args=to_struct(config), acceptSecrets=False))

    def check(self, news: dict[str, Any], olds: dict[str, Any] | None = None,
              name: str = "b") -> tuple[dict[str, Any], list[tuple[str, str]]]:
        out = self.stub.Check(provider_pb2.CheckRequest(
            urn=urn(name), olds=to_struct(olds or {}), news=to_struct(self.with_provider(news))))
        inputs = from_struct(out.inputs)
        inputs.pop(PROVIDER_KEY, None)
        return inputs, [(f.property, f.reason) for f in out.failures]

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any], name: str = "b"
             ) -> provider_pb2.DiffResponse:
        return self.stub.Diff(provider_pb2.DiffRequest(
            id=id_, urn=urn(name), olds=to_struct(self.with_provider(olds)),
            news=to_struct(self.with_provider(news))))

    def create(self, props: dict[str, Any], name: str = "b") -> tuple[str, dict[str, Any]]:
        out = self.stub.Create(provider_pb2.CreateRequest(
            urn=urn(name), properties=to_struct(self.with_provider(props))))
        return out.id, self._strip(from_struct(out.properties))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any], name: str = "b"
               ) -> dict[str, Any]:
        out = self.stub.Update(provider_pb2.UpdateRequest(
            id=id_, urn=urn(name), olds=to_struct(self.with_provider(olds)),
            news=to_struct(self.with_provider(news))))
        return self._strip(from_struct(out.properties))

    def read(self, id_: str, props: dict[str, Any], name: str = "b"
             ) -> tuple[str, dict[str, Any]]:
        out = self.stub.Read(provider_pb2.ReadRequest(
            id=id_, urn=urn(name), properties=to_struct(self.with_provider(props))))
        return out.id, self._strip(from_struct(out.properties))

    def delete(self, id_: str, props: dict[str, Any], name: str = "b") -> None:
        self.stub.Delete(provider_pb2.DeleteRequest(
            id=id_, urn=urn(name), properties=to_struct(self.with_provider(props))))

    @staticmethod
    def _strip(props: dict[str, Any]) -> dict[str, Any]:
        props.pop(PROVIDER_KEY, None)
        return props


@contextmanager
def served_port(argv: list[str], env: dict[str, str]) -> Iterator[int]:
    """Start a plugin server as the engine does; the port it prints first (stopped after)."""
    proc = subprocess.Popen(argv, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"{argv[0]} did not print its port: {line!r} {err}")
        yield int(line)
    finally:
        stop_process(proc)


@contextmanager
def provider_process(env: dict[str, str], module: str = "pulumi.dynamic",
                     provider: Any = None) -> Iterator[ProviderClient]:
    """Start the dynamic provider server as the engine would and connect to it.

    `module` "devkit.localaws.enforced_provider" runs the same server under an enforced IAM
    policy (see that module for the environment it reads). `provider`: another dynamic
    provider than amibackup's (the benchmark's no-op baseline).
    """
    with served_port([sys.executable, "-u", "-m", module], env) as port:
        client = ProviderClient(port, provider)
        grpc.channel_ready_future(client.channel).result(timeout=30)
        yield client
        client.channel.close()
