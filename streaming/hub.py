"""Fan-out in one web process: one subscription per watched camera and size, many viewers.

A Feed holds the newest frame (as ready-made multipart bytes) and hands it to its
viewers; there are no per-viewer queues, so a slow viewer simply gets fewer, newer
frames. A viewer is either *direct* (the server gave us its transport, see
streaming.directwrite: the feed writes each part to it in one loop per frame, or
skips it while its previous part is still queued) or a task that awaits the feed's
event and yields parts (any other ASGI server, Django's test client, paced streams, the grid).

Every long response, whatever it carries, lives inside `Hub.viewer()`: one lifecycle that
registers it, counts what it is sent, re-checks its access every NVR_STREAM_ACCESS_RECHECK
seconds (`Viewer.revoked` is set when access is gone) and removes it. One maintenance task
per process runs the re-checks, shows the offline card on feeds whose camera is not live,
keeps asking capture for the frames its feeds carry (capture makes live JPEGs only for cameras and
sizes someone watches), drops viewers whose socket stopped draining (write deadline), and tells the
bus how many viewers each camera has here (a camera page shows every process's total).

A viewer that is dropped (its write deadline passed), or a finite body (a clip) whose access is
withdrawn, is cut at once by the hub itself (`Hub._cut`): the feeds it holds are released, so the
last one out unsubscribes now, its connection is aborted (never closed: a close waits for a buffer
a stalled peer never drains) and its task cancelled. Nothing waits for the task to unwind first.
A finite body cut short so ends as a broken transfer, never as a clean end a client would trust.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
import weakref
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from audit.log import ViewAudit, record_view
from framebus import BUS_ERRORS, Frame, FrameSubscriber, LiveStream, RawStatus, ViewBus
from framebus.status import FRAME_STALE_AFTER, CameraStatus
from streaming import multipart
from streaming.directwrite import reset
from streaming.livefeed import LiveFeed, LiveFeeds
from streaming.offline import render_offline_jpeg

log = logging.getLogger(__name__)

MAINTENANCE_INTERVAL = 1.0  # re-checks, offline cards and write deadlines run this often
SUBSCRIBER_CONNECTIONS = 4  # frames spread over this many pub/sub connections (docs/facts.md: ~25 cameras each)

AccessCheck = Callable[[], Awaitable[bool]]


async def always_allowed() -> bool:
    """The access check of a response that needs none (tests, internal streams)."""
    return True


@dataclass
class StreamCounters:
    """What this process's streams were sent, counted as it happens (read by /metrics)."""

    frames_sent: int = 0
    bytes_sent: int = 0
    frames_skipped: int = 0  # frames slow viewers never got (the newest frame won)
    deadline_drops: int = 0
    revoked: int = 0  # responses ended because access was withdrawn


class Feed:
    """The newest frame of one camera at one size, shared by this process's viewers."""

    def __init__(self, slug: str, width: int, name: str, counters: StreamCounters, channel: str) -> None:
        self.slug, self.width, self.name = slug, width, name
        self.counters = counters
        self.channel = channel
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

    def push(self, frame: Frame, *, live: bool = True) -> None:
        """Make `frame` the newest and hand it to every viewer; built once, shared by all."""
        if live:
            last = self.frame.seq if self.frame is not None and self.live else None
            if last is not None and self.frame is not None:
                if frame.seq <= last and frame.ts <= self.frame.ts:
                    return  # duplicate or older than what we have
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
        if self.direct:
            self._write_direct()

    def chunk(self) -> bytes:
        """The newest part chunk-encoded for HTTP/1.1 bodies: built once per frame, on first use."""
        if self._chunk_version != self.version:
            self._chunk, self._chunk_version = b"%x\r\n%b\r\n" % (len(self.part), self.part), self.version
        return self._chunk

    def _write_direct(self) -> None:
        """One write of the ready-made chunk per direct viewer whose previous part has left.

        This loop is the whole per-viewer cost of a frame (no task wake-up, no copy per
        viewer): a viewer whose transport still holds data is skipped, so it gets the newest
        frame once it drains, and the time it has been stuck feeds the write deadline.
        """
        part, chunk = self.part, self.chunk()
        now = time.monotonic()
        written = skipped = 0
        for viewer in self.direct:
            transport = viewer.transport
            if transport is None or transport.get_write_buffer_size():
                viewer.skipped += 1
                skipped += 1
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
        counters = self.counters
        counters.frames_sent += written
        counters.frames_skipped += skipped
        counters.bytes_sent += written * len(part)

    def write_newest(self, viewer: Viewer) -> None:
        """Hand a newly attached direct viewer the newest frame at once (if the connection is open)."""
        transport = viewer.transport
        if not self.part or transport is None or transport.is_closing():
            return
        try:
            transport.write(self.chunk() if viewer.chunked else self.part)
        except RuntimeError:
            return  # the viewer left right after the response head: its task ends quietly
        viewer.frames += 1
        self.counters.frames_sent += 1
        self.counters.bytes_sent += len(self.part)

    async def changed(self) -> None:
        """Wait until a newer frame arrives.

        No timer per wait: arming and cancelling one per viewer per frame was about a fifth
        of a web process's CPU under uvloop (py-spy, bench/README.md). A silent feed still
        wakes its viewers: the maintenance task pushes an offline frame to it.
        """
        await self._changed.wait()


