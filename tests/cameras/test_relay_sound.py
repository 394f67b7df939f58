"""The relay's sound (cameras.relay + cameras.relaysound): the camera's audio as an AAC track of the live fMP4.

On one real RTSP server with an AAC mount, a G.711 mu-law mount and one of a codec nobody knows: the live
stream ffprobe reads is H.264 + AAC (copied, or converted from G.711), the sound starts with the group's
keyframe (a new viewer hears what it sees), `ffmpeg -c copy` takes it, and the video's NAL units are still
the camera's, byte for byte. The unknown codec and the camera's `audio` switch off give video only (the
first with a line in the log saying why).
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from cameras import fmp4
from cameras.config import CameraConfig
from cameras.relay import H264Relay
from cameras.workers import CaptureLoop
from framebus import ChunkKind
from tests.cameras.test_relay import _collect, _playable
from tests.support.frames import sync_bus
from tests.support.h264 import mp4_units, read_rtsp_units
from tests.support.servers import RtspServer


def streams(path: str) -> dict[str, dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_streams", "-of", "json", path],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_live_stream_carries_the_cameras_sound(rtsp_available, redis_url, tmp_path, caplog):
    server = RtspServer(mounts=["/aac:320x240:aac", "/mu:320x240:pcmu", "/odd:320x240:mystery"], fps=15).start()
    cameras = {
        "aac": CameraConfig(slug="aac", name="AAC", kind="rtsp", source=server.url("/aac"), max_fps=15),
        "mu": CameraConfig(slug="mu", name="Mu", kind="rtsp", source=server.url("/mu"), max_fps=15),
        "odd": CameraConfig(slug="odd", name="Odd", kind="rtsp", source=server.url("/odd"), max_fps=15),
        "quiet": CameraConfig(
            slug="quiet", name="Quiet", kind="rtsp", source=server.url("/aac"), max_fps=15, audio=False
        ),
    }
    loops = [
        CaptureLoop(c, sync_bus(redis_url), [H264Relay(c, sync_bus(redis_url))], backoff_cap=1.0)
        for c in cameras.values()
    ]
    direct: list[bytes] = []
    stop = threading.Event()
    reader = threading.Thread(target=read_rtsp_units, args=(server.url("/aac"), stop, direct), daemon=True)
    for loop in loops:
        loop.start()
    reader.start()
    results: dict[str, list] = {}
    try:
        time.sleep(2.5)  # the sound heard, and a keyframe since (a stream with its track) to start from
        collectors = [
            threading.Thread(target=lambda s=slug: results.__setitem__(s, _collect(redis_url, s, 3.0)))
            for slug in cameras
        ]
        for collector in collectors:
            collector.start()
        for collector in collectors:
            collector.join(20)
    finally:
        stop.set()
        for loop in loops:
            loop.stop()
        for loop in loops:
            loop.join(10)
        reader.join(10)
        server.stop()

    for slug, audible in (("aac", True), ("mu", True), ("odd", False), ("quiet", False)):
        chunks = results[slug]
        newest = [c for c in chunks if c.kind is ChunkKind.INIT][-1].generation  # with sound, once it is heard
        chunks = chunks[next(i for i, c in enumerate(chunks) if c.generation == newest) :]
        init = chunks[0]
        assert init.codec.startswith("avc1.") and init.codec.endswith(",mp4a.40.2") == audible, (slug, init.codec)
        path = tmp_path / f"{slug}.mp4"
        path.write_bytes(_playable(chunks))
        found = streams(str(path))
        assert found["video"]["codec_name"] == "h264" and found["video"]["width"] == 320, (slug, found)
        if not audible:
            assert "audio" not in found, (slug, found)
            continue
        audio = found["audio"]
        assert audio["codec_name"] == "aac", (slug, audio)
        assert int(audio["sample_rate"]) == (16000 if slug == "aac" else 8000), (slug, audio)
        # A new viewer starts with the sound of what it sees: both tracks begin together, and run as long.
        begins = float(audio["start_time"]) - float(found["video"]["start_time"])
        print(slug, "sound begins", round(begins, 3), "s after the picture;", audio["nb_read_packets"], "frames")
        assert -0.15 < begins < 0.4, (slug, audio["start_time"], found["video"]["start_time"])
        assert int(audio["nb_read_packets"]) >= 12, (slug, audio)  # > 1.5 s of sound
        copied = tmp_path / f"{slug}-copy.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-c", "copy", str(copied)], check=True, timeout=60)
        assert set(streams(str(copied))) == {"video", "audio"}
        # Every chunk after the first keyframe is of one group: video and sound fragments share the sequence.
        media = [c for c in chunks if c.kind is ChunkKind.MEDIA and c.generation == init.generation]
        assert any(not c.keyframe for c in media)
    ours = mp4_units(tmp_path / "aac.mp4")
    assert ours and all(u in set(direct) for u in ours), "the video's NAL units are the camera's, byte for byte"
    assert sum(fmp4.nal_type(u) in (1, 5) for u in ours) >= 30
    assert "live video without sound: unknown audio codec" in caplog.text


def _with_sound(seconds: int) -> tuple[list, list]:
    """Video (libx264, a keyframe a second) and AAC packets of `seconds` seconds, demuxed from one MPEG-TS."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=15, options={"tune": "zerolatency", "g": "15", "bf": "0"})
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = out.add_stream("aac", rate=16000, layout="mono")
        for index in range(seconds * 15):
            frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 96, np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 15)
            out.mux(video.encode(frame))
        for index in range(seconds * 16):
            tone = (np.sin(np.arange(1000) / 3) * 0.3).astype(np.float32)[None, :]
            sound = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            sound.sample_rate, sound.pts, sound.time_base = 16000, index * 1000, Fraction(1, 16000)
            out.mux(audio.encode(sound))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    buffer.seek(0)
    container = av.open(buffer, "r", format="mpegts")
    packets = [p for p in container.demux() if p.size]
    return [p for p in packets if p.stream.type == "video"], [p for p in packets if p.stream.type == "audio"]


