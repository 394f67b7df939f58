"""Timestamps are checked where packets enter (cameras.timestamps), so every output sees a clean stream.

- one rule per kind of damage: a missing DTS, a repeat, a small step back, a clock reset, a jump ahead,
  a PTS below its DTS; counted as repaired or dropped;
- a generated camera stream with its clock reset, jumping an hour ahead and repeating itself is recorded
  into segments that ffprobe reads without an error, none longer than it should be, and the camera's
  status counts what was repaired and dropped.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import pytest

from cameras.timestamps import MAX_JUMP_SECONDS, TimestampValidator

BASE = Fraction(1, 90_000)
FRAME = 6000  # one frame at 15 fps on a 90 kHz clock


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def packet(dts: int | None, pts: int | None = None) -> av.Packet:
    made = av.Packet(b"\x00" * 8)
    made.time_base = BASE
    made.dts = dts
    made.pts = dts if pts is None and dts is not None else pts
    return made


def feed(validator: TimestampValidator, clock: Clock, timestamps: list[int | None]) -> list[int | None]:
    """The DTS of each packet that passed (None for a dropped one), a frame's time apart on the wall clock."""
    out = []
    for dts in timestamps:
        item = packet(dts)
        out.append(item.dts if validator.check(item) else None)
        clock.now += FRAME * float(BASE)
    return out


def test_a_clean_stream_passes_untouched():
    clock = Clock()
    validator = TimestampValidator(clock=clock)
    assert feed(validator, clock, [i * FRAME for i in range(10)]) == [i * FRAME for i in range(10)]
    assert (validator.repaired, validator.dropped) == (0, 0)


def test_missing_and_repeated_timestamps_are_dropped():
    clock = Clock()
    validator = TimestampValidator(clock=clock)
    passed = feed(validator, clock, [0, FRAME, None, FRAME, FRAME // 2, 2 * FRAME])
    assert passed == [0, FRAME, None, None, None, 2 * FRAME]
    assert (validator.repaired, validator.dropped) == (0, 3)
    assert validator.missing == 0  # counted in a row only


def test_a_clock_reset_goes_on_from_where_the_stream_was():
    clock = Clock()
    validator = TimestampValidator(clock=clock)
    before = [3_600 * 90_000 + i * FRAME for i in range(3)]
    passed = feed(validator, clock, [*before, 0, FRAME, 2 * FRAME])
    assert passed[:3] == before
    assert passed[3:] == [before[-1] + FRAME, before[-1] + 2 * FRAME, before[-1] + 3 * FRAME]
    assert (validator.repaired, validator.dropped) == (1, 0)  # one repair; later packets just keep the offset


def test_a_jump_ahead_keeps_only_the_time_that_really_passed():
    clock = Clock()
    validator = TimestampValidator(clock=clock)
    jump = int((MAX_JUMP_SECONDS + 3600) * 90_000)
    passed = feed(validator, clock, [0, FRAME, FRAME + jump, 2 * FRAME + jump])
    assert passed == [0, FRAME, 2 * FRAME, 3 * FRAME]
    assert validator.repaired == 1
    # A real pause of the camera (media time and the wall clock move together) is no jump.
    clock.now += 20.0
    later = 3 * FRAME + jump + 20 * 90_000
    assert feed(validator, clock, [later]) == [4 * FRAME + 20 * 90_000 - FRAME + FRAME]
    assert validator.repaired == 1


def test_a_pts_below_its_dts_is_raised_to_it():
    clock = Clock()
    validator = TimestampValidator(clock=clock)
    assert validator.check(packet(0))
    broken = packet(FRAME, pts=FRAME - 10)
    assert validator.check(broken)
    assert (broken.pts, broken.dts, validator.repaired) == (FRAME, FRAME, 1)
    missing = packet(2 * FRAME)
    missing.pts = None
    assert validator.check(missing) and missing.pts == 2 * FRAME and validator.repaired == 1  # copied, not a repair


def _chunk(path: Path, offset: float, seconds: float) -> bytes:
    """An MPEG-TS piece of H.264 (a keyframe every second) whose clock starts at `offset` seconds."""
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-bf", "0",
            "-output_ts_offset", str(offset), "-f", "mpegts", str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path.read_bytes()


@pytest.fixture
def broken_stream(tmp_path) -> Path:
    """A camera whose clock misbehaves: 3 s at 100 s, reset to 0, an hour ahead, then half a second repeated."""
    pieces = [(100, 3), (0, 3), (3600, 3), (3602.5, 3)]
    stream = tmp_path / "broken.ts"
    stream.write_bytes(b"".join(_chunk(tmp_path / f"{i}.ts", *piece) for i, piece in enumerate(pieces)))
    return stream


def ffprobe_errors(path: str) -> str:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_packets", "-of", "compact", path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return out.stderr.strip() if out.returncode == 0 else f"exit {out.returncode}: {out.stderr}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_stream_with_broken_timestamps_is_recorded_into_clean_segments(
    broken_stream, redis_url, settings, tmp_path, monkeypatch
):
    from cameras import sources
    from cameras.config import CameraConfig
    from cameras.workers import CaptureLoop
    from recordings.recorder import Recorder
    from recordings.store import LocalStore
    from tests.reliability.helpers import wait_until
    from tests.support.frames import sync_bus

    settings.RECORDINGS_SEGMENT_SECONDS = 2.0
    store = LocalStore(tmp_path / "store")
    # The RTSP source reads any URL FFmpeg opens: here the generated stream, as fast as it can. It is a local
    # file, not an address: the outbound policy, which refuses anything but rtsp(s):// and http(s)://, is not
    # what this test is about.
    monkeypatch.setattr(sources, "check_address", lambda url, what: None)
    config = CameraConfig(slug="odd", name="Odd", kind="rtsp", source=str(broken_stream), uid="odd-uid", max_fps=15)
    recorder = Recorder(config, from_packets=True, store=store)
    loop = CaptureLoop(config, sync_bus(redis_url), [recorder], backoff_cap=60.0)
    loop.start()
    try:
        wait_until(lambda: loop.reconnects >= 1, 30, "the end of the stream")  # it ends: recorded once through
    finally:
        loop.stop()
        loop.join(10)
    status = loop.status()
    files = sorted(f.key for f in store.walk())
    assert recorder.state.value == "recording" and not recorder.error, recorder.error
    assert status.timestamps_repaired >= 2, status  # the reset and the jump ahead
    assert status.packets_dropped >= 5, status  # the half second repeated (7 or 8 packets at 15 fps)
    assert len(files) >= 4, files
    durations = []
    for key in files:
        path = str(store.root / key)
        assert ffprobe_errors(path) == "", (key, ffprobe_errors(path))
        with av.open(path) as container:
            video = container.streams.video[0]
            times = [p.dts for p in container.demux(video) if p.dts is not None]
        assert all(b > a for a, b in pairwise(times)), key
        durations.append(float((times[-1] - times[0]) * video.time_base))
    assert max(durations) < 5.0, durations  # no segment stretched over the hour the clock skipped
    assert 9.0 <= sum(durations) <= 12.5, durations  # 11.5 s of pictures, half a second of them repeated