@dataclass(eq=False)
class Viewer:
    """One open long response (a stream, a grid, a clip...), from registration to removal."""

    label: str  # what it watches (a camera slug, "grid"), for logs
    task: asyncio.Task | None
    still_allowed: AccessCheck = always_allowed
    revoked: asyncio.Event = field(default_factory=asyncio.Event)  # set when access is gone: end now
    recheck_at: float = 0.0
    recheck_every: float = 15.0  # seconds between access re-checks (NVR_STREAM_ACCESS_RECHECK unless asked)
    finite: bool = False  # a body with an end (a clip): withdrawn access cuts it at once, as a broken transfer
    sending_since: float | None = None
    frames: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.monotonic)
    transport: asyncio.Transport | None = None  # its connection, when the server gives it (direct writes, aborts)
    chunked: bool = False  # the direct viewer's response uses chunked transfer encoding
    feeds: list[Feed] = field(default_factory=list)  # feeds writing to it directly
    holds: list[Feed] = field(default_factory=list)  # feeds it keeps subscribed (Hub.watch): released when cut
    live_holds: list[LiveFeed] = field(default_factory=list)  # H.264 live feeds it keeps (Hub.watch_live)

    def attach(self, feed: Feed) -> None:
        """Let `feed` write its parts to this viewer's transport until the viewer ends."""
        self.feeds.append(feed)
        feed.direct.add(self)
        feed.write_newest(self)

    def count(self, part: bytes, counters: StreamCounters) -> None:
        """Account for a part this viewer's task sent (the task path; direct writes count themselves)."""
        self.frames += 1
        counters.frames_sent += 1
        counters.bytes_sent += len(part)

    def skip(self, frames: int, counters: StreamCounters) -> None:
        self.skipped += frames
        counters.frames_skipped += frames


