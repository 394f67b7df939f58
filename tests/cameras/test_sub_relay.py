"""The grid's H.264 (cameras.relay with LiveStream.SUB): a camera's sub stream relayed under names of its own.

Against two GStreamer RTSP servers, a main one and a sub one of another size and shape: the sub relay
publishes fragments whose init segment has the sub stream's size and whose NAL units are those of a direct
read of the sub stream, while the main relay goes on with the main stream's; nothing is decoded. When the
sub server dies, the sub relay carries the main stream's packets (a new generation, at the main size),
and when it is back, the sub stream's again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis

from cameras import fmp4
from cameras.config import CameraConfig
from cameras.relay import H264Relay
from cameras.workers import CaptureLoop
from framebus import ChunkKind, LiveChunk, LiveStream
from tests.support.frames import names, sync_bus, wait_for_status
from tests.support.h264 import SLICE_TYPES, ffprobe_video, mp4_units, read_rtsp_units
from tests.support.servers import RtspServer

MAIN = (640, 360)
SUB = (320, 240)


def collect(url: str, slug: str, stream: str, seconds: float) -> list[LiveChunk]:
    """What the relay of `stream` publishes over `seconds`, wanted the whole time (as a web process does)."""
    client = redis.Redis.from_url(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(names().live(slug, stream))
    chunks: list[LiveChunk] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            client.set(names().want_live(slug, stream), b"1", px=10_000)
            message = pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                chunks.append(LiveChunk.unpack(message["data"]))
    finally:
        pubsub.close()
        client.close()
    return chunks


def playable(chunks: list[LiveChunk], path: Path) -> Path:
    """The last generation's init segment and its fragments from its first keyframe on, as a file."""
    init = [c for c in chunks if c.kind is ChunkKind.INIT][-1]
    media = [c for c in chunks if c.kind is ChunkKind.MEDIA and c.generation == init.generation]
    first = next(i for i, c in enumerate(media) if c.keyframe)
    path.write_bytes(init.data + b"".join(c.data for c in media[first:]))
    return path


def size_of(path: Path) -> tuple[int, int]:
    probe = ffprobe_video(str(path))
    assert probe["codec_name"] == "h264"
    return probe["width"], probe["height"]


@pytest.mark.slow
def test_the_sub_relay_carries_the_sub_stream_and_the_main_one_while_it_has_failed(rtsp_available, redis_url, tmp_path):
    main = RtspServer(mounts=[f"/main:{MAIN[0]}x{MAIN[1]}"], fps=10).start()
    sub = RtspServer(mounts=[f"/sub:{SUB[0]}x{SUB[1]}"], fps=10).start()
    config = CameraConfig(
        slug="gate", name="Gate", kind="rtsp", source=main.url("/main"), sub_source=sub.url("/sub"), max_fps=10
    )
    relays = [H264Relay(config, sync_bus(redis_url)), H264Relay(config, sync_bus(redis_url), stream=LiveStream.SUB)]
    loop = CaptureLoop(config, sync_bus(redis_url), relays, backoff_cap=1.0)
    direct: list[bytes] = []
    stop = threading.Event()
    reader = threading.Thread(target=read_rtsp_units, args=(sub.url("/sub"), stop, direct), daemon=True)
    loop.start()
    try:
        wait_for_status(redis_url, "gate", lambda s: s["state"] == "online" and s["sub_stream"] == "live", 20)
        reader.start()
        chunks = collect(redis_url, "gate", "sub", 2.5)
        main_chunks = collect(redis_url, "gate", "", 1.5)
        stop.set()
        reader.join(10)
        stored = redis.Redis.from_url(redis_url).lrange(names().live_gop("gate", "sub"), 0, -1)
        assert LiveChunk.unpack(stored[0]).kind is ChunkKind.INIT, "the bus keeps the sub relay's group apart"

        path = playable(chunks, tmp_path / "sub.mp4")
        assert size_of(path) == SUB, "the grid's relay carries the sub stream"
        ours, sent = mp4_units(path), set(direct)
        assert sum(fmp4.nal_type(u) in SLICE_TYPES for u in ours) >= 15
        assert all(u in sent for u in ours), "every NAL unit as the sub stream sent it"
        assert size_of(playable(main_chunks, tmp_path / "main.mp4")) == MAIN, "the main relay: the main stream"
        assert loop.decoded == 0 and loop.sub is not None and loop.sub.decoded == 0, "relaying decodes nothing"

        sub.kill()
        killed = time.monotonic()
        wait_for_status(redis_url, "gate", lambda s: s["sub_stream"] == "fallback", 15)
        fallback = []
        while time.monotonic() - killed < 15 and not any(c.kind is ChunkKind.INIT for c in fallback):
            fallback += collect(redis_url, "gate", "sub", 1.0)
        print(f"\nthe grid's relay carried the main stream {time.monotonic() - killed:.1f} s after the sub died")
        fallback += collect(redis_url, "gate", "sub", 1.0)
        assert size_of(playable(fallback, tmp_path / "fallback.mp4")) == MAIN, "sub viewers get the main stream"

        sub.start()
        back: list[LiveChunk] = []
        started = time.monotonic()
        while time.monotonic() - started < 20 and not any(c.kind is ChunkKind.INIT for c in back):
            back += collect(redis_url, "gate", "sub", 1.0)
        back += collect(redis_url, "gate", "sub", 1.0)
        assert size_of(playable(back, tmp_path / "back.mp4")) == SUB, "the sub stream again once it is back"
    finally:
        stop.set()
        loop.stop()
        loop.join(10)
        main.stop()
        sub.stop()
    assert not any(t.name.startswith("capture-gate") for t in threading.enumerate()), "both threads ended"


def test_a_switch_of_stream_starts_a_new_generation_and_the_sub_stream_wins(redis_url):
    """cameras.workers.SubPackets on encoded packets: sub (320x240), then main (640x360) once the sub is silent."""
    from cameras.workers import SubPackets
    from tests.cameras.test_relay import _encoded

    config = CameraConfig(slug="switch", name="Switch", kind="rtsp", source="rtsp://x/", sub_source="rtsp://x/s")
    relay = H264Relay(config, sync_bus(redis_url), stream=LiveStream.SUB)
    assert relay.packets_from_sub_stream
    packets = SubPackets("switch", [relay])
    for packet in _encoded(320, 240, 5, 0):
        packets.from_sub(packet)
    first = relay.generation
    for packet in _encoded(640, 360, 5, 5):
        packets.from_main(packet)  # the sub stream sent a packet less than SUB_SILENT ago: it still wins
    assert relay.generation == first and fmp4.parse_sps(relay._params[0]).width == 320  # type: ignore[index]
    packets.SUB_SILENT = 0.0
    for packet in _encoded(640, 360, 5, 10):
        packets.from_main(packet)
    assert relay.generation != first and fmp4.parse_sps(relay._params[0]).width == 640  # type: ignore[index]
    assert packets.feeding.value == "fallback"
