"""A moto server whose every answer takes at least LATENCY_MS: AWS's round trip, modelled.

moto answers in a few milliseconds of CPU; AWS answers DeregisterImage/DeleteSnapshot in
tens to hundreds of milliseconds, mostly waiting. The sleep releases the GIL, as waiting
on the network does, so overlapping calls overlap here as they would against AWS.

    python bench/latency_server.py PORT LATENCY_MS
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def with_latency(app: Callable[..., Iterable[bytes]], seconds: float) -> Callable[..., Any]:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        time.sleep(seconds)
        return app(environ, start_response)

    return wrapped


def main() -> None:
    port, latency_ms = int(sys.argv[1]), float(sys.argv[2])
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = with_latency(DomainDispatcherApplication(create_backend_app), latency_ms / 1000)
    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
