"""The H.264 relay (cameras.relay): the camera's own packets as fragmented MP4, decoding nothing.

- on a real RTSP camera it publishes nothing until a web process wants the stream, then an init
  segment and one fragment per packet; the bus keeps the group since the last keyframe; the result
  is H.264 at the camera's size to ffprobe, its NAL units (SEI and slices) byte-identical to a direct
  PyAV read of the same camera; nothing is decoded;
- a camera that changes resolution mid-stream (720p, then 1080p, encoded here by libx264) gets a
  second generation with a new init segment at the new size, and the packets reach the next output
  unchanged.
"""

from __future__ import annotations

import io
import subprocess
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import redis

from cameras import fmp4
from cameras.config import CameraConfig
from cameras.relay import H264Relay
from cameras.workers import CaptureLoop
from framebus import ChunkKind, LiveChunk
from tests.support.frames import names, sync_bus
from tests.support.h264 import SLICE_TYPES, ffprobe_video, mp4_units, read_rtsp_units
from tests.support.servers import RtspServer


def _collect(url: str, slug: str, seconds: float) -> list[LiveChunk]:
    client = redis.Redis.from_url(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(names().live(slug))
    chunks: list[LiveChunk] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            client.set(names().want_live(slug), b"1", px=10_000)
            message = pubsub.get_message(timeout=0.2)
            if message and message["type"] == "message":
                chunks.append(LiveChunk.unpack(message["data"]))
    finally:
        pubsub.close()
        client.close()
    return chunks


def _playable(chunks: list[LiveChunk]) -> bytes:
    """The init segment and every fragment from the first keyframe of its generation on."""
    init = next(c for c in chunks if c.kind is ChunkKind.INIT)
    media = [c for c in chunks if c.kind is ChunkKind.MEDIA and c.generation == init.generation]
    first = next(i for i, c in enumerate(media) if c.keyframe)
    seqs = [c.seq for c in media[first:]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a fragment was lost or repeated"
    return init.data + b"".join(c.data for c in media[first:])


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_relay_publishes_the_cameras_own_h264_only_while_wanted(rtsp_available, redis_url, tmp_path):
    server = RtspServer(width=640, height=480, fps=15).start()
    slug = "relayed"
    config = CameraConfig(slug=slug, name="Relayed", kind="rtsp", source=server.url("/test"), max_fps=15)
    relay = H264Relay(config, sync_bus(redis_url))
    loop = CaptureLoop(config, sync_bus(redis_url), [relay], backoff_cap=1.0)
    direct: list[bytes] = []
    stop = threading.Event()
    reader = threading.Thread(target=read_rtsp_units, args=(server.url("/test"), stop, direct), daemon=True)
    loop.start()
    try:
        unwanted = _listen_unwanted(redis_url, slug, 2.0)
        kept = len(relay.gop)
        reader.start()
        chunks = _collect(redis_url, slug, 3.0)
        stored = [
            LiveChunk.unpack(raw) for raw in redis.Redis.from_url(redis_url).lrange(names().live_gop(slug), 0, -1)
        ]
        time.sleep(0.5)
    finally:
        stop.set()
        loop.stop()
        loop.join(10)
        reader.join(10)
        server.stop()
    assert unwanted == 0, "published while nobody wanted the stream"
    assert kept, "the relay kept the group of pictures while unwanted"
    assert loop.decoded == 0, "the relay made the loop decode"
    assert stored[0].kind is ChunkKind.INIT and stored[1].keyframe, "the bus keeps init + group from a keyframe"
    media = [c for c in chunks if c.kind is ChunkKind.MEDIA]
    assert len(media) >= 25, len(media)  # one fragment per packet (15 per second), none lost (_playable)
    assert chunks[0].kind is ChunkKind.INIT and chunks[1].keyframe, "a new viewer starts from a keyframe at once"

    path = tmp_path / "live.mp4"
    path.write_bytes(_playable(chunks))
    probe = ffprobe_video(str(path))
    assert (probe["codec_name"], probe["width"], probe["height"]) == ("h264", 640, 480)
    assert int(probe["nb_read_packets"]) == len(media)  # every fragment a sample
    copied = tmp_path / "copy.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-c", "copy", str(copied)], check=True, timeout=60)
    assert ffprobe_video(str(copied))["width"] == 640

    ours = mp4_units(path)
    sent = set(direct)
    slices = [u for u in ours if fmp4.nal_type(u) in SLICE_TYPES]
    assert len(slices) >= len(media)
    assert all(u in sent for u in slices), "a slice differs from the camera's"
    assert {fmp4.NAL_SPS, fmp4.NAL_PPS} <= {fmp4.nal_type(u) for u in ours}
    assert all(u in sent for u in ours), "every NAL unit (SPS, PPS, SEI, slices) as the camera sent it"


