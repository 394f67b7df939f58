"""A web process's copy of a camera's H.264 (streaming.livefeed), fed chunks as the bus delivers them.

- a new viewer gets the init segment and the group since the last keyframe at once, then each fragment;
- the stored group and the channel overlap without repeating a fragment;
- a lost fragment stops the feed until the next keyframe (a decoder would show garbage);
- a viewer that fell behind skips the rest of the old group and goes on from the new keyframe;
- a new generation (another init segment) ends the viewer's stream.
"""

from __future__ import annotations

import asyncio

import pytest

from framebus import ChunkKind, LiveChunk
from streaming.hub import StreamCounters, Viewer
from streaming.livefeed import LiveFeed, NewGeneration, live_chunks


def init(generation: int = 7) -> LiveChunk:
    return LiveChunk(ChunkKind.INIT, generation, 0, 0.0, True, b"INIT%d" % generation, "avc1.64001f")


def fragment(seq: int, *, keyframe: bool = False, generation: int = 7) -> LiveChunk:
    return LiveChunk(ChunkKind.MEDIA, generation, seq, 0.0, keyframe, b"F%d" % seq)


def test_a_viewer_starts_from_the_keyframe_and_gets_every_fragment_once():
    async def run() -> list[bytes]:
        feed = LiveFeed("gate", "channel")
        for chunk in (init(), fragment(1, keyframe=True), fragment(2), fragment(3)):
            feed.push(chunk)
        feed.push(fragment(3))  # the channel repeats what the stored group had
        feed.push(init())  # repeated with every keyframe's group
        viewer = Viewer("gate", None)
        got: list[bytes] = []
        stream = live_chunks(feed, viewer, StreamCounters())
        got.append(await anext(stream))
        got.append(await anext(stream))
        feed.push(fragment(4))
        got.append(await anext(stream))
        await stream.aclose()
        return got

    assert asyncio.run(run()) == [b"INIT7", b"F1F2F3", b"F4"]


def test_a_lost_fragment_waits_for_the_next_keyframe():
    feed = LiveFeed("gate", "channel")
    for chunk in (init(), fragment(1, keyframe=True), fragment(2), fragment(4), fragment(5)):
        feed.push(chunk)
    assert [c.seq for c in feed.gop] == [1, 2] and feed.gaps == 1
    feed.push(fragment(6, keyframe=True))
    feed.push(fragment(7))
    assert [c.seq for c in feed.gop] == [6, 7]


def test_a_viewer_behind_skips_to_the_new_keyframe_and_a_new_generation_ends_it():
    async def run() -> tuple[list[bytes], int]:
        feed = LiveFeed("gate", "channel")
        for chunk in (init(), fragment(1, keyframe=True)):
            feed.push(chunk)
        viewer = Viewer("gate", None)
        counters = StreamCounters()
        stream = live_chunks(feed, viewer, counters)
        got = [await anext(stream), await anext(stream)]
        for chunk in (fragment(2), fragment(3), fragment(4, keyframe=True), fragment(5)):
            feed.push(chunk)  # while this viewer was busy: 2 and 3 are of a group it never finishes
        got.append(await anext(stream))
        feed.push(init(8))
        with pytest.raises(NewGeneration):
            await anext(stream)
        return got, viewer.skipped

    got, skipped = asyncio.run(run())
    assert got == [b"INIT7", b"F1", b"F4F5"] and skipped == 1


def test_a_viewer_that_kept_up_skips_nothing_at_a_keyframe():
    async def run() -> tuple[list[bytes], int]:
        feed = LiveFeed("gate", "channel")
        for chunk in (init(), fragment(1, keyframe=True), fragment(2)):
            feed.push(chunk)
        viewer = Viewer("gate", None)
        stream = live_chunks(feed, viewer, StreamCounters())
        got = [await anext(stream), await anext(stream)]
        feed.push(fragment(3, keyframe=True))
        got.append(await anext(stream))
        return got, viewer.skipped

    assert asyncio.run(run()) == ([b"INIT7", b"F1F2", b"F3"], 0)


def test_a_live_viewer_that_stops_reading_is_cut_at_the_write_deadline_and_lets_go(redis_url, settings):
    """The hub's one lifecycle, with the real bus: a viewer stuck in a send is cut, its feed released."""
    import threading
    import time

    from streaming.hub import Hub
    from tests.support.frames import names, sync_bus

    settings.NVR_STREAM_WRITE_DEADLINE = 0.5
    stop = threading.Event()

    def camera() -> None:  # what cameras.relay publishes: init and keyframe, then a fragment every 66 ms
        bus = sync_bus(redis_url)
        seq = 1
        bus.publish_live("gate", [init(), fragment(1, keyframe=True)], restart=True)
        while not stop.wait(0.066):
            seq += 1
            bus.publish_live("gate", [fragment(seq)])
        bus.close()

    async def scenario() -> tuple[int, int, int]:
        hub = Hub(redis_url, names().namespace)
        publisher = threading.Thread(target=camera, daemon=True)
        publisher.start()

        async def stalled_viewer() -> None:  # the view task, stuck in a send that never completes
            async with hub.viewer("gate") as viewer, hub.watch_live("gate", viewer) as feed:
                async for _ in live_chunks(feed, viewer, hub.counters):
                    await asyncio.sleep(3600)

        task = asyncio.create_task(stalled_viewer())
        try:
            async with asyncio.timeout(8):
                with pytest.raises(asyncio.CancelledError):
                    await task
        finally:
            stop.set()
            if hub._maintenance is not None:
                hub._maintenance.cancel()
            await asyncio.sleep(0.3)
            async with asyncio.timeout(5):
                await hub.live.subscriber.aclose()
            await hub.bus.aclose()
        return hub.deadline_drops, len(hub.live.feeds), len(hub.viewers)

    began = time.monotonic()
    assert asyncio.run(scenario()) == (1, 0, 0)
    assert time.monotonic() - began < 6
