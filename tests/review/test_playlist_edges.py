"""Playlists at their edges (review.playlist, review.selectors): empty spans, gaps just under and over the
tolerance, overlapping segments, segments cut by the span's ends, and the recorded spans the timeline draws."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from recordings.models import Segment
from review.playlist import GAP_TOLERANCE, Entry, build_playlist, recorded_spans
from review.selectors import playlist_entries
from tests.factories import make_camera

T0 = dt.datetime(2026, 12, 1, 12, 0)  # naive UTC, as the fast path reads it


def entry(pk: int, start_s: float, duration: float) -> Entry:
    return Entry(pk, T0 + dt.timedelta(seconds=start_s), duration)


def test_an_empty_span_is_a_valid_empty_playlist():
    text = build_playlist([])
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n")
    assert text.endswith("#EXT-X-ENDLIST\n") and "#EXTINF" not in text and "#EXT-X-DISCONTINUITY" not in text


def test_gaps_under_the_tolerance_are_continuous_and_over_it_a_discontinuity():
    small, large = GAP_TOLERANCE * 0.8, GAP_TOLERANCE * 1.2
    entries = [entry(1, 0, 10), entry(2, 10 + small, 10), entry(3, 20 + small + large, 10.2), entry(4, 29, 10)]
    text = build_playlist(entries, query="token=abc")
    assert text.count("#EXT-X-DISCONTINUITY") == 1  # only before segment 3; segment 4 overlaps 3: continuous
    assert text.index("#EXT-X-DISCONTINUITY") < text.index("recordings/3/init.mp4")
    assert text.index("#EXT-X-DISCONTINUITY") > text.index("recordings/2/media.mp4")
    assert "#EXT-X-TARGETDURATION:11\n" in text  # the longest segment, rounded up
    assert text.count("?token=abc\n") == 4 and text.count('?token=abc"') == 4  # media and init URIs alike
    assert "#EXTINF:10.200,\n" in text
    assert f"#EXT-X-PROGRAM-DATE-TIME:{T0:%Y-%m-%dT%H:%M:%S}.000Z" in text


def test_recorded_spans_merge_within_the_tolerance_and_keep_overlaps_whole():
    entries = [entry(1, 0, 10), entry(2, 10.1, 10), entry(3, 25, 10), entry(4, 30, 2), entry(5, 40, 5)]
    spans = [
        (round((a - T0).total_seconds(), 1), round((b - T0).total_seconds(), 1)) for a, b in recorded_spans(entries)
    ]
    assert spans == [(0.0, 20.1), (25.0, 35.0), (40.0, 45.0)]  # a segment inside another never shortens a span


@pytest.mark.django_db(transaction=True)
def test_a_span_takes_the_segments_it_overlaps_and_not_those_that_only_touch_it():
    camera = make_camera("yard")
    aware = T0.replace(tzinfo=dt.UTC)
    for pk, (start_s, seconds) in enumerate(((0, 10), (10, 10), (20, 10), (30, 10)), start=1):
        start = aware + dt.timedelta(seconds=start_s)
        Segment.objects.create(
            pk=pk, camera=camera, start=start, end=start + dt.timedelta(seconds=seconds), duration=seconds,
            bytes=1, codec="avc1.42c01e", width=1, height=1, key=f"{camera.uid}/{pk}.mp4",
        )  # fmt: skip

    def ids(start_s: float, end_s: float) -> list[int]:
        span = (aware + dt.timedelta(seconds=start_s), aware + dt.timedelta(seconds=end_s))
        return [e.id for e in asyncio.run(playlist_entries(camera, *span))]

    assert ids(5, 25) == [1, 2, 3]  # cut at both ends: the segments holding the edges are in
    assert ids(10, 20) == [2]  # touching at an edge is not overlapping
    assert ids(40, 50) == [] and ids(-10, 0) == []
    entries = asyncio.run(playlist_entries(camera, aware, aware + dt.timedelta(seconds=40)))
    assert [e.start for e in entries] == [T0 + dt.timedelta(seconds=s) for s in (0, 10, 20, 30)]
    assert entries[0].pdt == f"{T0:%Y-%m-%dT%H:%M:%S}.000Z"
