"""One GetParameters instead of two GetParameter calls per cycle (issue 16).

A cycle reads two SSM parameters under its lock: the template's claim and the backup's
record. `read_ahead` fetches both in one GetParameters call on the first read of either,
and serves each once; anything else, and any later read, goes to AWS as before. A
parameter written meanwhile is read from AWS again.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from amibackup.runner.clients import Clients

MAX_NAMES = 10  # GetParameters takes at most 10 names


class _ReadAheadSsm:
    """An SSM client whose first read of each named parameter comes from one GetParameters."""

    def __init__(self, ssm: Any, names: list[str]) -> None:
        self._ssm = ssm
        self._names = list(dict.fromkeys(names))[:MAX_NAMES]
        self._values: dict[str, dict[str, Any] | None] | None = None

    def _load(self) -> dict[str, dict[str, Any] | None]:
        if self._values is None:
            answer = self._ssm.get_parameters(Names=self._names)
            found = {p["Name"]: p for p in answer.get("Parameters", [])}
            self._values = {name: found.get(name) for name in self._names}
        return self._values

    def get_parameter(self, **request: Any) -> dict[str, Any]:
        name = request.get("Name")
        plain = set(request) == {"Name"}  # WithDecryption etc.: ask AWS
        if plain and name in self._names and (self._values is None or name in self._values):
            value = self._load().pop(str(name))
            if value is None:
                raise ClientError({"Error": {"Code": "ParameterNotFound", "Message": ""}},
                                  "GetParameter")
            return {"Parameter": value}
        return self._ssm.get_parameter(**request)

    def put_parameter(self, **request: Any) -> Any:
        if self._values is not None:
            self._values.pop(request.get("Name", ""), None)
        elif request.get("Name") in self._names:
            self._names.remove(request["Name"])
        return self._ssm.put_parameter(**request)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._ssm, attribute)


class _ReadAhead(Clients):
    """The same clients, but SSM reads the named parameters ahead."""

    def __init__(self, base: Clients, names: list[str]) -> None:
        self.session, self.region, self.config = base.session, base.region, base.config
        self._base = base
        self._ssm = _ReadAheadSsm(base("ssm"), names)

    def __call__(self, service: str) -> Any:
        return self._ssm if service == "ssm" else self._base(service)


def read_ahead(clients: Clients, names: list[str | None]) -> Clients:
    """`clients` whose SSM reads `names` (the claim, the record) in one call."""
    return _ReadAhead(clients, [n for n in names if n])
