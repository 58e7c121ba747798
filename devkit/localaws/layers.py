"""Where the strict local AWS's fidelity layers are installed (moto made to refuse what AWS refuses).

Today a no-op: the layers (issue 9) are added here. `moto_server()` calls `install_layers()`
when a server starts, so every local AWS the dev kit starts is the strict one.
"""

from __future__ import annotations


def install_layers() -> None:
    """Install every fidelity layer into this process's moto; safe to call more than once."""
