"""A dead, late or silent camera never hangs the others and comes back on its own.

Real GStreamer RTSP cameras, a TCP server that accepts and never answers, the capture
supervisor and uvicorn, watched by viewers over HTTP. Figures are printed (run with -s).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.factories import make_camera, make_token, make_user
from tests.reliability.helpers import StreamLog, watch
from tests.support.frames import collect_frames, wait_for_status
from tests.support.servers import RtspServer, SilentTcpServer, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BACKOFF_CAP = 2.0  # the capture_process fixture's --backoff-cap


def online(status: dict) -> bool:
    return status["state"] == "online"


@pytest.fixture
def rtsp_camera(rtsp_available):
    server = RtspServer(mounts=("/gate",), width=320, height=240, fps=15)
    server.start()
    yield server
    server.stop()


def test_dead_rtsp_camera_goes_offline_spares_the_others_and_returns_by_itself(
    rtsp_camera, redis_url, live_web, capture_process
):
    admin = make_user("boss", is_superuser=True)
    make_camera("gate", kind="rtsp", source=rtsp_camera.url("/gate"), max_fps=10)
    make_camera("pattern", source="320x240", max_fps=10)
    _, token = make_token(user=admin)
    for slug in ("gate", "pattern"):
        wait_for_status(redis_url, slug, online, 20)

    def url(slug: str) -> str:
        return f"{live_web.url}/cameras/{slug}/stream.mjpg?token={token}"

    async def scenario():
        marks: dict[str, float] = {}
        gate = [StreamLog() for _ in range(2)]
        pattern = [StreamLog() for _ in range(3)]
        async with httpx.AsyncClient(timeout=30) as client:
            until = time.time() + 90  # a bound; the viewers are cancelled below
            viewers = [asyncio.create_task(watch(client, url("gate"), log, until)) for log in gate]
            viewers += [asyncio.create_task(watch(client, url("pattern"), log, until)) for log in pattern]
            await asyncio.sleep(1.0)
            marks["baseline"] = time.time()
            await asyncio.sleep(5.0)
            marks["kill"] = time.time()
            await asyncio.to_thread(rtsp_camera.kill)  # SIGKILL: no RTSP TEARDOWN, no goodbye
            await asyncio.to_thread(wait_for_status, redis_url, "gate", lambda s: s["state"] == "offline", 10)
            marks["offline"] = time.time()
            await asyncio.sleep(max(marks["kill"] + 7.0 - time.time(), 0))
            marks["restart"] = time.time()
            await asyncio.to_thread(rtsp_camera.start)  # same port; nobody touches nvr
            marks["ready"] = time.time()
            await asyncio.to_thread(wait_for_status, redis_url, "gate", online, 20)
            marks["online"] = time.time()
            await asyncio.sleep(2.0)
            marks["end"] = time.time()
            for viewer in viewers:
                viewer.cancel()
            await asyncio.gather(*viewers, return_exceptions=True)
        return marks, gate, pattern

    marks, gate, pattern = asyncio.run(scenario())
    kill, ready = marks["kill"], marks["ready"]
    offline_after = marks["offline"] - kill
    card_after = [log.first_after(kill, offline=True) for log in gate]
    assert all(card_after), "a viewer of the dead camera never saw the offline frame"
    card_after = [part.received - kill for part in card_after]
    back_after = []
    for log in gate:
        assert not log.error, log.error
        assert not log.between(kill + 1.0, ready), "live frames from a dead camera?"
        first = log.first_after(ready)
        assert first is not None and first.ts > ready, "no live frame after the camera came back"
        back_after.append(first.received - ready)
    ratios = []
    for log in pattern:
        assert not log.error, log.error
        before, during = log.fps(marks["baseline"], kill), log.fps(kill, marks["restart"])
        ratios.append(during / before)
    print(
        f"\nRTSP camera killed: status offline after {offline_after:.2f} s, viewers' offline frame after "
        f"{max(card_after):.2f} s; camera back {marks['ready'] - marks['restart']:.1f} s after restart, "
        f"live frames to viewers {max(back_after):.2f} s after it was ready (backoff cap {BACKOFF_CAP:g} s); "
        f"other camera's viewer fps during the outage / before: {', '.join(f'{r:.3f}' for r in ratios)}"
    )
    assert offline_after < 5.0
    assert max(card_after) < 5.0
    assert all(0.9 <= ratio <= 1.1 for ratio in ratios), ratios
    assert max(back_after) < BACKOFF_CAP + 3.0  # one backoff wait, then RTSP setup and the first keyframe


def test_unreachable_and_silent_cameras_are_retried_without_hanging_anything(
    rtsp_available, redis_url, supervisor_thread
):
    port = free_port()  # where the late camera will appear
    silent = SilentTcpServer()
    late_server = RtspServer(port=port, mounts=("/late",), width=320, height=240, fps=15)
    try:
        make_camera("late", kind="rtsp", source=f"rtsp://127.0.0.1:{port}/late", max_fps=10)
        make_camera("mute", kind="rtsp", source=silent.url("rtsp", "/mute"), max_fps=10)
        make_camera("pattern", source="320x240", max_fps=10)
        started = time.monotonic()
        supervisor = supervisor_thread(backoff_cap=4.0, poll_seconds=0.5)
        status = wait_for_status(redis_url, "late", lambda s: s["state"] == "offline" and s["last_error"], 15)
        assert "connection refused" in status["last_error"]

        # While one camera is unreachable and one hangs after connecting, the third keeps its rate.
        frames = collect_frames(redis_url, "pattern", 8.0)
        pattern_fps = len(frames) / 8.0
        assert pattern_fps >= 9.0, pattern_fps

        time.sleep(max(started + 20.0 - time.monotonic(), 0))
        late_server.start()
        appeared = time.monotonic()
        wait_for_status(redis_url, "late", online, 4.0 + 10)
        late_back = time.monotonic() - appeared
        assert collect_frames(redis_url, "late", 1.0)

        mute = wait_for_status(redis_url, "mute", lambda s: s["state"] == "offline" and s["reconnects"] >= 2, 5)
        loop = supervisor.loops["mute"]
        assert loop.is_alive() and time.monotonic() - loop.last_progress < 15, "the silent camera's loop hangs"
        assert silent.accepted >= 2  # it connected, gave up on the silence, and tried again
        loops = list(supervisor.loops.values())

        stopping = time.monotonic()
        supervisor.stop()
        for thread in loops:
            thread.join(10)
        stop_took = time.monotonic() - stopping
        assert not any(thread.is_alive() for thread in loops), "a capture loop did not stop"
        print(
            f"\nlate camera online {late_back:.2f} s after it appeared ({time.monotonic() - started:.0f} s after "
            f"start); silent camera: {mute['reconnects']} reconnects, error {mute['last_error']!r}; "
            f"other camera {pattern_fps:.1f} fps meanwhile; supervisor stopped in {stop_took:.2f} s"
        )
        assert late_back < 4.0 + 3.0  # one backoff wait (cap 4 s), then RTSP setup
        assert stop_took < 8.0  # even with a loop blocked in a 5 s open against the silent server
    finally:
        late_server.stop()
        silent.stop()
