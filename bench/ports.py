"""Free local ports for the processes a benchmark or a test starts."""

from __future__ import annotations

import socket

_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never one this process handed out before: ports picked
    together and bound later (a stack's notifier, api and gateway) could otherwise be the
    same one, and a server would find another's listener on its port."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
