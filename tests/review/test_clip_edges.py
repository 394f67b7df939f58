"""Clips across segment boundaries (review.clips), remuxed from real recorded segments read through the store.

- a span across two segments is one continuous clip from the keyframe at or before its start;
- a span across a gap keeps the gap as time, not squeezed out;
- a segment whose picture size changed ends the clip there (one MP4 holds one set of parameters).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
from itertools import pairwise

import pytest

from review.clips import Source, clip_bytes
from tests.support.recorded import STARTS, T0

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def make_clip(sources: list[Source], start_s: float, end_s: float, tmp_path) -> tuple[dict, list[float]]:  # type: ignore[no-untyped-def]
    async def collect() -> bytes:
        span = (T0 + dt.timedelta(seconds=start_s), T0 + dt.timedelta(seconds=end_s))
        return b"".join([chunk async for chunk in clip_bytes(sources, *span)])

    path = tmp_path / "clip.mp4"
    path.write_bytes(asyncio.run(collect()))
    # Times are read relative to the first picture: the muxer shifts a stream with B-frames by their delay.
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", "-show_packets", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stderr == "", out.stderr
    info = json.loads(out.stdout)
    times = sorted(float(p["pts_time"]) for p in info["packets"])  # presentation order (B-frames)
    return info, [t - times[0] for t in times]


def sources_of(rows) -> list[Source]:  # type: ignore[no-untyped-def]
    return [Source(row.key, row.start) for row in rows]


def test_a_span_across_two_segments_is_one_continuous_clip(recordings, tmp_path):
    _, rows = recordings
    info, times = make_clip(sources_of(rows[:2]), 8.5, 13.0, tmp_path)
    assert all(0 < b - a < 0.1 for a, b in pairwise(times))  # 15 fps, no hole at the boundary
    # From the keyframe at 8 s (one a second) to the last picture before 13 s: 5 s, 75 pictures.
    assert 4.8 <= times[-1] + 1 / 15 <= 5.1 and len(times) == 75, (len(times), times[-1])
    assert info["streams"][0]["width"] == 640


def test_a_span_across_a_gap_keeps_the_gap(recordings, tmp_path):
    _, rows = recordings
    assert STARTS[3:] == (30, 60)  # 40 s to 60 s was not recorded
    _, times = make_clip(sources_of(rows[3:]), 35.0, 65.0, tmp_path)
    jumps = [b - a for a, b in pairwise(times)]
    assert max(jumps) == pytest.approx(20.0 + 1 / 15, abs=0.05)  # the 20 s nobody recorded, kept as time
    assert times[-1] == pytest.approx(30.0 - 1 / 15, abs=0.05)


def test_a_segment_of_another_size_ends_the_clip(recordings, tmp_path, settings):
    from recordings.models import Segment
    from recordings.store import get_store, segment_key

    camera, rows = recordings
    other = tmp_path / "small.mp4"
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=15", "-t", "10",
            "-c:v", "libx264", "-g", "15", "-output_ts_offset", "40",
            "-movflags", "frag_keyframe+empty_moov+default_base_moof+frag_discont", "-f", "mp4", str(other),
        ],
        check=True, timeout=60,
    )  # fmt: skip
    start = T0 + dt.timedelta(seconds=40)
    key = segment_key(str(camera.uid), start)
    get_store().put(key, other.read_bytes())
    reconfigured = Segment.objects.create(
        camera=camera, start=start, end=start + dt.timedelta(seconds=10), duration=10.0, bytes=other.stat().st_size,
        codec="avc1.64000d", width=320, height=180, key=key,
    )  # fmt: skip
    info, times = make_clip([*sources_of(rows[3:4]), Source(reconfigured.key, start)], 30.0, 50.0, tmp_path)
    assert info["streams"][0]["width"] == 640 and len(info["streams"]) == 1
    assert times[-1] < 10.0  # only the 640 px segment: the clip ends where the size changed
