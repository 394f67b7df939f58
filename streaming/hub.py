"""Fan-out in one web process: one subscription per watched camera and size, many viewers.

A Feed holds the newest frame (as ready-made multipart bytes) and hands it to its
viewers; there are no per-viewer queues, so a slow viewer simply gets fewer, newer
frames. A viewer is either *direct* (the server gave us its transport, see
streaming.directwrite: the feed writes each part to it in one loop per frame, or
skips it while its previous part is still queued) or a task that awaits the feed's
event and yields parts (any other ASGI server, Django's test client, paced streams).
One maintenance task per process shows offline frames for silent cameras, keeps size
variants requested, and drops viewers whose socket stopped draining (write deadline).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from django.conf import settings

from framebus import BUS_ERRORS, Frame, FrameSubscriber, ViewBus, frame_channel
from streaming import multipart
from streaming.offline import render_offline_jpeg

log = logging.getLogger(__name__)

OFFLINE_AFTER = 3.0  # seconds without a frame before viewers see the offline frame
MAINTENANCE_INTERVAL = 1.0
SUBSCRIBER_CONNECTIONS = 4  # frames spread over this many pub/sub connections (FACTS: ~25 cameras each)


class Feed:
    """The newest frame of one camera at one size, shared by this process's viewers."""

    def __init__(self, slug: str, width: int, name: str) -> None:
        self.slug, self.width, self.name = slug, width, name
        self.channel = frame_channel(slug, width)
        self.frame: Frame | None = None
        self.part = b""
        self.version = 0
        self.live = False
        self.live_at = time.monotonic()
        self.viewers = 0
        self.frames = 0
        self.gaps = 0  # sequence numbers never received (Redis dropped or we fell behind)
        self.listeners: set[asyncio.Event] = set()  # set on every push: streams of many feeds (the grid)
        self.direct: set[Viewer] = set()  # viewers whose transport this feed writes to itself
        self._changed = asyncio.Event()
        self._chunk, self._chunk_version = b"", -1

    def push(self, frame: Frame, *, live: bool = True) -> int:
        """Make `frame` the newest and hand it to every viewer; built once, shared by all.

        Returns the part bytes written to direct viewers (the others count their own).
        """
        if live:
            last = self.frame.seq if self.frame is not None and self.live else None
            if last is not None:
                if frame.seq <= last and frame.ts <= self.frame.ts:
                    return 0  # duplicate or older than what we have
                if frame.seq > last + 1:
                    self.gaps += frame.seq - last - 1
            self.frames += 1
            self.live_at = time.monotonic()
        self.live = live
        self.frame = frame
        self.part = multipart.part(frame.jpeg, frame.ts)
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for listener in self.listeners:
            listener.set()
        return self._write_direct() if self.direct else 0

    def chunk(self) -> bytes:
        """The newest part chunk-encoded for HTTP/1.1 bodies: built once per frame, on first use."""
        if self._chunk_version != self.version:
            self._chunk, self._chunk_version = b"%x\r\n%b\r\n" % (len(self.part), self.part), self.version
        return self._chunk

    def _write_direct(self) -> int:
        """One write of the ready-made chunk per direct viewer whose previous part has left.

        This loop is the whole per-viewer cost of a frame (no task wake-up, no copy per
        viewer): a viewer whose transport still holds data is skipped, so it gets the newest
        frame once it drains, and the time it has been stuck feeds the write deadline.
        """
        part, chunk = self.part, self.chunk()
        now = time.monotonic()
        written = 0
        for viewer in self.direct:
            transport = viewer.transport
            if transport.get_write_buffer_size():
                viewer.skipped += 1
                if viewer.sending_since is None:
                    viewer.sending_since = now
                continue
            viewer.sending_since = None
            try:
                transport.write(chunk if viewer.chunked else part)
            except RuntimeError:
                continue  # the connection closed under us: its task is ending and will remove it
            viewer.frames += 1
            written += 1
        return written * len(part)

    async def changed(self) -> None:
        """Wait until a newer frame arrives.

        No timer per wait: arming and cancelling one per viewer per frame was about a fifth
        of a web process's CPU under uvloop (py-spy, bench/README.md). A silent feed still
        wakes its viewers: the maintenance task pushes an offline frame to it.
        """
        await self._changed.wait()


