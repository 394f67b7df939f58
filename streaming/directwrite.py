"""The direct-write contract between nvr's HTTP server protocol and the stream fast path.

A server that can let the application write already framed body bytes to a connection puts a
`DirectWrite` into the request scope's extensions under `DIRECT_WRITE`. nvr.server's uvicorn
protocol does; under any other server (daphne, Django's test client) the extension is absent and
streams go out through ASGI `send`. It lives here, not in nvr.server, so that stream code never
imports uvicorn (and runs under daphne without it).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Mapping
from typing import Any, Protocol

DIRECT_WRITE = "nvr.direct_write"  # the scope extension's name


class ResponseCycle(Protocol):
    """What DirectWrite needs of the server's response cycle."""

    chunked_encoding: bool | None


class DirectWrite:
    """A response's connection, for an app that writes its body bytes itself.

    After sending the response head (and any body) through ASGI, the app may write already
    framed body bytes to `transport`, chunk-encoded when `chunked` says so, and must end the
    response through ASGI as usual. Writing only while `transport.get_write_buffer_size()` is 0
    keeps the server's guarantee that a stalled reader cannot grow the process.
    """

    __slots__ = ("_cycle", "transport")

    def __init__(self, transport: asyncio.Transport, cycle: ResponseCycle) -> None:
        self.transport, self._cycle = transport, cycle

    @property
    def chunked(self) -> bool:
        """Whether the response uses chunked transfer encoding (known once its head was sent)."""
        return bool(self._cycle.chunked_encoding)


def connection_of(scope: Mapping[str, Any]) -> asyncio.Transport | None:
    """The request's connection, when the server gives it (nvr.server does, for GET): to abort a response cut short."""
    direct = (scope.get("extensions") or {}).get(DIRECT_WRITE)
    return direct.transport if isinstance(direct, DirectWrite) else None


def reset(transport: asyncio.Transport) -> None:
    """End a connection now, as a reset: a response cut short (deadline, revocation) ends as a broken transfer.

    `abort()` alone closes the socket, and the kernel still delivers what it holds before its FIN: a
    client reading slowly went on receiving the cut clip for 1.4 s more (up to a send buffer at its
    pace), and a stalled one's buffer stayed in the kernel. SO_LINGER 0 makes the close a reset.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass  # already closed
    transport.abort()