class Hub:
    """Feeds and viewers of one event loop (one per web process)."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        self.bus = ViewBus(redis_url, namespace=namespace)
        self.subscribers = [
            FrameSubscriber(redis_url, self._on_frame, namespace=namespace) for _ in range(SUBSCRIBER_CONNECTIONS)
        ]
        self.feeds: dict[tuple[str, int], Feed] = {}
        self.live = LiveFeeds(redis_url, namespace, self.bus)  # the cameras' own H.264 (streaming.livefeed)
        self._by_channel: dict[str, Feed] = {}
        self.viewers: set[Viewer] = set()
        self.counters = StreamCounters()
        self.write_deadline = settings.NVR_STREAM_WRITE_DEADLINE
        self.recheck_seconds = settings.NVR_STREAM_ACCESS_RECHECK
        self._maintenance: asyncio.Task | None = None
        self._jobs: set[asyncio.Task] = set()
        self.process = uuid.uuid4().hex[:12]  # this process's name in the bus's viewer counts
        self._reported: set[str] = set()  # cameras whose viewer count this process has on the bus

    # Counters, as the tests and older callers name them.
    @property
    def frames_sent(self) -> int:
        return self.counters.frames_sent

    @property
    def frames_skipped(self) -> int:
        return self.counters.frames_skipped

    @property
    def deadline_drops(self) -> int:
        return self.counters.deadline_drops

    @property
    def bytes_sent(self) -> int:
        return self.counters.bytes_sent

    def _subscriber(self, channel: str) -> FrameSubscriber:
        return self.subscribers[zlib.crc32(channel.encode()) % len(self.subscribers)]

    def _on_frame(self, channel: str, frame: Frame) -> None:
        feed = self._by_channel.get(channel)
        if feed is not None:
            feed.push(frame)

    # The viewer lifecycle -------------------------------------------------------------
    @asynccontextmanager
    async def viewer(
        self,
        label: str,
        still_allowed: AccessCheck = always_allowed,
        *,
        transport: asyncio.Transport | None = None,
        chunked: bool = False,
        recheck_every: float | None = None,
        finite: bool = False,
        audit: ViewAudit | None = None,
    ) -> AsyncIterator[Viewer]:
        """Register one long response for the duration of the block; every stream path uses this.

        While the block runs, the maintenance task calls `still_allowed()` every `recheck_every`
        seconds (NVR_STREAM_ACCESS_RECHECK by default) and sets `viewer.revoked` when it says no:
        a live stream must end then (the paths here all do); a `finite` body (a clip) is cut by the
        hub at once. A viewer whose writes make no progress for NVR_STREAM_WRITE_DEADLINE seconds
        is cut too (Hub._cut). On exit it is removed from every feed, whatever ended it, and a view
        with `audit` leaves one row in the audit trail (queued: audit.writer writes it off the loop).
        """
        began = timezone.now()
        every = self.recheck_seconds if recheck_every is None else recheck_every
        viewer = Viewer(
            label,
            asyncio.current_task(),
            still_allowed,
            recheck_at=time.monotonic() + every,
            recheck_every=every,
            finite=finite,
            transport=transport,
            chunked=chunked,
        )
        self.viewers.add(viewer)
        self._ensure_maintenance()
        try:
            yield viewer
        finally:
            self.viewers.discard(viewer)
            for feed in viewer.feeds:
                feed.direct.discard(viewer)
            if audit is not None:
                record_view(audit, started=began, ended=timezone.now(), frames=viewer.frames)

    @asynccontextmanager
    async def watch(self, slug: str, width: int, name: str, viewer: Viewer | None = None) -> AsyncIterator[Feed]:
        """Hold a feed for the duration of the block, for `viewer` (cut, it lets go at once); the last one out unsubscribes."""
        key = (slug, width)
        feed = self.feeds.get(key)
        new = feed is None
        if feed is None:
            feed = self.feeds[key] = Feed(slug, width, name, self.counters, self.bus.names.frames(slug, width))
            self._by_channel[feed.channel] = feed
            self._subscriber(feed.channel).want(feed.channel)
            self._ensure_maintenance()
        feed.viewers += 1
        if viewer is not None:
            viewer.holds.append(feed)
        try:
            if new:
                await self._prime(feed)
            yield feed
        finally:
            if viewer is None or feed in viewer.holds:  # else the hub let go of it when it cut the viewer
                if viewer is not None:
                    viewer.holds.remove(feed)
                self._release(feed)

    @asynccontextmanager
    async def watch_live(
        self, slug: str, viewer: Viewer | None = None, stream: LiveStream = LiveStream.MAIN
    ) -> AsyncIterator[LiveFeed]:
        """Hold a camera's H.264 live feed (`stream`: its main or sub stream's) for the block, for `viewer` (cut,
        it lets go at once)."""
        self._ensure_maintenance()
        async with self.live.watch(slug, viewer.live_holds if viewer is not None else None, stream) as feed:
            yield feed

    def _release(self, feed: Feed) -> None:
        """One holder fewer; the last one out unsubscribes."""
        feed.viewers -= 1
        key = (feed.slug, feed.width)
        if feed.viewers == 0 and self.feeds.get(key) is feed:
            del self.feeds[key]
            del self._by_channel[feed.channel]
            self._subscriber(feed.channel).unwant(feed.channel)

    def _cut(self, viewer: Viewer) -> None:
        """End `viewer` now: its feeds let go, its connection reset, its task cancelled.

        Not `transport.close()`: that waits for the queued bytes to drain, which a stalled or
        vanished peer never does (docs/facts.md: the socket would stay until TCP gives up). And
        not waiting for the task's own cleanup either: a task that is slow to unwind (a loaded
        machine, a write blocked in the server) must not keep a camera subscribed.
        """
        self.viewers.discard(viewer)
        for feed in viewer.feeds:
            feed.direct.discard(viewer)
        holds, viewer.holds = viewer.holds, []
        for feed in holds:
            self._release(feed)
        live_holds, viewer.live_holds = viewer.live_holds, []
        for live_feed in live_holds:
            self.live.release(live_feed)
        if viewer.transport is not None:
            reset(viewer.transport)
        if viewer.task is not None:
            viewer.task.cancel()

    async def _prime(self, feed: Feed) -> None:
        """Ask capture for the feed's frames (it makes none for a camera nobody watches), and start the
        feed with the newest stored frame when there is a recent one, so the first viewer sees it at once."""
        try:
            await self.bus.want_width(feed.slug, feed.width)
            frame = await self.bus.latest_frame(feed.slug, feed.width)
        except BUS_ERRORS:
            return
        if frame is not None and feed.frame is None and time.time() - frame.ts < FRAME_STALE_AFTER:
            feed.push(frame)

    async def stream(self, feed: Feed, viewer: Viewer, *, fps: float | None = None) -> AsyncIterator[bytes]:
        """Multipart bytes for one task-path viewer: newest frame wins, at most `fps`, until revoked."""
        interval = 1.0 / fps if fps else 0.0
        sent_version = 0
        next_at = 0.0
        counters = self.counters
        yield multipart.STREAM_START
        while not viewer.revoked.is_set():
            if feed.version == sent_version:
                await feed.changed()  # every feed gets a frame or an offline card at least each second
                continue
            if interval:
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at = max(next_at + interval, time.monotonic())
            if sent_version and feed.version > sent_version + 1:
                viewer.skip(feed.version - sent_version - 1, counters)
            sent_version = feed.version
            part = feed.part
            viewer.sending_since = time.monotonic()
            yield part
            viewer.sending_since = None
            viewer.count(part, counters)

    # Maintenance -------------------------------------------------------------------
    def _ensure_maintenance(self) -> None:
        if self._maintenance is None or self._maintenance.done():
            # In a context of its own: it outlives the request that starts it, and a task inherits its creator's
            # context, in which Django's request keeps a thread for sync calls (the re-checks') that would then
            # never be given back (asgiref's ThreadSensitiveContext ends with the request).
            self._maintenance = asyncio.get_running_loop().create_task(
                self._maintain(), name="nvr-hub-maintenance", context=contextvars.Context()
            )

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        """Run `job` beside the maintenance loop (never blocking it), keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(job)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _maintain(self) -> None:
        wants_at = 0.0
        while True:
            await asyncio.sleep(MAINTENANCE_INTERVAL)
            try:
                self._enforce_write_deadline()
                self._recheck_access()
                if self.feeds:
                    self._spawn(self._show_offline_frames())
                if self.feeds or self.live.feeds or self._reported:
                    self._spawn(self._report_viewers())
                if time.monotonic() >= wants_at:
                    wants_at = time.monotonic() + 3.0
                    await self._renew_wants()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub maintenance failed")

    def _recheck_access(self) -> None:
        """Start the due access re-checks (lookups are shared by every viewer of one credential)."""
        now = time.monotonic()
        for viewer in list(self.viewers):
            if viewer.recheck_at <= now and not viewer.revoked.is_set():
                viewer.recheck_at = now + viewer.recheck_every
                self._spawn(self._recheck(viewer))

    async def _recheck(self, viewer: Viewer) -> None:
        try:
            allowed = await viewer.still_allowed()
        except Exception:
            log.warning("stream %s: access re-check failed; retrying", viewer.label, exc_info=True)
            viewer.recheck_at = time.monotonic() + MAINTENANCE_INTERVAL * 5
            return
        if not allowed and not viewer.revoked.is_set():
            log.info("stream %s: access withdrawn; ending it", viewer.label)
            self.counters.revoked += 1
            viewer.revoked.set()
            if viewer.finite:
                self._cut(viewer)  # a clip that ended cleanly would pass for the whole span: break it
                return
            for feed in viewer.feeds:
                feed.direct.discard(viewer)
            for feed in self.feeds.values():
                for listener in feed.listeners:  # wake grid streams at once
                    listener.set()
            for live_feed in viewer.live_holds:  # and H.264 viewers
                live_feed.wake()

    def _enforce_write_deadline(self) -> None:
        limit = time.monotonic() - self.write_deadline
        for viewer in list(self.viewers):
            if viewer.sending_since is not None and viewer.sending_since < limit:
                log.info("stream %s: viewer dropped (no write progress for %.0fs)", viewer.label, self.write_deadline)
                self.counters.deadline_drops += 1
                self._cut(viewer)

    async def _show_offline_frames(self) -> None:
        """Push the offline card to feeds whose camera is not live: silent for FRAME_STALE_AFTER,
        or reported not live by its capture loop (then within a second of the loop knowing)."""
        feeds = list(self.feeds.values())
        slugs = list(dict.fromkeys(feed.slug for feed in feeds))
        statuses: dict[str, RawStatus] | None
        try:
            statuses = await self.bus.statuses(slugs)
        except BUS_ERRORS:
            statuses = None
        now = time.monotonic()
        for feed in feeds:
            raw = None if statuses is None else statuses.get(feed.slug, {})
            status = CameraStatus.from_fields(raw)
            silent = now - feed.live_at >= FRAME_STALE_AFTER
            # A capture loop said so after the newest frame we got: believe it now, not in 3 s.
            newest = feed.frame.ts if feed.live and feed.frame is not None else 0.0
            reported_down = bool(raw) and not status.is_live and status.updated_ts >= newest
            if silent or reported_down:
                await self._push_offline(feed, status)

    async def _push_offline(self, feed: Feed, status: CameraStatus) -> None:
        width = feed.frame.width if feed.frame else (feed.width or 640)
        height = feed.frame.height if feed.frame else width * 9 // 16
        reason = status.reason() if not status.is_live else "no recent frame"
        title = "OFFLINE" if status.is_live else status.label.upper().replace("…", "...")  # Hershey fonts are ASCII
        live_at = feed.live_at
        jpeg = await asyncio.to_thread(render_offline_jpeg, feed.name, reason, width, height, title)
        if feed.live_at == live_at:  # no live frame came meanwhile
            feed.push(Frame(0, time.time(), width, height, jpeg), live=False)

    def viewer_counts(self) -> dict[str, int]:
        """Live viewers of each camera in this process (single streams and grid tiles, every size)."""
        counts: dict[str, int] = {}
        for (slug, _), feed in list(self.feeds.items()):
            counts[slug] = counts.get(slug, 0) + feed.viewers
        for slug, viewers in self.live.viewer_counts().items():
            counts[slug] = counts.get(slug, 0) + viewers
        return counts

    async def _report_viewers(self) -> None:
        counts = self.viewer_counts()
        gone = self._reported - counts.keys()
        try:
            await self.bus.report_viewers(self.process, counts, gone)
        except BUS_ERRORS:
            return  # the next second tries again
        self._reported = set(counts)

    async def _renew_wants(self) -> None:
        """Tell capture, every few seconds, which cameras and sizes this process's viewers watch."""
        for slug, width in list(self.feeds):
            try:
                await self.bus.want_width(slug, width)
            except BUS_ERRORS:
                return
        await self.live.renew_wants()

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

    def __init__(self, generator: AsyncGenerator[bytes, None]) -> None:
        self.generator = generator
        self.loop = asyncio.get_running_loop()
        self._closed = False

    def __aiter__(self) -> AsyncGenerator[bytes, None]:
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
        hub = _hubs[loop] = Hub(settings.REDIS_URL, settings.NVR_REDIS_NAMESPACE)
    return hub
