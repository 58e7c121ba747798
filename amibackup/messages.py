"""Warnings from the dynamic provider process to the user's terminal.

`pulumi.log.warn` does not reach the CLI from a dynamic provider: the SDK's provider
server configures the runtime without an engine, so it only prints to its stderr, which
the CLI keeps in its logs. The engine does pass its address to every provider plugin as
the last argument; a `Log` call there shows as a warning in `pulumi up`/`destroy`.
"""

from __future__ import annotations

import sys


def engine_address(argv: list[str]) -> str | None:
    """The engine's host address the CLI passes a provider plugin (host:port), if any."""
    for arg in reversed(argv[1:]):
        if not arg.startswith("-") and ":" in arg:
            return arg
    return None


def warn(message: str, argv: list[str] | None = None) -> bool:
    """Show `message` as a Pulumi warning; True when the engine took it, else on stderr."""
    return _log(message, "warning", argv)


def info(message: str, argv: list[str] | None = None) -> bool:
    """Show `message` as a Pulumi info line (e.g. what a preview looked up in AWS)."""
    return _log(message, "info", argv)


def _log(message: str, level: str, argv: list[str] | None) -> bool:
    address = engine_address(sys.argv if argv is None else argv)
    if address:
        import grpc
        from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

        try:
            with grpc.insecure_channel(address) as channel:
                severity = engine_pb2.WARNING if level == "warning" else engine_pb2.INFO
                engine_pb2_grpc.EngineStub(channel).Log(engine_pb2.LogRequest(
                    severity=severity, message=message, urn=""), timeout=10)
            return True
        except grpc.RpcError:
            pass
    print(f"{level}: {message}", file=sys.stderr, flush=True)
    return False
