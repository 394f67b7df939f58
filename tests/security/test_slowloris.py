"""Strangers cannot hold connections: an unfinished request head is closed, connections per process are capped.

Before, a connection that sent nothing, or trickled its head, stayed open for good (slowloris).
Against a real uvicorn with nvr's protocol; the time limit never touches a stream that is flowing.
"""

from __future__ import annotations

import socket
import sys
import time

import httpx
import pytest

from tests.factories import make_camera, make_token, make_user
from tests.security.test_open_responses import _publishing
from tests.support.processes import ROOT, ManagedProcess, child_env, web_server
from tests.support.waiting import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def closed_after(sock: socket.socket, limit: float) -> float | None:
    """Seconds until the server closes `sock` (None if it stays open `limit` seconds)."""
    sock.settimeout(0.2)
    began = time.monotonic()
    while time.monotonic() - began < limit:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - began
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - began
    return None


def test_silent_and_trickling_connections_are_closed_and_streams_are_not(redis_url):
    admin = make_user("boss", is_superuser=True, is_staff=True)
    make_camera("front")
    _, token = make_token(user=admin)
    stop = _publishing(redis_url, "front")
    server = web_server(redis_url, NVR_HEAD_TIMEOUT="1").start()
    try:
        silent = socket.create_connection(("127.0.0.1", server.port))
        trickle = socket.create_connection(("127.0.0.1", server.port))
        trickle.sendall(b"GET /cameras/front/stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        assert (closed_after(silent, 5) or 99) < 3
        assert (closed_after(trickle, 5) or 99) < 3

        received = 0
        began = time.monotonic()
        with httpx.stream("GET", f"{server.url}/cameras/front/stream.mjpg?token={token}", timeout=10) as response:
            for chunk in response.iter_raw():
                received += chunk.count(b"--frame")
                if time.monotonic() - began > 4:
                    break
        assert received >= 10, received  # four seconds of a flowing stream, well past the 1 s head limit
    finally:
        stop.set()
        server.stop()


def test_connections_per_process_are_capped(redis_url):
    admin = make_user("boss", is_superuser=True, is_staff=True)
    make_camera("front")
    _, token = make_token(user=admin)
    stop = _publishing(redis_url, "front")
    port = free_port()
    env = child_env(redis_url, PY=sys.executable, PORT=str(port), HOST="127.0.0.1", NVR_MAX_CONNECTIONS="5")
    server = ManagedProcess("web-serve-sh", [str(ROOT / "scripts" / "serve-web.sh")], env, port).start()
    try:
        streams = []
        with httpx.Client(timeout=10) as client:
            for _ in range(4):
                request = client.build_request(
                    "GET", f"http://127.0.0.1:{port}/cameras/front/stream.mjpg?token={token}"
                )
                streams.append(client.send(request, stream=True))
            time.sleep(0.5)
            beyond = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            for stream in streams:
                stream.close()
        assert [s.status_code for s in streams] == [200] * 4  # uvicorn counts the refused connection too: 5 = 4 open
        assert beyond.status_code == 503
        time.sleep(1.0)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200  # slots come back
    finally:
        stop.set()
        server.stop()
