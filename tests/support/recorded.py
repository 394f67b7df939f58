"""Recorded segments for the review and browser tests, made by ffmpeg exactly as the recorder lays them out.

Each segment is a fragmented MP4 (init section, then fragments) of H.264 High profile 640x360 at
15 fps with a keyframe every second, indexed in the database like the recorder indexes its own.
The recorder itself is tested in tests/recordings; here the index and the files are the input.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from pathlib import Path

import pytest

SEGMENT_SECONDS = 10
FPS = 15
# Half an hour ago, to the second: inside every timeline's default window (the last 24 hours).
T0 = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)).replace(microsecond=0)
STARTS = (0, 10, 20, 30, 60)  # seconds after T0: four segments in a row (40 s), a gap, one more


def make_segment(path: Path, seconds: int = SEGMENT_SECONDS, offset: int = 0, *, noise: int = 0) -> None:
    """An fMP4 segment whose picture shows its own time (testsrc), starting `offset` seconds in.

    `noise` (0-100) adds moving grain, coded at high quality: a camera's megabytes instead of testsrc's kilobytes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = f"testsrc=size=640x360:rate={FPS}" + (f",noise=alls={noise}:allf=t+u" if noise else "")
    quality = ["-crf", "18"] if noise else []
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", picture,
            "-ss", str(offset), "-t", str(seconds),
            "-c:v", "libx264", "-preset", "veryfast", *quality, "-profile:v", "high", "-pix_fmt", "yuv420p",
            "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0",
            "-output_ts_offset", str(offset),  # the recorder's segments go on one media clock
            "-movflags", "frag_keyframe+empty_moov+default_base_moof+frag_discont", "-avoid_negative_ts", "disabled",
            "-f", "mp4", str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip


def segment_with_sound(path: Path, offset: int) -> None:
    """A segment like tests.support.recorded's, with an AAC track (16 kHz mono, as a camera's microphone)."""
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc=size=640x360:rate={FPS}",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000",
            "-ss", str(offset), "-t", str(SEGMENT_SECONDS),
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", str(FPS), "-sc_threshold", "0",
            "-c:a", "aac", "-ac", "1", "-b:a", "32k",
            "-output_ts_offset", str(offset),
            "-movflags", "frag_keyframe+empty_moov+default_base_moof+frag_discont", "-avoid_negative_ts", "disabled",
            "-f", "mp4", str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="session")
def segment_files(tmp_path_factory) -> list[Path]:
    """Five 10 s segments (made once per session)."""
    root = tmp_path_factory.mktemp("segments")
    files = []
    for index in range(len(STARTS)):
        path = root / f"seg{index}.mp4"
        make_segment(path, offset=index * SEGMENT_SECONDS)
        files.append(path)
    return files


@pytest.fixture
def recordings(settings, tmp_path, segment_files):
    """A recordings store with camera "yard" indexed: [T0, T0+40 s) recorded, a gap, [T0+60 s, T0+70 s)."""
    settings.RECORDINGS_DIR = str(tmp_path / "store")
    return record_camera("yard", segment_files, settings.RECORDINGS_DIR)


def record_camera(slug: str, segment_files: list[Path], store: str):  # type: ignore[no-untyped-def]
    """Index `segment_files` as camera `slug`'s recordings at STARTS, copied into `store`."""
    from recordings.models import Segment
    from recordings.store import LocalStore, segment_key
    from tests.factories import make_camera

    camera = make_camera(slug, name=slug.title())
    starts = [T0 + dt.timedelta(seconds=s) for s in STARTS]
    rows = []
    for source, start in zip(segment_files, starts, strict=True):
        key = segment_key(str(camera.uid), start)
        LocalStore(store).put(key, source.read_bytes())
        rows.append(
            Segment.objects.create(
                camera=camera,
                start=start,
                end=start + dt.timedelta(seconds=SEGMENT_SECONDS),
                duration=float(SEGMENT_SECONDS),
                bytes=source.stat().st_size,
                codec="avc1.64001e",
                width=640,
                height=360,
                key=key,
                sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
            )
        )
    return camera, rows
