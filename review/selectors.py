"""Reads of the recordings index for review: segments of a camera over a span, as the review code needs them.

Reads whose size grows with the span (a playlist, the recorded spans, a clip's sources) run in
review.offload's pool, never on the event loop or the ORM thread live viewing needs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db.models import CharField, Max
from django.db.models.functions import Cast

from cameras.models import Camera
from recordings.models import Segment
from review.clips import Source
from review.offload import YIELD_EVERY, let_others_run, off_loop
from review.playlist import Entry, build_playlist, recorded_spans


def _overlapping(camera: Camera | int, start: dt.datetime, end: dt.datetime):  # type: ignore[no-untyped-def]
    return Segment.objects.filter(camera=camera, end__gt=start, start__lt=end).order_by("start")


def _program_date_time(text: str, moment: dt.datetime) -> str:
    """EXT-X-PROGRAM-DATE-TIME from the column's text (SQLite's `YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC)
    by slicing, about 6x cheaper than formatting the datetime; other forms go the long way."""
    if len(text) == 26 and text[10] == " ":
        return f"{text[:10]}T{text[11:23]}Z"
    if len(text) == 19 and text[10] == " ":
        return f"{text[:10]}T{text[11:]}.000Z"
    return moment.isoformat(timespec="milliseconds") + "Z"


def _naive_utc(text: str) -> dt.datetime:
    """A datetime column read as text (SQLite: naive UTC; PostgreSQL: with an offset), as naive UTC."""
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _entries(camera_id: int, start: dt.datetime, end: dt.datetime) -> Iterator[Entry]:
    """The indexed segments overlapping [start, end), oldest first (no file opened), one at a time.

    One at a time, so that the rows of a long span die young: kept in a list, the 60,000 of a 7-day
    playlist reached the collector's oldest generation, whose collections hold the GIL, and so every
    live stream, for 65-76 ms each (issue #22). In pages of YIELD_EVERY rows, each its own query (from
    the last row's start): SQLite keeps a query's read lock until its last row, and a writer waiting for
    it (the audit writer: every playlist is audited) holds up every new reader meanwhile, `/healthz` too
    (at worst 314-353 ms with one query, 130-208 ms in pages: bench.long_requests, two runs each).
    Start times are read as text and parsed here: Django's datetime converters cost about 4 µs per value
    (docs/facts.md).
    """
    rows = (
        _overlapping(camera_id, start, end)
        .order_by("start", "id")
        .annotate(start_text=Cast("start", CharField()))
        .values_list("id", "start_text", "duration")
    )
    page, last_text, seen = rows, "", set[int]()  # seen: the ids given so far that start at `last_text`
    while True:
        batch = list(page[:YIELD_EVERY])
        for pk, text, duration in batch:
            moment = _naive_utc(text)
            yield Entry(pk, moment, duration, _program_date_time(text, moment))
        if len(batch) < YIELD_EVERY:
            return
        let_others_run()
        if batch[-1][1] != last_text:
            last_text, seen = batch[-1][1], set()
        seen |= {pk for pk, text, _ in batch if text == last_text}
        # `>=` less the ids given, not `(start, id) >`: an OR there keeps SQLite from using the index.
        page = rows.filter(start__gte=_naive_utc(last_text).replace(tzinfo=dt.UTC)).exclude(pk__in=seen)


async def playlist_entries(camera: Camera, start: dt.datetime, end: dt.datetime) -> list[Entry]:
    """The indexed segments overlapping [start, end), oldest first, as a list (read in the read pool; for
    short spans: playlists and spans of any length read them one at a time instead)."""
    return await off_loop(lambda: list(_entries(camera.pk, start, end)))


async def playlist_bytes(camera: Camera, start: dt.datetime, end: dt.datetime, *, query: str = "") -> bytes:
    """The HLS playlist of [start, end) (review.playlist), read and built in the read pool.

    A 7-day playlist is 60,000 segments and about 15 MB of text: built on the event loop, four at
    once stopped every live stream for 2.2 s (issue #22).
    """

    def build() -> bytes:
        longest = _overlapping(camera.pk, start, end).aggregate(longest=Max("duration"))["longest"] or 1.0
        return build_playlist(_entries(camera.pk, start, end), query=query, longest=longest).encode()

    return await off_loop(build)


async def spans_in(camera: Camera, start: dt.datetime, end: dt.datetime) -> list[dict[str, str]]:
    """The recorded spans of [start, end) as the API gives them (ISO 8601, UTC), read in the read pool."""

    def read() -> list[dict[str, str]]:
        return [
            {"start": s.replace(tzinfo=dt.UTC).isoformat(), "end": e.replace(tzinfo=dt.UTC).isoformat()}
            for s, e in recorded_spans(_entries(camera.pk, start, end))
        ]

    return await off_loop(read)


async def segment(camera: Camera, segment_id: int) -> Segment | None:
    """One of the camera's segments (its file is the store's `segment.key`), or None when the index has no such segment."""
    return await Segment.objects.filter(camera=camera, pk=segment_id).afirst()


async def clip_sources(camera: Camera, start: dt.datetime, end: dt.datetime) -> list[Source]:
    """The segments a clip of [start, end) is remuxed from, by store key (read in the read pool)."""

    def read() -> list[Source]:
        return [Source(key, begun) for key, begun in _overlapping(camera, start, end).values_list("key", "start")]

    return await off_loop(read)


async def latest_codec(camera: Camera) -> str:
    """The codec string (RFC 6381, e.g. avc1.64001f) of the camera's newest segment, or ""."""
    codec = await Segment.objects.filter(camera=camera).order_by("-start").values_list("codec", flat=True).afirst()
    return codec or ""


async def events_in(camera: Camera, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """The camera's events touching the span, for the timeline's markers (id, start, end, end None while open;
    the object's label, empty for motion)."""
    from events.models import Event

    def read() -> list[dict]:
        rows = Event.objects.filter(camera=camera, start__lt=end).exclude(end__lt=start).order_by("start")
        return [
            {
                "id": row["id"],
                "start": row["start"].astimezone(dt.UTC).isoformat(),
                "end": row["end"].astimezone(dt.UTC).isoformat() if row["end"] else None,
                "label": row["label"],
            }
            for row in rows.values("id", "start", "end", "label")[:2000]
        ]

    return await off_loop(read)


async def segment_at(camera: Camera, moment: dt.datetime) -> Segment | None:
    """The camera's segment recorded at `moment` (for previews; its file is the store's `key`), or None in a gap."""
    return await Segment.objects.filter(camera=camera, start__lte=moment, end__gt=moment).order_by("-start").afirst()
