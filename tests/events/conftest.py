"""Fixtures of the events tests: a real HTTP server that receives webhooks."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest


@dataclass
class Receiver:
    """What the receiver got: (headers with lower-case names, body) per request; `failures` answer 500 first,
    and with `redirect_to` set every request is answered 302 to that URL (and still recorded)."""

    url: str
    received: list[tuple[dict, bytes]] = field(default_factory=list)
    failures: int = 0
    redirect_to: str = ""
    methods: list[str] = field(default_factory=list)


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A real HTTP server on loopback that records what it receives."""
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.methods.append(self.command)
            if state.failures > 0:
                state.failures -= 1
                self.send_response(500)
            elif state.redirect_to:
                state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(302)
                self.send_header("Location", state.redirect_to)
            else:
                state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET = _answer

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver():
    with receiving() as state:
        yield state
