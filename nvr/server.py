"""uvicorn's HTTP protocol with a bounded kernel send buffer per connection.

uvicorn already waits for its own buffer to drain (so a stalled viewer cannot grow
the process's memory), but Linux autotunes a socket's send buffer up to several MB:
a slow viewer would then sit seconds behind live, and the transport's default
high-water mark lets two frames queue in the process. A fixed SO_SNDBUF and a small
write buffer keep what is queued for one viewer to about one frame, so "newest frame
wins" holds down to the socket (measured in tests/streaming/test_fanout.py). What a client
may send before its request is handled is bounded too (MAX_HEAD_BYTES, MAX_URL_BYTES).
Every GET also carries a DirectWrite (streaming.directwrite) in its scope's extensions, through which the stream
fast path lets the hub write parts to the connection itself (one loop per frame instead
of one task per viewer). Used by scripts/serve-web.sh as `--http nvr.server:HttpProtocol`.

A reach into uvicorn's internals, kept for its measured gain: this subclasses HttpToolsProtocol,
overrides its parser callbacks and reads `self.cycle`, `self.scope`, `self.url`,
`cycle.response_complete` and `cycle.chunked_encoding`, none of them public API. Writing each
frame to every ready viewer's transport instead of waking a task per viewer took the web process
from 2.8x the bare-asyncio floor's CPU per frame (26 µs at 2,000 viewers) to 1.0x (bench/README.md,
point 5; results of 2026-12-01), and the bounded buffers are what keep a stalled viewer's memory flat.
uvicorn is pinned to the versions tested (requirements.txt), and tests/streaming/test_library_reach.py
fails at once if one of those names moves.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from streaming.directwrite import DIRECT_WRITE, DirectWrite

SEND_BUFFER_BYTES = int(os.environ.get("NVR_STREAM_SNDBUF", 64 * 1024))
# uvicorn's own buffer pauses the response above this many bytes (the default lets two frames queue).
WRITE_BUFFER_HIGH = int(os.environ.get("NVR_STREAM_WRITE_BUFFER", 16 * 1024))
# httptools buffers an unfinished request head without limit: one client sending an endless
# header grew the process by every byte it sent (measured: 4 such clients, +200 MB). Browsers
# send a few KB; a stream URL with a token is about 100 bytes.
MAX_HEAD_BYTES = 64 * 1024  # request line + headers, else 431
MAX_URL_BYTES = 8 * 1024  # path + query string, else 414
LINGER_SECONDS = 2.0  # after refusing, input is read and dropped this long so the client sees the answer
# A connection that has not completed its request head this long after it opened (or after the first
# byte of its next request) is closed: silence or a trickled head holds a socket and a slot forever
# otherwise (slowloris). Browsers send a head in one packet; a flowing stream is never timed.
HEAD_TIMEOUT = float(os.environ.get("NVR_HEAD_TIMEOUT", 10.0))
_REFUSALS = {414: b"HTTP/1.1 414 URI Too Long\r\n", 431: b"HTTP/1.1 431 Request Header Fields Too Large\r\n"}


class HttpProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and SEND_BUFFER_BYTES > 0:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
            except OSError:
                pass
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        self._reading_head, self._head_bytes, self._refused = True, 0, False
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._start_head_timer()

    def _start_head_timer(self) -> None:
        if HEAD_TIMEOUT > 0:
            self._head_timer = asyncio.get_running_loop().call_later(HEAD_TIMEOUT, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._reading_head and not self.transport.is_closing():
            self.logger.info("Connection closed: no complete request head within %.0f s.", HEAD_TIMEOUT)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # dropped until the lingering close
        if self._reading_head:
            if self._head_bytes == 0 and self._head_timer is None:
                self._start_head_timer()  # the first byte of a keep-alive connection's next request
            self._head_bytes += len(data)
        super().data_received(data)
        # Checked after parsing: a chunk that completes the head and carries a body is fine.
        if self._reading_head and self._head_bytes > MAX_HEAD_BYTES and not self._refused:
            self._refuse(431, f"request head over {MAX_HEAD_BYTES} bytes")

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._stop_head_timer()
        if self._refused:
            return
        if len(self.url) > MAX_URL_BYTES:
            self._refuse(414, f"URL over {MAX_URL_BYTES} bytes")  # before the application sees it
            return
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope and self.scope.get("method") == "GET":
            # The app's task was created but has not run yet: it sees the extension.
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[DIRECT_WRITE] = DirectWrite(self.transport, cycle)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._reading_head, self._head_bytes = True, 0  # a keep-alive connection's next request

    def _refuse(self, status: int, reason: str) -> None:
        """Answer `status` and close, without the request reaching the application."""
        self.logger.warning("Request refused (%d): %s.", status, reason)
        self._refused = True
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # never write into a response being sent
            return
        body = reason.encode() + b".\n"
        self.transport.write(
            _REFUSALS[status] + b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        # Closing with unread input would send a reset that can overtake the answer: half-close,
        # keep reading (and dropping) for a moment, then close.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)
