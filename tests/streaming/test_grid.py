"""The grid's multiplexed stream (streaming.grid): tagged parts, newest wins, bounded, released.

The in-process tests run grid_parts() on a real hub against a real Redis, with frames
published by the capture side's SyncBus; the last test reads /grid/stream.mjpg from the
real server (uvicorn) fed by the real capture supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from contextlib import asynccontextmanager

import httpx
import pytest

from framebus import Frame, variant_width
from streaming import grid
from streaming.grid import TileSpec, grid_parts
from streaming.hub import Hub
from tests.factories import make_camera, make_user
from tests.support.frames import names, sync_bus, wait_for_status
from tests.support.mjpeg import PartParser

SPECS = [TileSpec("cam-a", "Cam A", 30), TileSpec("cam-b", "Cam B", 30), TileSpec("cam-c", "Cam C", 5)]


@asynccontextmanager
async def running_hub(url: str):
    hub = Hub(url, names().namespace)
    try:
        yield hub
    finally:
        # Let (un)subscribes in flight finish first: FrameSubscriber.aclose() can hang when it
        # cancels an unsubscribe that is still running (a shutdown-only issue, reported).
        await asyncio.sleep(0.5)
        if hub._maintenance is not None:
            hub._maintenance.cancel()
        for subscriber in hub.subscribers:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await subscriber.aclose()
        await hub.bus.aclose()


def log_in(base_url: str, username: str, password: str) -> dict[str, str]:
    """The session cookie of a login through the server's own login form (CSRF and all)."""
    with httpx.Client(base_url=base_url, timeout=10) as http:
        form = http.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        done = http.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"},
        )
        assert done.status_code == 302 and "sessionid" in http.cookies, done.text[:300]
        return {"sessionid": http.cookies["sessionid"]}


def payload(slug: str, seq: int) -> bytes:
    """A stand-in JPEG naming its camera and sequence, so a part's tag can be checked against it."""
    return b"\xff\xd8" + f"{slug}:{seq}".encode() + b"\xff\xd9"


class Publisher(threading.Thread):
    """Publishes frames of several cameras at `fps` each, as capture workers do."""

    def __init__(self, url: str, slugs: list[str], fps: float, width: int = 0) -> None:
        super().__init__(daemon=True)
        self.bus = sync_bus(url)
        self.slugs, self.interval, self.width = slugs, 1.0 / fps, width
        self.stop_event = threading.Event()
        self.last: dict[str, Frame] = {}
        self.seq = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.seq += 1
            for slug in self.slugs:
                frame = Frame(self.seq, time.time(), 320, 240, payload(slug, self.seq))
                self.bus.publish_frame(slug, frame, self.width)
                self.last[slug] = frame
            self.stop_event.wait(self.interval)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(5)
        self.bus.close()


class Reader:
    """Drives a grid stream in a task, as the ASGI server does, and records its parts.

    Clearing `gate` makes it a client whose socket stopped draining: the stream stays
    suspended on the part it just handed over.
    """

    def __init__(self, parts_iter) -> None:
        self.parts_iter = parts_iter
        self.parts: list = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.parser = PartParser()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for chunk in self.parts_iter:
            await self.gate.wait()
            self.parts.extend(self.parser.feed(chunk))

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.parts_iter.aclose()


def seq_of(part) -> int:
    return int(part.jpeg[2:-2].split(b":")[1])


def test_variant_width_never_asks_a_camera_for_more_than_it_has():
    assert variant_width(320, None) == 320
    assert variant_width(300, 1920) == 240  # snapped down to a variant
    assert variant_width(480, 320) == 0  # capture never encodes a variant wider than the camera
    assert variant_width(320, 320) == 0
    assert variant_width(100, None) == 0


def test_interleaves_tagged_parts_of_every_camera_within_its_fps_cap_and_releases_everything(redis_url):
    async def scenario():
        publisher = Publisher(redis_url, [s.slug for s in SPECS], fps=20)
        async with running_hub(redis_url) as hub:
            reader = Reader(grid_parts(hub, SPECS, width=320, native_widths={s.slug: 320 for s in SPECS}))
            await asyncio.sleep(0.3)
            held = (hub.subscription_count(), len(hub.viewers))
            publisher.start()
            try:
                await asyncio.sleep(2.0)
            finally:
                publisher.stop()
                await reader.close()
            released = (hub.subscription_count(), len(hub.feeds), len(hub.viewers))
            listeners = sum(len(feed.listeners) for feed in hub.feeds.values())
        return reader.parts, held, released, listeners

    parts, held, released, listeners = asyncio.run(scenario())
    assert held == (3, 1), "one feed per camera, one viewer for the whole grid"
    by_camera: dict[str, list] = {}
    for part in parts:
        assert part.headers["content-type"] == "image/jpeg"
        slug = part.headers["x-camera"]
        assert part.jpeg.startswith(b"\xff\xd8" + slug.encode() + b":"), "tag and picture must match"
        by_camera.setdefault(slug, []).append(part)
    assert set(by_camera) == {"cam-a", "cam-b", "cam-c"}
    assert len(by_camera["cam-a"]) >= 25, "a 30 fps tile keeps up with 20 fps frames"
    assert len(by_camera["cam-c"]) <= 2 * 5 + 2, "the camera's 5 fps cap holds on the grid too"
    assert released == (0, 0, 0) and listeners == 0


