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

GAP_TOLERANCE = 0.25  # seconds between one segment's end and the next one's start that still count as continuous


@dataclass(frozen=True, slots=True)
class Entry:
    """What the playlist needs of one indexed segment."""

    id: int
    start: dt.datetime
    end: dt.datetime
    duration: float


def _program_date_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_playlist(entries: Iterable[Entry], *, query: str = "") -> str:
    """The playlist text; segment URIs are relative to `/cameras/<slug>/` and end with `query`."""
    entries = list(entries)
    suffix = f"?{query}" if query else ""
    target = max((math.ceil(e.duration) for e in entries), default=1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(target, 1)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    previous: Entry | None = None
    for entry in entries:
        if previous is not None and (entry.start - previous.end).total_seconds() > GAP_TOLERANCE:
            lines.append("#EXT-X-DISCONTINUITY")
        lines.append(f'#EXT-X-MAP:URI="recordings/{entry.id}/init.mp4{suffix}"')
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_program_date_time(entry.start)}")
        lines.append(f"#EXTINF:{entry.duration:.3f},")
        lines.append(f"recordings/{entry.id}/media.mp4{suffix}")
        previous = entry
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def recorded_spans(entries: Iterable[Entry]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The recorded spans with the segment boundaries merged away (gaps stay gaps)."""
    spans: list[tuple[dt.datetime, dt.datetime]] = []
    for entry in entries:
        if spans and (entry.start - spans[-1][1]).total_seconds() <= GAP_TOLERANCE:
            spans[-1] = (spans[-1][0], max(spans[-1][1], entry.end))
        else:
            spans.append((entry.start, entry.end))
    return spans
