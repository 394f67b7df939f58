"""Recording with real parts: GStreamer's RTSP server, the capture supervisor, ffprobe, a small filesystem.

- RTSP segments keep the source's codec, profile and resolution (stream copy, nothing re-encoded);
- segment durations add up to the recorded wall time within 2 %, and segments never overlap;
- kill -9 while writing loses at most the open segment, and the reconcile salvages or removes it;
- a full store shows an operator-readable recording error, live view goes on, recording resumes;
- retention by age and by byte budget; a failover between supervisors leaves no overlap;
- a nonsense size or an unwritable store is a clear error at start.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import time
from itertools import pairwise
from pathlib import Path

import pytest

from tests.factories import make_camera
from tests.reliability.helpers import wait_until
from tests.support.frames import collect_frames, wait_for_status
from tests.support.processes import ROOT, capture_supervisor, child_env
from tests.support.servers import RtspServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def ffprobe(target: str) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
            target,
        ]
        if target.startswith("rtsp")
        else ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", target],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def segments(slug: str):  # type: ignore[no-untyped-def]
    from recordings.models import Segment

    return list(Segment.objects.filter(camera__slug=slug).order_by("start"))


@pytest.fixture
def store(settings, tmp_path) -> Path:
    settings.RECORDINGS_DIR = str(tmp_path / "store")
    settings.RECORDINGS_SEGMENT_SECONDS = 2.0
    return Path(settings.RECORDINGS_DIR)


def test_rtsp_is_recorded_as_the_camera_sent_it(rtsp_available, redis_url, store, supervisor_thread):
    server = RtspServer(width=640, height=480, fps=15).start()
    try:
        make_camera("gate", kind="rtsp", source=server.url("/test"), max_fps=15, record="continuous")
        source = next(s for s in ffprobe(server.url("/test"))["streams"] if s["codec_type"] == "video")
        supervisor = supervisor_thread(keep_recordings=False)
        wait_for_status(redis_url, "gate", lambda s: s["state"] == "online", 20)
        began = time.time()
        wait_until(lambda: len(segments("gate")) >= 4, 30, "four closed segments")
        # The live path runs from the same connection meanwhile: frames still arrive at the camera's rate.
        live = collect_frames(redis_url, "gate", 2.0)
        supervisor.stop()
        wait_until(lambda: not supervisor.loops, 10, "the capture loop to stop")
        stopped = time.time()
    finally:
        server.stop()
    rows = segments("gate")
    assert len(live) >= 20, len(live)
    for row in rows:
        info = ffprobe(str(store / row.key))
        video = info["streams"][0]
        facts = ("codec_name", "profile", "width", "height", "pix_fmt")
        assert [video[k] for k in facts] == [source[k] for k in facts], (row.key, video)
        assert row.codec.startswith("avc1.") and (row.width, row.height) == (640, 480)
        # Segments keep the run's media clock (ffprobe's duration is then the end time).
        length = float(info["format"]["duration"]) - float(info["format"].get("start_time", 0))
        assert abs(length - row.duration) < 0.2, (length, row.duration)
    for a, b in pairwise(rows):
        assert b.start >= a.end - dt.timedelta(milliseconds=1), (a.start, a.end, b.start)  # never overlap
    # One media clock across the segments of a connection: each file starts where the previous one
    # ended (players such as hls.js map a playlist by these timestamps; files that each began at 0
    # were laid over one another).
    starts = [float(ffprobe(str(store / r.key))["format"]["start_time"]) for r in rows]
    for (a, start_a), (_, start_b) in pairwise(zip(rows, starts, strict=True)):
        assert abs(start_b - (start_a + a.duration)) < 0.2, (start_a, a.duration, start_b)
    recorded = sum(r.duration for r in rows)
    wall = (rows[-1].end - rows[0].start).total_seconds()
    assert abs(recorded - wall) <= 0.02 * wall, (recorded, wall)
    # ... and the segments cover the time from the first keyframe to the stop.
    assert rows[0].start.timestamp() - began < 3 and stopped - rows[-1].end.timestamp() < 1.5
    assert not list(store.rglob("*.part")), "a stopped loop leaves no open file"


def test_kill_9_loses_at_most_the_open_segment(redis_url, store, settings):
    from recordings.reconcile import reconcile

    make_camera("yard", source="320x240", max_fps=10, record="continuous")
    capture = capture_supervisor(redis_url, RECORDINGS_DIR=str(store), RECORDINGS_SEGMENT_SECONDS="3").start()
    try:
        wait_until(lambda: len(segments("yard")) >= 2, 30, "two closed segments")
        wait_until(lambda: list(store.rglob("*.part")), 10, "an open segment")
        time.sleep(1.5)  # a second and a half into the open segment
        capture.proc.send_signal(signal.SIGKILL)
        capture.proc.wait(10)
    finally:
        capture.stop()
    closed = segments("yard")
    parts = list(store.rglob("*.part"))
    assert len(parts) == 1
    # One more file whose row was lost (as if the crash came between rename and insert), one row whose file went.
    closed[0].delete()
    (store / closed[1].key).unlink()
    repairs = reconcile(quiet_seconds=0)
    assert (repairs.parts_salvaged, repairs.files_indexed, repairs.rows_removed) == (1, 2, 1), str(repairs)
    after = segments("yard")
    assert not list(store.rglob("*.part"))
    salvaged = [r for r in after if r.key == parts[0].relative_to(store).as_posix().removesuffix(".part")]
    assert salvaged and salvaged[0].duration >= 0.5, [(r.key, r.duration) for r in after]
    for row in after:  # every row names a whole, playable file
        assert float(ffprobe(str(store / row.key))["format"]["duration"]) > 0


@pytest.fixture
def small_store(tmp_path, settings):
    """A 1 MB filesystem made for the test (tmpfs; the tests run as root, like CI)."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    settings.RECORDINGS_DIR = str(mount)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_store_stops_recording_visibly_and_live_goes_on(rtsp_available, redis_url, small_store, settings):
    settings.RECORDINGS_MIN_FREE = settings.RECORDINGS_MIN_FREE.__class__()  # no floor: let the disk fill
    # Noise at x264's 2 Mbit/s cap fills the 1 MB store in seconds (the quiet test pattern would take minutes).
    server = RtspServer(width=640, height=480, fps=10, pattern="snow").start()
    make_camera("yard", kind="rtsp", source=server.url("/test"), max_fps=10, record="continuous")
    capture = capture_supervisor(
        redis_url, RECORDINGS_DIR=str(small_store), RECORDINGS_SEGMENT_SECONDS="60", RECORDINGS_MIN_FREE="0"
    ).start()
    try:
        status = wait_for_status(redis_url, "yard", lambda s: s.get("recording") == "error", 60)
        assert status["recording_error"] == "the recordings disk is full"
        # Live view goes on.
        assert len(collect_frames(redis_url, "yard", 2.0)) >= 10
        assert status["state"] == "online"
        # Free the disk: recording resumes by itself.
        for path in small_store.rglob("*"):
            if path.is_file():
                path.unlink()
        wait_for_status(redis_url, "yard", lambda s: s.get("recording") == "recording", 30)
    finally:
        capture.stop()
        server.stop()