def test_slow_reader_gets_the_newest_frame_not_a_backlog(redis_url):
    async def scenario():
        publisher = Publisher(redis_url, ["cam-a", "cam-b"], fps=25)
        async with running_hub(redis_url) as hub:
            reader = Reader(grid_parts(hub, SPECS[:2], width=0))
            publisher.start()
            try:
                await asyncio.sleep(0.5)
                reader.gate.clear()  # the client reads nothing for a while
                await asyncio.sleep(1.5)
                newest = {slug: frame.seq for slug, frame in publisher.last.items()}
                mark = len(reader.parts)
                reader.gate.set()
                await asyncio.sleep(0.2)
            finally:
                publisher.stop()
                await reader.close()
            skipped = hub.frames_skipped
        return reader.parts[mark + 1 :], newest, skipped  # [mark] was handed over before the pause

    parts, newest, skipped = asyncio.run(scenario())
    first: dict[str, int] = {}
    for part in parts:
        first.setdefault(part.headers["x-camera"], seq_of(part))
    assert set(first) == {"cam-a", "cam-b"}
    for slug, seq in first.items():
        assert seq >= newest[slug] - 1, f"{slug}: got frame {seq} after the pause, newest was {newest[slug]}"
    assert skipped >= 30, "frames published during the pause are skipped, not queued"


def test_a_grid_whose_client_stops_reading_is_dropped_by_the_write_deadline(redis_url, settings):
    settings.NVR_STREAM_WRITE_DEADLINE = 0.5

    async def scenario():
        publisher = Publisher(redis_url, ["cam-a"], fps=10)
        async with running_hub(redis_url) as hub:

            async def stalled_client():  # the view task, stuck in a send that never completes
                async for chunk in grid_parts(hub, SPECS[:1], width=0):
                    if chunk.startswith(b"Content-Type"):
                        await asyncio.sleep(3600)

            publisher.start()
            task = asyncio.create_task(stalled_client())
            try:
                async with asyncio.timeout(5):
                    with pytest.raises(asyncio.CancelledError):
                        await task
                await asyncio.sleep(0.2)  # the abandoned stream is closed by the event loop's finalizer
            finally:
                publisher.stop()
            return hub.deadline_drops, hub.subscription_count(), len(hub.viewers)

    assert asyncio.run(scenario()) == (1, 0, 0)


def test_a_tile_falls_back_to_native_size_when_the_camera_is_narrower(redis_url, monkeypatch):
    monkeypatch.setattr(grid, "NATIVE_CHECK_SECONDS", 0.5)

    async def scenario():
        bus = sync_bus(redis_url)
        publisher = Publisher(redis_url, ["cam-a"], fps=10)  # native frames only, 320 px wide
        async with running_hub(redis_url) as hub:
            reader = Reader(grid_parts(hub, SPECS[:1], width=480))  # the camera's size is unknown at first
            publisher.start()
            bus.write_status("cam-a", {"state": "online", "width": 320, "height": 240, "fps": 10.0})
            try:
                await asyncio.sleep(4.5)  # a silent feed wakes its stream after OFFLINE_AFTER
            finally:
                publisher.stop()
                await reader.close()
                bus.close()
            return reader.parts, hub.subscription_count()

    parts, subscriptions = asyncio.run(scenario())
    assert any(p.jpeg.startswith(b"\xff\xd8cam-a:") for p in parts), "native frames reach the tile"
    assert subscriptions == 0


@pytest.mark.slow
def test_grid_stream_over_http_carries_only_the_callers_cameras(redis_url, live_web, capture_process):
    cameras = [make_camera(f"g{i:02d}", position=i, max_fps=5) for i in range(6)]
    operator = make_user("op-grid", password="pw-op-grid-1")
    for camera in cameras[:3]:
        camera.allowed_users.add(operator)
    for camera in cameras[:3]:
        wait_for_status(redis_url, camera.slug, lambda s: s.get("state") == "online", 20)
    cookies = log_in(live_web.url, "op-grid", "pw-op-grid-1")
    everything = ",".join(c.slug for c in cameras)

    async def read(url: str, count: int):
        async with httpx.AsyncClient(base_url=live_web.url, cookies=cookies, timeout=10) as http:
            parser = PartParser()
            parts = []
            async with http.stream("GET", url) as response:
                if response.status_code != 200:
                    return response.status_code, response.headers, parts
                async for chunk in response.aiter_raw():
                    parts.extend(parser.feed(chunk))
                    if len(parts) >= count:
                        break
            return response.status_code, response.headers, parts

    status, headers, parts = asyncio.run(read(f"/grid/stream.mjpg?cameras={everything}&width=320", 12))
    assert status == 200 and headers["content-type"].startswith("multipart/x-mixed-replace")
    assert {p.headers["x-camera"] for p in parts} == {"g00", "g01", "g02"}
    assert all(p.jpeg[:2] == b"\xff\xd8" for p in parts)

    status, _, _ = asyncio.run(read("/grid/stream.mjpg?cameras=g04,g05", 1))
    assert status == 404, "a grid of only forbidden cameras is refused like unknown ones"

    async def anonymous():
        async with httpx.AsyncClient(base_url=live_web.url, timeout=10) as http:
            return (await http.get("/grid/stream.mjpg")).status_code

    assert asyncio.run(anonymous()) == 401
