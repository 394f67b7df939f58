"""Review URLs: an HLS playlist per camera, its segments with Range, clips, and the recorded spans as JSON.

Same authentication as live streams (session, `?token=`, HTTP Basic; streaming.auth) and the same
refusals (streaming.errors): a camera the caller may not see is a 404 on every URL. A playlist
fetched with a token carries that token into its segment URIs, so `ffmpeg -i URL` and VLC play the
playlist URL as it is; the log filter masks every `token=` value (nvr.logging).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
from collections.abc import AsyncGenerator
from typing import BinaryIO
from urllib.parse import urlencode

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from audit.log import Kind, record
from recordings.store import get_store
from review import selectors
from review.clips import clip_bytes
from review.mp4 import NotFragmented, init_length
from review.playlist import build_playlist, recorded_spans
from review.ranges import serve_window
from review.times import parse_span
from streaming.auth import actor_of
from streaming.errors import NO_STORE, Unavailable, refusals_as_responses
from streaming.hub import get_hub
from streaming.views import visible_camera

PLAYLIST_DEFAULT = dt.timedelta(hours=1)  # what a playlist without start and end covers: the last hour
PLAYLIST_LONGEST = dt.timedelta(days=7)
SPANS_DEFAULT = dt.timedelta(hours=24)  # the timeline's default window
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_HEADERS = {"Cache-Control": "private, max-age=3600"}  # a closed segment never changes


def _span(start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    """A played or exported span, for the audit trail."""
    return {"start": start.astimezone(dt.UTC).isoformat(), "end": end.astimezone(dt.UTC).isoformat()}


def _token_query(request: HttpRequest) -> str:
    token = request.GET.get("token")
    return urlencode({"token": token}) if token else ""


@require_GET
@refusals_as_responses
async def playlist(request: HttpRequest, slug: str) -> HttpResponse:
    """`/cameras/<slug>/recordings.m3u8?start=&end=`: an HLS VOD playlist of the span (default: the last hour)."""
    camera, access = await visible_camera(request, slug)
    start, end = parse_span(request, default=PLAYLIST_DEFAULT, longest=PLAYLIST_LONGEST)
    record(Kind.PLAYBACK, actor=actor_of(access, request), camera=(camera.pk, camera.slug), detail=_span(start, end))
    began = time.perf_counter()
    entries = await selectors.playlist_entries(camera, start, end)
    text = build_playlist(entries, query=_token_query(request))
    took = (time.perf_counter() - began) * 1000
    # Server-Timing: what building the playlist cost (index read and text), for browsers' tools and the bench.
    headers = {**NO_STORE, "Server-Timing": f"build;dur={took:.1f}"}
    return HttpResponse(text, content_type=PLAYLIST_TYPE, headers=headers)


@require_GET
@refusals_as_responses
async def segment(request: HttpRequest, slug: str, segment_id: int, part: str) -> HttpResponse | StreamingHttpResponse:
    """`/cameras/<slug>/recordings/<id>/init.mp4|media.mp4`: a segment's init section or its fragments, with Range."""
    camera, _ = await visible_camera(request, slug)
    if part not in ("init", "media"):
        raise Http404("No such part: init.mp4 or media.mp4.")
    found = await selectors.segment(camera, segment_id)
    if found is None:
        raise Http404("No such recording.")
    try:
        file, size, boundary = await asyncio.to_thread(_open_segment, found.key)
    except FileNotFoundError:
        raise Http404("The recording was deleted (retention).") from None
    except NotFragmented:
        raise Unavailable("The recording is not readable.") from None
    offset, length = (0, boundary) if part == "init" else (boundary, size - boundary)
    return serve_window(request, file, offset=offset, length=length, content_type="video/mp4", headers=SEGMENT_HEADERS)


def _open_segment(key: str) -> tuple[BinaryIO, int, int]:
    """The segment's file from the store, its size and where its init section ends (the caller closes it)."""
    file = get_store().open(key)
    try:
        size = file.seek(0, io.SEEK_END)
        return file, size, init_length(file, size)
    except BaseException:
        file.close()
        raise


@require_GET
@refusals_as_responses
async def clip(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """`/cameras/<slug>/clip.mp4?start=&end=`: one MP4 of the span, remuxed without re-encoding, streamed."""
    camera, access = await visible_camera(request, slug)
    longest = dt.timedelta(seconds=settings.NVR_CLIP_MAX_SECONDS)
    start, end = parse_span(request, default=dt.timedelta(minutes=1), longest=longest)
    sources = await selectors.clip_sources(camera, start, end)
    if not sources:
        raise Http404("Nothing was recorded in that span.")
    record(Kind.CLIP, actor=actor_of(access, request), camera=(camera.pk, camera.slug), detail=_span(start, end))

    async def body() -> AsyncGenerator[bytes, None]:
        async def still_allowed() -> bool:
            return await access.still_allows(camera.slug)

        async with get_hub().viewer(f"clip:{camera.slug}", still_allowed) as viewer:
            async for chunk in clip_bytes(sources, start, end):
                if viewer.revoked.is_set():
                    return
                yield chunk

    name = f"{camera.slug}-{start.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{int((end - start).total_seconds())}s.mp4"
    return StreamingHttpResponse(
        body(),
        content_type="video/mp4",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@require_GET
@refusals_as_responses
async def recordings_api(request: HttpRequest, slug: str) -> JsonResponse:
    """`/api/cameras/<slug>/recordings?start=&end=`: the recorded spans (segment boundaries merged away)."""
    camera, _ = await visible_camera(request, slug)
    start, end = parse_span(request, default=SPANS_DEFAULT, longest=dt.timedelta(days=31))
    entries = await selectors.playlist_entries(camera, start, end)
    spans = [
        {"start": s.replace(tzinfo=dt.UTC).isoformat(), "end": e.replace(tzinfo=dt.UTC).isoformat()}
        for s, e in recorded_spans(entries)
    ]
    return JsonResponse(
        {
            "camera": camera.slug,
            "start": start.astimezone(dt.UTC).isoformat(),
            "end": end.astimezone(dt.UTC).isoformat(),
            "spans": spans,
            "codec": await selectors.latest_codec(camera),
            "events": await selectors.events_in(camera, start, end),
        },
        headers=NO_STORE,
    )
