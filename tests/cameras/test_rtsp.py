"""Capture from a real RTSP server (GStreamer, H.264): frames, credentials, outages, recovery."""

from __future__ import annotations

import time

import pytest

from tests.factories import make_camera
from tests.support.frames import collect_frames, decode, wait_for_status
from tests.support.servers import RtspServer, SilentTcpServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def rtsp(rtsp_available):
    server = RtspServer(width=640, height=480, fps=15, user="viewer", password="MARKER-rtsp-pw")
    server.start()
    yield server
    server.stop()


def test_rtsp_frames_arrive_at_the_expected_size_within_the_fps_cap(rtsp, redis_url, supervisor_thread):
    make_camera("gate", kind="rtsp", source=rtsp.url("/test"), username="viewer", password="MARKER-rtsp-pw", max_fps=5)
    supervisor_thread()
    started = time.monotonic()
    wait_for_status(redis_url, "gate", lambda s: s["state"] == "online", 20)
    print(f"RTSP camera online after {time.monotonic() - started:.2f} s")
    frames = collect_frames(redis_url, "gate", 3.0)
    assert 11 <= len(frames) <= 17, len(frames)
    assert decode(frames[-1][1].jpeg).shape == (480, 640, 3)
    ages = sorted(received - frame.ts for received, frame in frames)
    print(f"frame age at receipt: median {ages[len(ages) // 2] * 1000:.1f} ms")


def test_wrong_credentials_give_an_error_status_without_the_password(rtsp, redis_url, supervisor_thread, caplog):
    make_camera("gate", kind="rtsp", source=rtsp.url("/test"), username="viewer", password="MARKER-wrong-pw")
    supervisor_thread()
    status = wait_for_status(redis_url, "gate", lambda s: s["state"] == "error", 30)
    assert "refused the username or password" in status["last_error"]
    assert "MARKER" not in str(status)
    assert "MARKER" not in caplog.text


def test_killed_rtsp_server_goes_offline_and_comes_back_by_itself(rtsp, redis_url, supervisor_thread):
    make_camera("gate", kind="rtsp", source=rtsp.url("/test"), username="viewer", password="MARKER-rtsp-pw", max_fps=5)
    make_camera("pattern", source="160x120", max_fps=5)
    supervisor_thread()
    wait_for_status(redis_url, "gate", lambda s: s["state"] == "online", 20)
    rtsp.kill()
    killed = time.monotonic()
    wait_for_status(redis_url, "gate", lambda s: s["state"] == "offline", 10)
    offline_after = time.monotonic() - killed
    assert wait_for_status(redis_url, "pattern", lambda s: s["state"] == "online", 1)  # the other camera is fine
    rtsp.restart()
    restarted = time.monotonic()
    wait_for_status(redis_url, "gate", lambda s: s["state"] == "online", 20)
    back_after = time.monotonic() - restarted
    print(f"offline {offline_after:.1f} s after the kill; online {back_after:.1f} s after the restart")
    assert offline_after < 8
    assert collect_frames(redis_url, "gate", 1.5)


def test_camera_unreachable_at_start_comes_online_when_it_appears(rtsp_available, redis_url, supervisor_thread):
    server = RtspServer(width=320, height=240, fps=15)
    server.start()
    port = server.port
    server.stop()
    make_camera("late", kind="rtsp", source=f"rtsp://127.0.0.1:{port}/test", max_fps=5)
    supervisor_thread()
    status = wait_for_status(redis_url, "late", lambda s: s["state"] == "offline" and s["last_error"], 15)
    assert "connection refused" in status["last_error"]
    server = RtspServer(port=port, width=320, height=240, fps=15)
    server.start()
    try:
        wait_for_status(redis_url, "late", lambda s: s["state"] == "online", 25)
    finally:
        server.stop()


def test_silent_server_is_detected_and_retried_without_hanging(redis_url, supervisor_thread):
    silent = SilentTcpServer()
    try:
        make_camera("mute", kind="rtsp", source=silent.url("rtsp", "/test"), max_fps=5)
        supervisor = supervisor_thread()
        status = wait_for_status(redis_url, "mute", lambda s: s["state"] == "offline" and s["reconnects"] >= 1, 30)
        assert status["last_error"]
        assert supervisor.loops["mute"].is_alive()
        assert silent.accepted >= 2  # it connected, gave up, and tried again
    finally:
        silent.stop()
