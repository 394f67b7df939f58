"""Fixtures of the events tests: a real HTTP server that receives webhooks."""

from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass, field

import pytest


@dataclass
class Receiver:
    """What the receiver got: (headers with lower-case names, body) per POST; `failures` answer 500 first."""

    url: str
    received: list[tuple[dict, bytes]] = field(default_factory=list)
    failures: int = 0


@pytest.fixture
def receiver():
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.failures > 0:
                state.failures -= 1
                self.send_response(500)
            else:
                state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()
