"""uvicorn's HTTP protocol with a bounded kernel send buffer per connection.

uvicorn already waits for its own buffer to drain (so a stalled viewer cannot grow
the process's memory), but Linux autotunes a socket's send buffer up to several MB:
a slow viewer would then sit seconds behind live, and the transport's default
high-water mark lets two frames queue in the process. A fixed SO_SNDBUF and a small
write buffer keep what is queued for one viewer to about one frame, so "newest frame
wins" holds down to the socket (measured in tests/streaming/test_fanout.py). Used by scripts/serve-web.sh as `--http nvr.server:HttpProtocol`.
"""
from __future__ import annotations

import asyncio
import os
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

SEND_BUFFER_BYTES = int(os.environ.get("NVR_STREAM_SNDBUF", 64 * 1024))
# uvicorn's own buffer pauses the response above this many bytes (the default lets two frames queue).
WRITE_BUFFER_HIGH = int(os.environ.get("NVR_STREAM_WRITE_BUFFER", 16 * 1024))


class HttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and SEND_BUFFER_BYTES > 0:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
            except OSError:
                pass
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        super().connection_made(transport)
