"""A camera's sound is recorded with its video: AAC copied, G.711 converted to AAC, none with the switch off.

One GStreamer RTSP server with an AAC mount and a PCMU (G.711 mu-law) mount, as cameras send them; ffprobe
reads what was written. Segments are still cut at video keyframes and indexed as before; the review's HLS
playlist (read by ffmpeg) and a clip carry the sound.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.factories import make_camera, make_token, make_user
from tests.recordings.test_recording import ffprobe, segments
from tests.support.frames import wait_for_status
from tests.support.processes import web_server
from tests.support.recorded import segment_with_sound
from tests.support.servers import RtspServer
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def codecs(path: Path) -> dict[str, dict]:
    """The file's streams by type (video, audio)."""
    return {stream["codec_type"]: stream for stream in ffprobe(str(path))["streams"]}


def test_aac_is_copied_g711_converted_unknown_left_out_and_the_switch_off_records_none(
    rtsp_available, redis_url, settings, tmp_path, supervisor_thread, caplog
):
    settings.RECORDINGS_DIR = str(tmp_path / "store")
    settings.RECORDINGS_SEGMENT_SECONDS = 2.0
    store = Path(settings.RECORDINGS_DIR)
    server = RtspServer(mounts=["/aac:320x240:aac", "/mu:320x240:pcmu", "/odd:320x240:mystery"], fps=10).start()
    try:
        make_camera("aac", kind="rtsp", source=server.url("/aac"), record="continuous")
        make_camera("mu", kind="rtsp", source=server.url("/mu"), record="continuous")
        make_camera("quiet", kind="rtsp", source=server.url("/aac"), record="continuous", audio=False)
        make_camera("odd", kind="rtsp", source=server.url("/odd"), record="continuous")
        supervisor_thread(keep_recordings=False)
        statuses = {
            slug: wait_for_status(redis_url, slug, lambda s: s["state"] == "online" and s["recording"], 20)
            for slug in ("aac", "mu", "quiet", "odd")
        }
        wait_until(
            lambda: all(len(segments(slug)) >= 3 for slug in ("aac", "mu", "quiet", "odd")), 40, "three segments each"
        )
    finally:
        server.stop()
    assert statuses["aac"]["recording_audio"] == "aac (copied)"
    assert statuses["mu"]["recording_audio"] == "pcm_mulaw (converted to AAC)"
    assert statuses["quiet"]["recording_audio"] == ""
    assert statuses["odd"]["recording_audio"] == "none: unknown audio codec, recorded without sound"
    assert "unknown audio codec" in caplog.text  # and the log says so
    for slug in ("aac", "mu", "quiet", "odd"):
        rows = segments(slug)
        for row in rows[:3]:
            streams = codecs(store / row.key)
            video = streams["video"]
            assert (video["codec_name"], video["width"], video["height"]) == ("h264", 320, 240)
            assert (row.width, row.height) == (320, 240) and row.duration >= 2.0  # cut at keyframes as before
            if slug in ("quiet", "odd"):
                assert "audio" not in streams, (slug, streams)
                continue
            audio = streams["audio"]
            assert audio["codec_name"] == "aac", (slug, audio)
            assert int(audio["sample_rate"]) == (16000 if slug == "aac" else 8000)
            # Segments keep the run's media clock (ffprobe's duration is then the end time): the sound starts with
            # the picture and runs as long (within an AAC frame or two).
            begins, ends = float(audio["start_time"]), float(audio["duration"])
            assert abs(begins - float(video["start_time"])) < 0.3, (slug, audio, video)
            assert abs(ends - begins - row.duration) < 0.3, (slug, begins, ends, row.duration)

    # Review: ffmpeg through the HLS playlist, and a clip over three segments, both with the sound.
    rows = segments("mu")[:3]
    span = {"start": rows[0].start.isoformat(), "end": rows[2].end.isoformat()}
    token = make_token(user=make_user("reviewer", is_superuser=True, is_staff=True))[1]
    web = web_server(redis_url, RECORDINGS_DIR=settings.RECORDINGS_DIR).start()
    try:
        playlist = httpx.Request("GET", f"{web.url}/cameras/mu/recordings.m3u8", params={**span, "token": token})
        copy = tmp_path / "copy.mp4"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-i", str(playlist.url), "-c", "copy", str(copy)],
            check=True,
            timeout=120,
        )
        clip = httpx.get(f"{web.url}/cameras/mu/clip.mp4", params={**span, "token": token}, timeout=60)
    finally:
        web.stop()
    assert clip.status_code == 200, clip.text[:200]
    (tmp_path / "clip.mp4").write_bytes(clip.content)
    for path in (copy, tmp_path / "clip.mp4"):
        streams = codecs(path)
        assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac", (path, streams)
        info = ffprobe(str(path))
        heard = float(streams["audio"]["duration"]) - float(streams["audio"].get("start_time", 0))
        seen = float(info["format"]["duration"]) - float(info["format"].get("start_time", 0))
        assert heard > 4.0 and abs(heard - seen) < 0.5, (path.name, heard, seen)


def test_an_interrupted_segment_keeps_its_sound_when_salvaged(tmp_path):
    from recordings.reconcile import salvage
    from recordings.store import LocalStore

    whole = tmp_path / "whole.mp4"
    segment_with_sound(whole, 0)
    part = tmp_path / "store" / "cam" / "seg.mp4.part"
    part.parent.mkdir(parents=True)
    data = whole.read_bytes()
    part.write_bytes(data[: len(data) * 2 // 3])  # the writer was killed two thirds in
    store = LocalStore(str(tmp_path / "store"))
    assert salvage(store, "cam/seg.mp4", part)
    streams = codecs(tmp_path / "store" / "cam" / "seg.mp4")
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac", streams