def test_retention_by_age_and_by_budget(store, settings):
    from recordings.models import Segment
    from recordings.retention import enforce

    old = make_camera("old", retention_days=1)
    new = make_camera("new", retention_days=30)
    now = dt.datetime.now(dt.UTC)
    rows = []
    for camera in (old, new):
        for hours in (50, 30, 2, 1):
            start = now - dt.timedelta(hours=hours)
            relative = f"{camera.slug}/{hours}.mp4"
            (store / camera.slug).mkdir(parents=True, exist_ok=True)
            (store / relative).write_bytes(b"x" * 1000)
            rows.append(
                Segment.objects.create(
                    camera=camera, start=start, end=start + dt.timedelta(seconds=10), duration=10.0, bytes=1000,
                    codec="avc1.42c01e", width=1, height=1, key=relative,
                )
            )  # fmt: skip
    settings.RECORDINGS_MAX_SIZE = 0
    first = enforce(now)
    assert first.expired == 2  # the camera kept 1 day lost its 50 h and 30 h segments; the other kept all
    assert not (store / "old/50.mp4").exists() and (store / "new/50.mp4").exists()
    settings.RECORDINGS_MAX_SIZE = 3500  # 6 segments of 1000 bytes left: the oldest 3 go
    second = enforce(now)
    assert second.over_budget == 3
    left = sorted((r.camera.slug, r.key) for r in Segment.objects.select_related("camera"))
    assert left == [("new", "new/1.mp4"), ("new", "new/2.mp4"), ("old", "old/1.mp4")]
    assert sorted(str(p.relative_to(store)) for p in store.rglob("*.mp4")) == ["new/1.mp4", "new/2.mp4", "old/1.mp4"]


