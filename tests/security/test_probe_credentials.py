"""Probes send a camera's password only in answer to the server's challenge, Digest before Basic.

Before, the RTSP probe sent `Authorization: Basic` (the password in the clear) with its first
request, to whatever server the camera's address named.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from cameras.probes import probe_http, probe_rtsp


@contextmanager
def rtsp_server(challenges: list[str]) -> Iterator[tuple[int, list[str]]]:
    """A one-thread RTSP responder: 401 with `challenges` unless a request carries credentials."""
    seen: list[str] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve() -> None:
        for _ in range(2):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                request = data.decode()
                seen.append(request)
                cseq = next(line for line in request.split("\r\n") if line.startswith("CSeq"))
                if "\r\nAuthorization:" in request:
                    conn.sendall(f"RTSP/1.0 200 OK\r\n{cseq}\r\n\r\n".encode())
                else:
                    lines = "".join(f"WWW-Authenticate: {c}\r\n" for c in challenges)
                    conn.sendall(f"RTSP/1.0 401 Unauthorized\r\n{cseq}\r\n{lines}\r\n".encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        listener.close()
        thread.join(5)


DIGEST = 'Digest realm="cam", nonce="abc123"'
BASIC = 'Basic realm="cam"'


@pytest.mark.parametrize(
    ("challenges", "scheme"),
    [([DIGEST], "Digest"), ([BASIC], "Basic"), ([BASIC, DIGEST], "Digest"), ([DIGEST, BASIC], "Digest")],
)
def test_the_rtsp_probe_answers_the_challenge_and_never_volunteers_basic(challenges, scheme):
    with rtsp_server(challenges) as (port, seen):
        assert probe_rtsp(f"rtsp://127.0.0.1:{port}/live", "user", "MARKER-pw") is None
    assert len(seen) == 2, seen
    assert "Authorization" not in seen[0], "credentials sent before the server asked"
    answer = next(line for line in seen[1].split("\r\n") if line.startswith("Authorization:"))
    assert answer.split()[1] == scheme, answer


def test_the_rtsp_probe_sends_nothing_to_a_server_that_asks_for_no_credentials():
    with rtsp_server(['Bearer realm="x"']) as (port, seen):
        assert probe_rtsp(f"rtsp://127.0.0.1:{port}/live", "user", "MARKER-pw") == "auth"
    assert len(seen) == 1 and "Authorization" not in seen[0]


@pytest.mark.parametrize(("challenge", "scheme"), [(DIGEST + ', qop="auth"', "Digest"), (BASIC, "Basic")])
def test_the_http_probe_answers_the_challenge_only(challenge, scheme):
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            if self.headers.get("Authorization"):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            else:
                self.send_response(401)
                self.send_header("WWW-Authenticate", challenge)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert probe_http(f"http://127.0.0.1:{server.server_address[1]}/video", "user", "MARKER-pw") is None
    finally:
        server.shutdown()
        server.server_close()
    assert seen[0] is None, "credentials sent before the server asked"
    assert seen[-1] is not None and seen[-1].split()[0] == scheme
