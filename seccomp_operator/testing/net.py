"""Loopback helpers for tests, the demo and benchmarks."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback TCP port the kernel considers unused right now (a caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