def test_a_failover_between_supervisors_leaves_no_overlap(redis_url, store):
    make_camera("yard", source="320x240", max_fps=10, record="continuous")
    env = {"RECORDINGS_DIR": str(store), "RECORDINGS_SEGMENT_SECONDS": "2"}
    first = capture_supervisor(redis_url, lease=2.0, name="capture-1", **env).start()
    second = capture_supervisor(redis_url, lease=2.0, name="capture-2", **env)
    try:
        wait_until(lambda: len(segments("yard")) >= 2, 30, "segments from the first supervisor")
        second.start()
        time.sleep(1.0)
        first.proc.send_signal(signal.SIGKILL)  # the holder dies mid-segment
        first.proc.wait(10)
        count = len(segments("yard"))
        wait_until(lambda: len(segments("yard")) >= count + 2, 30, "segments from the second supervisor")
    finally:
        first.stop()
        second.stop()
    rows = segments("yard")
    for a, b in pairwise(rows):
        assert b.start >= a.end, f"overlap: {a.start}-{a.end} and {b.start}-{b.end}"
    assert len({r.key for r in rows}) == len(rows)


def test_bad_settings_are_clear_errors_at_start(redis_url):
    env = child_env(redis_url, RECORDINGS_MAX_SIZE="lots")
    out = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "RECORDINGS_MAX_SIZE='lots' is not a size: write e.g. 500GB" in out.stderr


def test_an_unwritable_store_is_reported_and_live_goes_on(redis_url):
    make_camera("yard", source="160x120", max_fps=5, record="continuous")
    capture = capture_supervisor(redis_url, RECORDINGS_DIR="/proc/nvr-recordings").start()
    try:
        status = wait_for_status(redis_url, "yard", lambda s: s.get("recording") == "error", 30)
        assert status["state"] == "online"
        assert status["recording_error"] in (
            "the recordings store does not exist",
            "no permission to write to the recordings store",
        )
        log = capture.log_path.read_text()
        assert "RECORDINGS_DIR (/proc/nvr-recordings) cannot be written" in log
    finally:
        capture.stop()


def test_encoded_segments_go_on_one_media_clock_and_a_new_run_starts_a_new_one(tmp_path):
    """Frames encoded here: consecutive segments continue each other's timestamps; after end_run
    (the camera went away) the next segment starts a clock of its own."""
    import numpy as np

    from recordings.store import LocalStore
    from recordings.writer import FrameEncoder

    closed = []
    encoder = FrameEncoder(LocalStore(tmp_path), "cam", fps=10, segment_seconds=1.0, on_closed=closed.append)
    start = dt.datetime.now(dt.UTC)
    image = np.zeros((120, 160, 3), np.uint8)
    for i in range(30):
        encoder.write(image, start + dt.timedelta(seconds=i / 10))
    encoder.end_run()
    for i in range(10):
        encoder.write(image, start + dt.timedelta(seconds=60 + i / 10))
    encoder.close()
    starts = [float(ffprobe(str(tmp_path / c.key))["format"]["start_time"]) for c in closed]
    assert [round(s, 1) for s in starts] == [0.0, 1.0, 2.0, 0.0], starts