def _listen_unwanted(url: str, slug: str, seconds: float) -> int:
    client = redis.Redis.from_url(url)
    client.delete(names().want_live(slug))
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(names().live(slug))
    count = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.2)
            count += bool(message and message["type"] == "message")
    finally:
        pubsub.close()
        client.close()
    return count


def _encoded(width: int, height: int, frames: int, start: int, codec: str = "libx264") -> list[av.Packet]:
    """Packets of `frames` pictures at width x height, as a camera's Annex B stream (libx264, MPEG-TS)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mpegts") as out:
        options = {"tune": "zerolatency", "g": "15", "bf": "0"} if codec == "libx264" else {}
        stream = out.add_stream(codec, rate=15, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            picture = np.full((height, width, 3), (index * 8) % 255, np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = start + index, Fraction(1, 15)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    buffer.seek(0)
    container = av.open(buffer, "r", format="mpegts")
    return [p for p in container.demux(container.streams.video[0]) if p.size]


def test_a_resolution_change_mid_stream_starts_a_new_generation(redis_url, tmp_path: Path):
    config = CameraConfig(slug="switching", name="Switching", kind="rtsp", source="rtsp://x/", max_fps=15)
    relay = H264Relay(config, sync_bus(redis_url))
    redis.Redis.from_url(redis_url).set(names().want_live("switching"), b"1", px=10_000)
    published: list[LiveChunk] = []
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(names().live("switching"))
    time.sleep(0.1)
    packets = _encoded(1280, 720, 20, 0) + _encoded(1920, 1080, 20, 20)
    sent = [u for p in packets for u in fmp4.split_annexb(bytes(p))]
    assert sum(fmp4.nal_type(u) == fmp4.NAL_SEI for u in sent) == 2  # x264's, in each first keyframe
    for packet in packets:
        before = bytes(packet)
        relay.packet(packet)
        assert bytes(packet) == before  # the next output (the recorder) gets it as the camera sent it
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            published.append(LiveChunk.unpack(message["data"]))
    inits = {c.generation: c for c in published if c.kind is ChunkKind.INIT}
    assert len(inits) == 2, "a new init segment when the size changed"
    sizes, carried = [], []
    for generation, init in inits.items():
        path = tmp_path / f"{generation}.mp4"
        path.write_bytes(_playable([init, *(c for c in published if c.generation == generation)]))
        probe = ffprobe_video(str(path))
        sizes.append((probe["width"], probe["height"], int(probe["nb_read_packets"])))
        carried.extend(mp4_units(path))
    assert sorted(sizes) == [(1280, 720, 20), (1920, 1080, 20)]
    assert sorted(carried) == sorted(sent), "SEI, parameter sets and slices byte for byte"
    assert {init.codec[:5] for init in inits.values()} == {"avc1."}


def test_a_camera_sending_h265_is_named_so_viewers_fall_back(redis_url):
    from streaming.hub import StreamCounters, Viewer
    from streaming.livefeed import LiveFeed, NotRelayed, live_chunks

    config = CameraConfig(slug="hevc", name="HEVC", kind="rtsp", source="rtsp://x/", max_fps=15)
    relay = H264Relay(config, sync_bus(redis_url))
    redis.Redis.from_url(redis_url).set(names().want_live("hevc"), b"1", px=10_000)
    for packet in _encoded(320, 240, 5, 0, codec="libx265"):
        relay.packet(packet)
    stored = [LiveChunk.unpack(raw) for raw in redis.Redis.from_url(redis_url).lrange(names().live_gop("hevc"), 0, -1)]
    assert [(c.kind, c.codec, c.data) for c in stored] == [(ChunkKind.INIT, "hvc1", b"")]
    feed = LiveFeed("hevc", "channel")
    feed.push(stored[0])
    assert feed.ready

    async def first() -> None:
        async for _ in live_chunks(feed, Viewer("hevc", None), StreamCounters()):
            pass

    import asyncio

    with pytest.raises(NotRelayed, match="hvc1"):
        asyncio.run(first())
