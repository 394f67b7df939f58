"""Self-check of the real test servers (tests/support/servers.py) the rest of the suite relies on.

If these fail, failures elsewhere say nothing about nvr. No Django database needed.
"""

from __future__ import annotations

import itertools
import os
import socket
import time

import pytest
import redis

from tests.support.servers import (
    RedisServer,
    RtspServer,
    SilentTcpServer,
    have_rtsp_server,
)

cv2 = pytest.importorskip("cv2")

OPEN_TIMEOUT_MS = 5000


@pytest.fixture(scope="module")
def rtsp_ok() -> None:
    """Never skip silently: missing GStreamer pieces fail in CI and skip with the reason elsewhere."""
    ok, reason = have_rtsp_server()
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"required test dependency missing in CI: {reason}")
        pytest.skip(reason)


def open_capture(url: str) -> cv2.VideoCapture:
    return cv2.VideoCapture(
        url,
        cv2.CAP_FFMPEG,
        [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, OPEN_TIMEOUT_MS],
    )


def test_redis_server_set_get_and_restart_on_same_port() -> None:
    with RedisServer() as server:
        port = server.port
        assert server.url == f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(server.url)
        assert client.set("k", b"v")
        assert client.get("k") == b"v"

        server.restart()
        assert server.port == port
        assert client.ping()  # redis-py reconnects by itself
        assert client.get("k") is None  # no persistence: a restart is a clean Redis
        client.close()
    assert not server.ping()


def test_rtsp_server_serves_frames_of_the_requested_size(rtsp_ok: None) -> None:
    with RtspServer(width=320, height=240, fps=10, mounts=["/cam1", "/cam2"]) as server:
        assert server.startup_seconds is not None and server.startup_seconds < 20
        for mount in ("/cam1", "/cam2"):
            cap = open_capture(server.url(mount))
            try:
                assert cap.isOpened(), f"cannot open {server.url(mount)}; server stderr:\n{server.stderr}"
                frames = []
                for _ in range(5):
                    ok, frame = cap.read()
                    assert ok, f"read failed; server stderr:\n{server.stderr}"
                    frames.append(frame)
            finally:
                cap.release()
            assert all(f.shape == (240, 320, 3) for f in frames)
            assert any((a != b).any() for a, b in itertools.pairwise(frames)), "the picture should move"

        port = server.port
        server.restart()
        assert server.port == port
        cap = open_capture(server.url("/cam1"))
        try:
            ok, frame = cap.read()
            assert ok and frame.shape == (240, 320, 3)
        finally:
            cap.release()


def test_rtsp_server_requires_credentials_when_given(rtsp_ok: None) -> None:
    with RtspServer(width=320, height=240, fps=10, user="cam", password="s3cret") as server:
        for url in (server.url("/test"), server.url("/test", user="cam", password="wrong")):
            cap = open_capture(url)
            try:
                assert not cap.isOpened(), f"{url} opened without the right credentials"
            finally:
                cap.release()

        cap = open_capture(server.url("/test", user="cam", password="s3cret"))
        try:
            assert cap.isOpened(), f"right credentials refused; server stderr:\n{server.stderr}"
            ok, frame = cap.read()
            assert ok and frame.shape == (240, 320, 3)
        finally:
            cap.release()


def test_silent_tcp_server_accepts_and_never_sends() -> None:
    with SilentTcpServer() as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
            sock.sendall(b"OPTIONS rtsp://127.0.0.1/test RTSP/1.0\r\nCSeq: 1\r\n\r\n")
            sock.settimeout(1.0)
            began = time.monotonic()
            with pytest.raises(socket.timeout):
                sock.recv(1)
            assert time.monotonic() - began >= 0.9
        deadline = time.monotonic() + 2
        while server.accepted == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.accepted == 1