@dataclass(eq=False)
class Viewer:
    """One open stream; the maintenance task ends it when a write exceeds the deadline."""

    feed: Feed
    task: asyncio.Task | None
    sending_since: float | None = None
    frames: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.monotonic)
    transport: asyncio.Transport | None = None  # set for a direct viewer: the feed writes to it
    chunked: bool = False  # the direct viewer's response uses chunked transfer encoding


class Hub:
    """Feeds and viewers of one event loop (one per web process)."""

    def __init__(self, redis_url: str) -> None:
        self.bus = ViewBus(redis_url)
        self.subscribers = [FrameSubscriber(redis_url, self._on_frame) for _ in range(SUBSCRIBER_CONNECTIONS)]
        self.feeds: dict[tuple[str, int], Feed] = {}
        self._by_channel: dict[str, Feed] = {}
        self.viewers: set[Viewer] = set()
        self.write_deadline = settings.NVR_STREAM_WRITE_DEADLINE
        self.frames_sent = 0
        self.bytes_sent = 0
        self.frames_skipped = 0
        self.deadline_drops = 0
        self._maintenance: asyncio.Task | None = None
        self._offline_jobs: set[asyncio.Task] = set()

    def _subscriber(self, channel: str) -> FrameSubscriber:
        return self.subscribers[zlib.crc32(channel.encode()) % len(self.subscribers)]

    def _on_frame(self, channel: str, frame: Frame) -> None:
        feed = self._by_channel.get(channel)
        if feed is not None:
            self.bytes_sent += feed.push(frame)

    @asynccontextmanager
    async def watch(self, slug: str, width: int, name: str) -> AsyncIterator[Feed]:
        """Hold a feed for the duration of the block; the last one out unsubscribes."""
        key = (slug, width)
        feed = self.feeds.get(key)
        if feed is None:
            feed = self.feeds[key] = Feed(slug, width, name)
            self._by_channel[feed.channel] = feed
            self._subscriber(feed.channel).want(feed.channel)
            self._ensure_maintenance()
            await self._prime(feed)
        feed.viewers += 1
        try:
            yield feed
        finally:
            feed.viewers -= 1
            if feed.viewers == 0 and self.feeds.get(key) is feed:
                del self.feeds[key]
                del self._by_channel[feed.channel]
                self._subscriber(feed.channel).unwant(feed.channel)

    async def _prime(self, feed: Feed) -> None:
        """Start a new feed with the newest stored frame, so the first viewer sees a picture at once."""
        try:
            if feed.width:
                await self.bus.want_width(feed.slug, feed.width)
            frame = await self.bus.latest_frame(feed.slug, feed.width)
        except BUS_ERRORS:
            return
        if frame is not None and feed.frame is None and time.time() - frame.ts < OFFLINE_AFTER:
            self.bytes_sent += feed.push(frame)

    async def stream(self, feed: Feed, *, fps: float | None = None) -> AsyncIterator[bytes]:
        """Multipart bytes for one viewer: newest frame wins, at most `fps`, write deadline enforced."""
        viewer = Viewer(feed, asyncio.current_task())
        self.viewers.add(viewer)
        interval = 1.0 / fps if fps else 0.0
        sent_version = 0
        next_at = 0.0
        try:
            yield multipart.STREAM_START
            while True:
                if feed.version == sent_version:
                    await feed.changed()
                    continue
                if interval:
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_at = max(next_at + interval, time.monotonic())
                if sent_version and feed.version > sent_version + 1:
                    viewer.skipped += feed.version - sent_version - 1
                sent_version = feed.version
                part = feed.part
                viewer.sending_since = time.monotonic()
                yield part
                viewer.sending_since = None
                viewer.frames += 1
                self.bytes_sent += len(part)
        finally:
            self.viewers.discard(viewer)
            self.frames_sent += viewer.frames
            self.frames_skipped += viewer.skipped

    @asynccontextmanager
    async def direct(self, feed: Feed, transport: asyncio.Transport, *, chunked: bool) -> AsyncIterator[Viewer]:
        """Let `feed` write its parts straight to `transport` for the duration of the block.

        The caller has sent the response head and the stream's first boundary; the newest
        frame goes out at once, every later one from Feed.push. The block only waits (for
        the viewer to leave, or to re-check access): no work per frame happens in it.
        """
        viewer = Viewer(feed, asyncio.current_task(), transport=transport, chunked=chunked)
        self.viewers.add(viewer)
        feed.direct.add(viewer)
        try:
            if feed.part:
                transport.write(feed.chunk() if chunked else feed.part)
                viewer.frames += 1
                self.bytes_sent += len(feed.part)
            yield viewer
        finally:
            feed.direct.discard(viewer)
            self.viewers.discard(viewer)
            self.frames_sent += viewer.frames
            self.frames_skipped += viewer.skipped

    # Maintenance -------------------------------------------------------------------
    def _ensure_maintenance(self) -> None:
        if self._maintenance is None or self._maintenance.done():
            self._maintenance = asyncio.get_running_loop().create_task(self._maintain(), name="nvr-hub-maintenance")

    async def _maintain(self) -> None:
        wants_at = 0.0
        while True:
            await asyncio.sleep(MAINTENANCE_INTERVAL)
            try:
                self._enforce_write_deadline()
                self._show_offline_frames()
                if time.monotonic() >= wants_at:
                    wants_at = time.monotonic() + 3.0
                    await self._renew_wants()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub maintenance failed")

    def _enforce_write_deadline(self) -> None:
        limit = time.monotonic() - self.write_deadline
        for viewer in list(self.viewers):
            if viewer.sending_since is not None and viewer.sending_since < limit and viewer.task is not None:
                log.info(
                    "stream %s: viewer dropped (no write progress for %.0fs)", viewer.feed.slug, self.write_deadline
                )
                self.deadline_drops += 1
                self.viewers.discard(viewer)
                if viewer.transport is not None:
                    viewer.feed.direct.discard(viewer)
                    # Not close(): that waits for the queued bytes to drain, which a stalled or
                    # vanished peer never does (FACTS: the socket would stay until TCP gives up).
                    viewer.transport.abort()
                viewer.task.cancel()

    def _show_offline_frames(self) -> None:
        now = time.monotonic()
        for feed in list(self.feeds.values()):
            if now - feed.live_at >= OFFLINE_AFTER:
                job = asyncio.get_running_loop().create_task(self._push_offline(feed))
                self._offline_jobs.add(job)
                job.add_done_callback(self._offline_jobs.discard)

    async def _push_offline(self, feed: Feed) -> None:
        try:
            status = await self.bus.status(feed.slug)
        except BUS_ERRORS:
            status = {"last_error": "frame bus (Redis) unavailable"}
        reason = status.get("last_error") or ("no capture worker" if not status else status.get("state", "offline"))
        width = feed.frame.width if feed.frame else (feed.width or 640)
        height = feed.frame.height if feed.frame else width * 9 // 16
        jpeg = await asyncio.to_thread(render_offline_jpeg, feed.name, reason, width, height)
        if time.monotonic() - feed.live_at >= OFFLINE_AFTER:  # a live frame may have come meanwhile
            self.bytes_sent += feed.push(Frame(0, time.time(), width, height, jpeg), live=False)

    async def _renew_wants(self) -> None:
        for slug, width in list(self.feeds):
            if width:
                try:
                    await self.bus.want_width(slug, width)
                except BUS_ERRORS:
                    return

    def subscription_count(self) -> int:
        return sum(len(s.desired) for s in self.subscribers)


class ClosingStream:
    """A response body that really ends its generator when Django closes the response.

    Django closes a streaming response by calling a sync `close()` of the value it was
    given, and never `aclose()`s an async generator: a stream cancelled while blocked in
    `send` (a dropped stalled viewer, a vanished peer) would keep its feed and viewer
    until garbage collection. This schedules `aclose()` on the generator's own loop, so
    its `finally` blocks run at once. Wrap every stream body in it.
    """

    def __init__(self, generator) -> None:
        self.generator = generator
        self.loop = asyncio.get_running_loop()
        self._closed = False

    def __aiter__(self):
        return self.generator

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        async def aclose() -> None:
            try:
                await self.generator.aclose()
            except RuntimeError:
                pass  # still running: its own cancellation ends it

        try:
            self.loop.call_soon_threadsafe(lambda: self.loop.create_task(aclose()))
        except RuntimeError:
            pass  # the loop is gone with the process


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """The hub of the running event loop, created on first use (never at import time)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub(settings.REDIS_URL)
    return hub
