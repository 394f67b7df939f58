"""The camera's own H.264 in one web process: one subscription per watched camera, many viewers.

A LiveFeed holds a camera's init segment and its fragments since the last keyframe (what
cameras.relay publishes), so a new viewer starts at once from the last keyframe: from this
process's copy when the camera is already watched here, else from the copy the bus keeps
(`ViewBus.live_gop`). A viewer is sent the init segment, the current group, then each new
fragment; one that falls behind (its connection did not drain while a new keyframe came) skips
the rest of the old group and goes on from the new keyframe, so nothing queues per viewer beyond
one group of pictures, and the write deadline (Hub.viewer) cuts one that stops reading.

A lost fragment (a sequence gap) stops the feed until the next keyframe; a new generation (the
camera's format changed, or its capture restarted) ends every viewer's stream, which the client
reopens: a player cannot switch init segments mid-stream, a browser re-creates its MediaSource.

A camera with a sub stream has a second feed (`LiveStream.SUB`, the grid's tiles), held and counted like
the main one, under its own names on the bus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from framebus import BUS_ERRORS, ChunkKind, FrameSubscriber, LiveChunk, LiveStream, ViewBus

if TYPE_CHECKING:
    from streaming.hub import StreamCounters, Viewer

log = logging.getLogger(__name__)

CONTENT_TYPE = "video/mp4"


class NewGeneration(Exception):
    """The stream restarted with a new init segment: the viewer starts again."""


class NotRelayed(Exception):
    """The camera's video is not H.264 (an init chunk without data names its codec): use MJPEG."""

    def __init__(self, codec: str) -> None:
        super().__init__(f"the camera sends {codec}, which is relayed only as H.264")
        self.codec = codec


class LiveFeed:
    """One camera's H.264 live stream in this process: init segment and current group of pictures."""

    def __init__(self, slug: str, channel: str, stream: LiveStream = LiveStream.MAIN) -> None:
        self.slug = slug
        self.channel = channel
        self.stream = stream
        self.init: LiveChunk | None = None
        self.gop: list[LiveChunk] = []  # fragments since the last keyframe, in order, none missing
        self.epoch = 0  # counts groups: a viewer whose epoch is old skips to the newest keyframe
        self.previous_end = 0  # the last fragment of the group before the current one
        self.viewers = 0
        self.fragments = 0
        self.gaps = 0
        self.live_at = time.monotonic()
        self._waiting_keyframe = True  # no keyframe yet, or a fragment was lost
        self._changed = asyncio.Event()

    @property
    def generation(self) -> int | None:
        return self.init.generation if self.init is not None else None

    @property
    def ready(self) -> bool:
        """An init segment and a keyframe to start from, or word that there will be none."""
        return self.init is not None and (bool(self.gop) or not self.init.data)

    def push(self, chunk: LiveChunk) -> None:
        """Take one chunk from the bus (or the stored group); duplicates and strays are ignored."""
        if chunk.kind is ChunkKind.INIT:
            if self.init is not None and chunk.generation == self.init.generation:
                return  # repeated with every keyframe's group
            if self.init is not None and not chunk.data and not self.init.data:
                return  # the same word again: still not H.264
            self.init, self.gop = chunk, []
            self.epoch += 1
            self._waiting_keyframe = True
            self._wake()
            return
        if self.init is None or chunk.generation != self.init.generation:
            return  # a fragment of a generation whose init segment we have not got
        last = self.gop[-1].seq if self.gop else 0
        if chunk.seq <= last:
            return  # already have it (the stored group and the channel overlap)
        if chunk.keyframe:
            self.previous_end = last
            self.gop = [chunk]
            self.epoch += 1
            self._waiting_keyframe = False
        elif self._waiting_keyframe:
            return
        elif chunk.seq != last + 1:
            self.gaps += 1
            self._waiting_keyframe = True  # a picture is missing: the next keyframe repairs the stream
            return
        else:
            self.gop.append(chunk)
        self.fragments += 1
        self.live_at = time.monotonic()
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def changed(self) -> None:
        """Wait for the next chunk (or a wake-up of the hub: a revoked viewer)."""
        await self._changed.wait()

    def wake(self) -> None:
        self._wake()


