"""Whatever clients do, the web process's memory stays bounded and nothing is left behind.

- 50 viewers that never read, held a full minute (the write deadline set past it, so only
  backpressure bounds memory), while 20 normal viewers watch the same camera.
- 5,000 connect, read one frame, disconnect cycles: then count what is left (viewer slots,
  feeds, asyncio tasks, Redis subscriptions, sockets) and compare memory with the start.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.factories import make_camera, make_token, make_user
from tests.reliability.helpers import (
    StreamLog,
    established_connections,
    full_log,
    gather_bounded,
    metric_total,
    numsub,
    scrape,
    server_errors,
    wait_until,
    watch,
)
from tests.support.frames import names, wait_for_status
from tests.support.mjpeg import RawViewer
from tests.support.processes import web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MB = 2**20


@pytest.fixture
def token(redis_url, capture_process) -> str:
    """A superuser's stream token; capture runs."""
    _, token = make_token(user=make_user("boss", is_superuser=True))
    return token


STALLED, NORMAL, HOLD = 50, 20, 60.0


@pytest.mark.timeout(240)
def test_fifty_stalled_viewers_for_a_minute_bound_memory_and_spare_normal_viewers(token, redis_url):
    make_camera("big", source="1280x720", max_fps=10)  # ~100 KB frames: what a stalled viewer could pile up
    wait_for_status(redis_url, "big", lambda s: s["state"] == "online", 15)
    server = web_server(redis_url, NVR_STREAM_WRITE_DEADLINE="300").start()
    path = f"/cameras/big/stream.mjpg?token={token}"
    try:

        async def scenario():
            async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=NORMAL + 5)) as client:
                warm = StreamLog()
                await watch(client, server.url + path, warm, time.time() + 2.0, classify=False)
                await asyncio.sleep(1.0)
                before = server.rss_bytes()
                stalled = [RawViewer(server.port, path, rcvbuf=4096) for _ in range(STALLED)]
                await asyncio.gather(*(viewer.connect() for viewer in stalled))  # then never read again
                start = time.time()
                logs = [StreamLog() for _ in range(NORMAL)]
                normal = [
                    asyncio.create_task(watch(client, server.url + path, log, start + HOLD, classify=False))
                    for log in logs
                ]
                samples = []
                while time.time() < start + HOLD:
                    await asyncio.sleep(5.0)
                    samples.append(server.rss_bytes())
                await asyncio.gather(*normal)
                held = metric_total(await asyncio.to_thread(scrape, server.url), "nvr_stream_viewers")
                for viewer in stalled:
                    viewer.close()
            return before, samples, logs, start, held

        before, samples, logs, start, held = asyncio.run(scenario())
        growth = (max(samples) - before) / MB
        trend = (samples[-1] - samples[1]) / MB
        rates = sorted(log.fps(start + 1.0, start + HOLD) for log in logs)
        print(
            f"\n{STALLED} stalled 720p viewers held {HOLD:g} s: web RSS {before / MB:.1f} MB -> peak "
            f"{max(samples) / MB:.1f} MB (+{growth:.1f} MB; {trend:+.1f} MB from 10 s to the end); "
            f"{NORMAL} normal viewers {rates[0]:.2f}-{rates[-1]:.2f} fps (camera 10 fps)"
        )
        assert held == STALLED, f"the server held {held} stalled viewers, not {STALLED}: the figure would not count"
        assert growth < 30, growth
        assert trend < 5, trend  # flat: nothing accumulates per frame
        assert all(not log.error and log.status == 200 for log in logs), [log.error for log in logs]
        assert rates[0] >= 9.0, rates  # within 10 % of the camera's 10 fps
        assert not server_errors(full_log(server)), server_errors(full_log(server))
    finally:
        server.stop()


CYCLES, CONCURRENCY, WARMUP = 5000, 50, 300


def test_5000_connect_read_disconnect_cycles_leave_nothing_behind(token, redis_url, live_web):
    make_camera("front", source="320x240", max_fps=10)
    wait_for_status(redis_url, "front", lambda s: s["state"] == "online", 15)
    path = f"/cameras/front/stream.mjpg?token={token}"

    async def cycle() -> None:
        viewer = RawViewer(live_web.port, path)
        try:
            await viewer.connect()
            while not await viewer.read_some():
                pass
        finally:
            viewer.close()  # an abrupt close (RST), like a browser tab that goes away

    async def cycles(count: int) -> tuple[int, float]:
        started = time.monotonic()
        results = await gather_bounded([_capture(cycle()) for _ in range(count)], CONCURRENCY)
        return sum(1 for r in results if r is None), time.monotonic() - started

    def settled() -> dict:
        samples = scrape(live_web.url)
        return samples if metric_total(samples, "nvr_stream_viewers") == 0 else {}

    asyncio.run(cycles(WARMUP))  # first-use allocations (hub, caches, pools) belong to the start
    baseline = wait_until(settled, 10, "the warm-up viewers to be gone")
    tasks_before = metric_total(baseline, "nvr_web_asyncio_tasks")
    rss_before = live_web.rss_bytes()
    ok, took = asyncio.run(cycles(CYCLES))
    after = wait_until(settled, 10, "every viewer to be gone")
    time.sleep(1.0)
    after = scrape(live_web.url)
    rss_after = live_web.rss_bytes()
    left = {
        "viewers": metric_total(after, "nvr_stream_viewers"),
        "open streams": metric_total(after, "nvr_stream_open_streams"),
        "feeds": metric_total(after, "nvr_stream_feeds"),
        "subscriptions": metric_total(after, "nvr_stream_subscriptions"),
        "Redis subscribers": numsub(redis_url, names().frames("front")),
        "extra asyncio tasks": metric_total(after, "nvr_web_asyncio_tasks") - tasks_before,
    }
    sockets = established_connections(live_web.port)
    print(
        f"\n{ok}/{CYCLES} cycles in {took:.1f} s ({CYCLES / took:.0f}/s, {CONCURRENCY} at a time); web RSS "
        f"{rss_before / MB:.1f} -> {rss_after / MB:.1f} MB ({(rss_after / rss_before - 1) * 100:+.1f} %); "
        f"left behind: {left}; server sockets: {sockets}"
    )
    assert ok == CYCLES
    assert all(count <= 0 for count in left.values()), left
    assert not sockets.get("established") and not sockets.get("close_wait"), sockets
    assert rss_after <= rss_before * 1.10
    assert not server_errors(full_log(live_web)), server_errors(full_log(live_web))


async def _capture(coroutine):
    """None when `coroutine` succeeds, else its exception (so one failure does not hide the count)."""
    try:
        await coroutine
    except Exception as error:  # noqa: BLE001
        return error
    return None
