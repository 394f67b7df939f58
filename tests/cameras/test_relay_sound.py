"""The relay's sound (cameras.relay + cameras.relaysound): the camera's audio as an AAC track of the live fMP4.

On one real RTSP server with an AAC mount, a G.711 mu-law mount and one of a codec nobody knows: the live
stream ffprobe reads is H.264 + AAC (copied, or converted from G.711), the sound starts with the group's
keyframe (a new viewer hears what it sees), `ffmpeg -c copy` takes it, and the video's NAL units are still
the camera's, byte for byte. The unknown codec and the camera's `audio` switch off give video only (the
first with a line in the log saying why).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

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
        time.sleep(1.5)  # a group of pictures to start from
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
        init = next(c for c in chunks if c.kind is ChunkKind.INIT)
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
        assert int(audio["nb_read_packets"]) >= 15, (slug, audio)  # > 2 s of sound
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