async def live_chunks(feed: LiveFeed, viewer: Viewer, counters: StreamCounters) -> AsyncIterator[bytes]:
    """One viewer's bytes: the init segment, the current group, then each new fragment, until revoked.

    Raises NewGeneration when the stream restarts with a new init segment (the viewer starts again).
    """
    while not feed.ready and not viewer.revoked.is_set():
        await feed.changed()
    if viewer.revoked.is_set():
        return
    assert feed.init is not None
    if not feed.init.data:
        raise NotRelayed(feed.init.codec)
    generation = feed.generation
    viewer.sending_since = time.monotonic()
    yield feed.init.data
    viewer.sending_since = None
    epoch, index, last_sent = feed.epoch, 0, 0
    while not viewer.revoked.is_set():
        if feed.generation != generation:
            raise NewGeneration()
        if feed.epoch != epoch:
            if feed.epoch != epoch + 1 or last_sent < feed.previous_end:
                viewer.skip(1, counters)  # fell behind: the rest of the old group is skipped
            epoch, index = feed.epoch, 0
        if index >= len(feed.gop):
            await feed.changed()
            continue
        pending = feed.gop[index:]
        index = len(feed.gop)
        last_sent = pending[-1].seq
        data = pending[0].data if len(pending) == 1 else b"".join(c.data for c in pending)
        viewer.sending_since = time.monotonic()
        yield data
        viewer.sending_since = None
        viewer.frames += len(pending)
        counters.frames_sent += len(pending)
        counters.bytes_sent += len(data)


class LiveFeeds:
    """This process's live feeds: one subscription per camera, however many viewers."""

    def __init__(self, redis_url: str, namespace: str, bus: ViewBus) -> None:
        self.bus = bus
        self.subscriber = FrameSubscriber(redis_url, self._on_chunk, namespace=namespace, decode=LiveChunk.unpack)
        self.feeds: dict[tuple[str, LiveStream], LiveFeed] = {}
        self._by_channel: dict[str, LiveFeed] = {}

    def _on_chunk(self, channel: str, chunk: LiveChunk) -> None:
        feed = self._by_channel.get(channel)
        if feed is not None:
            feed.push(chunk)

    @asynccontextmanager
    async def watch(
        self, slug: str, holds: list[LiveFeed] | None = None, stream: LiveStream = LiveStream.MAIN
    ) -> AsyncIterator[LiveFeed]:
        """Hold a camera's feed for the block (`holds`: the viewer's list, emptied when the hub cuts it)."""
        feed = self.feeds.get((slug, stream))
        new = feed is None
        if feed is None:
            feed = self.feeds[slug, stream] = LiveFeed(slug, self.bus.names.live(slug, stream), stream)
            self._by_channel[feed.channel] = feed
            self.subscriber.want(feed.channel)
        feed.viewers += 1
        if holds is not None:
            holds.append(feed)
        try:
            if new:
                await self._prime(feed)
            yield feed
        finally:
            if holds is None or feed in holds:  # else the hub let go of it when it cut the viewer
                if holds is not None:
                    holds.remove(feed)
                self.release(feed)

    def release(self, feed: LiveFeed) -> None:
        """One holder fewer; the last one out unsubscribes."""
        feed.viewers -= 1
        if feed.viewers == 0 and self.feeds.get((feed.slug, feed.stream)) is feed:
            del self.feeds[feed.slug, feed.stream]
            del self._by_channel[feed.channel]
            self.subscriber.unwant(feed.channel)

    async def _prime(self, feed: LiveFeed) -> None:
        """Ask capture for the stream and start from the group the bus keeps (the last keyframe on)."""
        try:
            await self.bus.want_live(feed.slug, feed.stream)
            stored = await self.bus.live_gop(feed.slug, feed.stream)
        except BUS_ERRORS:
            return
        for chunk in stored:
            feed.push(chunk)

    async def renew_wants(self) -> None:
        for slug, stream in list(self.feeds):
            try:
                await self.bus.want_live(slug, stream)
            except BUS_ERRORS:
                return

    def viewer_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (slug, _), feed in self.feeds.items():
            counts[slug] = counts.get(slug, 0) + feed.viewers
        return counts

    def wake_all(self) -> None:
        for feed in self.feeds.values():
            feed.wake()
