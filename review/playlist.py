"""An HLS VOD playlist of one camera's recorded segments over a span.

fMP4 segments (RFC 8216 version 7): each recorded file is one media segment; its init section
is named by an EXT-X-MAP right before it (files are self-contained, so a camera's resolution or
codec change between files needs no special case). Every segment carries its wall-clock start
(EXT-X-PROGRAM-DATE-TIME), which the timeline and synchronized review play by; a gap between
two segments (an outage, a failover) gets EXT-X-DISCONTINUITY, so players do not stretch time.
The playlist is built from the index alone (no file is opened): 24 hours of one camera is
about 8,640 segments.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from review.offload import YIELD_EVERY, let_others_run

GAP_TOLERANCE = 0.25  # seconds between one segment's end and the next one's start that still count as continuous


@dataclass(frozen=True, slots=True)
class Entry:
    """What the playlist needs of one indexed segment (`start` is naive UTC: the fast path)."""

    id: int
    start: dt.datetime
    duration: float
    pdt: str = ""  # the EXT-X-PROGRAM-DATE-TIME value, when the reader already has it as text

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.duration)


def _program_date_time(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds") + "Z"


def build_playlist(entries: Iterable[Entry], *, query: str = "", longest: float | None = None) -> str:
    """The playlist text; segment URIs are relative to `/cameras/<slug>/` and end with `query`.

    Written for speed (about 3 µs per segment): one pass, one f-string per segment. With `longest` (the
    longest segment's duration) the entries are read once, as they come, and never all held at once.
    """
    if longest is None:
        entries = list(entries)
        longest = max((e.duration for e in entries), default=1.0)
    suffix = f"?{query}" if query else ""
    target = math.ceil(longest)
    head = (
        "#EXTM3U\n#EXT-X-VERSION:7\n"
        f"#EXT-X-TARGETDURATION:{max(target, 1)}\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    )
    parts = [head]
    gap = dt.timedelta(seconds=GAP_TOLERANCE)
    previous_end: dt.datetime | None = None
    for index, entry in enumerate(entries):
        if index % YIELD_EVERY == 0:
            let_others_run()  # built in the read pool: the event loop's thread must not wait for the GIL
        start = entry.start
        if previous_end is not None and start - previous_end > gap:
            parts.append("#EXT-X-DISCONTINUITY\n")
        parts.append(
            f'#EXT-X-MAP:URI="recordings/{entry.id}/init.mp4{suffix}"\n'
            f"#EXT-X-PROGRAM-DATE-TIME:{entry.pdt or _program_date_time(start)}\n"
            f"#EXTINF:{entry.duration:.3f},\n"
            f"recordings/{entry.id}/media.mp4{suffix}\n"
        )
        previous_end = start + dt.timedelta(seconds=entry.duration)
    parts.append("#EXT-X-ENDLIST\n")
    return "".join(parts)


def recorded_spans(entries: Iterable[Entry]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The recorded spans (naive UTC) with the segment boundaries merged away (gaps stay gaps)."""
    spans: list[tuple[dt.datetime, dt.datetime]] = []
    for entry in entries:
        if spans and (entry.start - spans[-1][1]).total_seconds() <= GAP_TOLERANCE:
            spans[-1] = (spans[-1][0], max(spans[-1][1], entry.end))
        else:
            spans.append((entry.start, entry.end))
    return spans