def test_a_track_is_offered_only_while_its_sound_is_heard(redis_url, tmp_path):
    """A camera that announces audio but sends none (its microphone off) keeps a stream of video only:
    a silent track would hold a browser's picture back. Sound that begins, then stops, restarts the stream."""
    config = CameraConfig(slug="mic", name="Mic", kind="rtsp", source="rtsp://x/", max_fps=15)
    relay = H264Relay(config, sync_bus(redis_url))
    video, audio = _with_sound(4)
    keyframes = [i for i, p in enumerate(video) if p.is_keyframe]
    assert len(keyframes) == 4, keyframes
    for packet in video[: keyframes[1]]:  # announced, never sent
        relay.packet(packet)
    assert relay.init is not None and "mp4a" not in relay.init.codec
    silent = relay.init.generation
    for packet in audio[:20]:  # the sound begins: the next keyframe starts a stream with it
        relay.packet(packet)
    for packet in video[keyframes[1] : keyframes[2]]:
        relay.packet(packet)
    assert relay.init.codec.endswith(",mp4a.40.2") and relay.init.generation != silent
    for packet in audio[20:]:
        relay.packet(packet)
    path = tmp_path / "adts.mp4"  # the camera's AAC came as ADTS: its header made the track's configuration
    path.write_bytes(relay.init.data + b"".join(c.data for c in relay.gop))
    found = streams(str(path))
    assert (found["audio"]["codec_name"], int(found["audio"]["sample_rate"])) == ("aac", 16000), found
    assert int(found["audio"]["nb_read_packets"]) >= 10 and int(found["video"]["nb_read_packets"]) >= 10, found
    relay.sound._heard -= 60  # nothing heard for a minute: the next keyframe drops the track
    audible = relay.init.generation
    for packet in video[keyframes[2] :]:
        relay.packet(packet)
    assert "mp4a" not in relay.init.codec and relay.init.generation != audible
