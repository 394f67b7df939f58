"""Fan-out: one Redis subscription per camera per process; slow and stalled viewers hurt no one."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
import redis

from tests.factories import make_camera, make_token, make_user
from tests.support.frames import names, wait_for_status
from tests.support.mjpeg import RawViewer, iter_parts
from tests.support.processes import web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def numsub(url: str, channel: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return dict(client.pubsub_numsub(channel))[channel.encode()]
    finally:
        client.close()


async def count_parts(client: httpx.AsyncClient, url: str, seconds: float, results: list) -> None:
    received = []
    deadline = time.monotonic() + seconds
    async with client.stream("GET", url) as response:
        async for part in iter_parts(response):
            received.append((time.time(), part.timestamp))
            if time.monotonic() > deadline:
                break
    results.append(received)


@pytest.fixture
def camera_stack(redis_url, capture_process):
    admin = make_user("boss", is_superuser=True)
    _, token = make_token(user=admin)
    return token


def test_fifty_viewers_share_one_subscription_released_when_they_leave(camera_stack, live_web, redis_url):
    make_camera("front", source="320x240", max_fps=10)
    wait_for_status(redis_url, "front", lambda s: s["state"] == "online", 15)
    url = f"{live_web.url}/cameras/front/stream.mjpg?token={camera_stack}"
    channel = names().frames("front")
    seen: list[int] = []

    async def run():
        results: list = []
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(timeout=20, limits=limits) as client:
            viewers = [asyncio.create_task(count_parts(client, url, 4.0, results)) for _ in range(50)]
            await asyncio.sleep(2.5)
            seen.append(numsub(redis_url, channel))
            await asyncio.gather(*viewers)
        return results

    results = asyncio.run(run())
    assert seen == [1]
    assert len(results) == 50 and all(len(r) >= 25 for r in results), sorted(len(r) for r in results)[:5]
    deadline = time.monotonic() + 5
    while numsub(redis_url, channel) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert numsub(redis_url, channel) == 0


def test_slow_viewer_gets_newest_frames_while_others_keep_full_rate(camera_stack, live_web, redis_url):
    make_camera("big", source="1280x720", max_fps=10)
    wait_for_status(redis_url, "big", lambda s: s["state"] == "online", 15)
    path = f"/cameras/big/stream.mjpg?token={camera_stack}"

    async def slow_viewer(seconds: float) -> list[tuple[float, float]]:
        viewer = RawViewer(live_web.port, path, rcvbuf=8192)
        await viewer.connect()
        ages = []
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:  # about 60 KB/s: well under the stream's rate
                for part in await viewer.read_some(6000):
                    ages.append((time.time(), time.time() - part.timestamp))
                await asyncio.sleep(0.1)
        finally:
            viewer.close()
        return ages

    async def run():
        results: list = []
        async with httpx.AsyncClient(timeout=20) as client:
            fast = [asyncio.create_task(count_parts(client, live_web.url + path, 15.0, results)) for _ in range(3)]
            slow = await slow_viewer(15.0)
            await asyncio.gather(*fast)
        return results, slow

    fast_results, slow = asyncio.run(run())
    for received in fast_results:
        assert len(received) >= 130, len(received)  # ~10 fps for 15 s
    assert len(slow) < 40, len(slow)  # frames were skipped for it, not queued
    # Its lag is what the socket buffers hold (~200 KB: about 4 s at 60 KB/s), and it does not grow:
    # a queue would put it 10+ s behind by the end.
    third = len(slow) // 3
    middle = max(age for _, age in slow[third : 2 * third])
    last = max(age for _, age in slow[2 * third :])
    print(f"slow viewer: {len(slow)} frames in 15 s; lag middle third {middle:.2f} s, last third {last:.2f} s")
    assert last < 6.0 and last < middle + 1.5, (middle, last)


def test_stalled_viewers_do_not_grow_server_memory_and_are_dropped(camera_stack, redis_url):
    """20 viewers that stop reading: memory stays flat, and each is let go at its write deadline at once,
    feed and subscription included (before, a dropped viewer kept the feed until its task had unwound, and on
    a loaded CI machine the subscription was still held 30 s after all 20 were logged as dropped)."""
    make_camera("big", source="1280x720", max_fps=10)
    wait_for_status(redis_url, "big", lambda s: s["state"] == "online", 15)
    server = web_server(redis_url, NVR_STREAM_WRITE_DEADLINE="4").start()
    path = f"/cameras/big/stream.mjpg?token={camera_stack}"
    channel = names().frames("big")

    def holders() -> int:
        """Viewers holding the feed in the web process (its /metrics, open to loopback)."""
        text = httpx.get(f"{server.url}/metrics", timeout=5).text
        return sum(int(float(n)) for n in re.findall(r'^nvr_stream_viewers\{camera="big",[^}]*\} (\S+)$', text, re.M))

    try:

        async def run():
            warm = RawViewer(server.port, path)
            await warm.connect()
            await warm.read_some()
            warm.close()
            await asyncio.sleep(1)
            before = server.rss_bytes()
            stalled = [RawViewer(server.port, path, rcvbuf=4096) for _ in range(20)]
            for viewer in stalled:
                await viewer.connect()
            results: list = []
            async with httpx.AsyncClient(timeout=20) as client:
                normal = asyncio.create_task(count_parts(client, server.url + path, 10.0, results))
                # Every stalled viewer passes its 4 s deadline (counted from its first unsent part) and lets go
                # of the feed as it is dropped: only the normal viewer holds it then.
                dropped = time.monotonic()
                while await asyncio.to_thread(holders) != 1 and time.monotonic() - dropped < 9:
                    await asyncio.sleep(0.2)
                alone = await asyncio.to_thread(holders)
                await normal
            during = server.rss_bytes()
            left = time.monotonic()
            while numsub(redis_url, channel) and time.monotonic() - left < 3:
                await asyncio.sleep(0.1)
            released = numsub(redis_url, channel) == 0
            print(f"feed released {time.monotonic() - left:.1f} s after the normal viewer left")
            for viewer in stalled:
                viewer.close()
            return before, during, results[0], alone, released

        before, during, normal, alone, released = asyncio.run(run())
        growth = (during - before) / 2**20
        print(f"uvicorn RSS with 20 stalled 720p viewers for 10 s: {before / 2**20:.1f} -> {during / 2**20:.1f} MB")
        assert growth < 20, growth
        assert len(normal) >= 85, len(normal)  # the normal viewer kept ~10 fps
        assert alone == 1, f"stalled viewers still hold the feed: {alone}; server log:\n{server.log()}"
        assert released, f"the subscription outlived its last viewer; server log:\n{server.log()}"
    finally:
        server.stop()
