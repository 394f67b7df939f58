"""Review URLs: an HLS playlist per camera, its segments with Range, clips, and the recorded spans as JSON.

Same authentication as live streams (session, `?token=`, HTTP Basic; streaming.auth) and the same
refusals (streaming.errors): a camera the caller may not see is a 404 on every URL. A playlist's
segment URIs carry a short-lived grant (review.grants) instead of the caller's token, so `ffmpeg -i
URL` and VLC still play the playlist URL as it is, and a copied playlist is not a credential.
Reads that grow with the span, and the playlist's text, are made in review.offload's pool and the
text is streamed: nothing here holds the event loop or the ORM thread live viewing needs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from audit.log import Kind, record
from cameras.models import Camera
from recordings.store import get_store
from review import grants, selectors
from review.clips import Source, clip_bytes
from review.mp4 import NotFragmented, init_length
from review.previews import preview_jpeg
from review.ranges import serve_window
from review.times import parse_span, parse_time
from streaming.auth import Access, actor_of
from streaming.directwrite import connection_of
from streaming.errors import NO_STORE, Unavailable, refusals_as_responses
from streaming.hub import ClosingStream, get_hub
from streaming.views import number_option, visible_camera

PLAYLIST_DEFAULT = dt.timedelta(hours=1)  # what a playlist without start and end covers: the last hour
PLAYLIST_LONGEST = dt.timedelta(days=7)
SPANS_DEFAULT = dt.timedelta(hours=24)  # the timeline's default window
SPANS_LONGEST = dt.timedelta(days=31)
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
PLAYLIST_CHUNK = 256 * 1024  # the playlist's text leaves in pieces this big (15.6 MB for 7 days)
# A playlist names a grant that expires: never kept by a browser or a proxy (it would be a credential).
PLAYLIST_HEADERS = {**NO_STORE, "Cache-Control": "private, no-store"}
SEGMENT_HEADERS = {"Cache-Control": "private, max-age=3600"}  # a closed segment never changes
CLIP_RECHECK_SECONDS = 1.0  # a clip's access is asked afresh this often: revoked, it ends within 2 s
PREVIEW_HEADERS = {"Cache-Control": "private, max-age=86400"}  # a keyframe of a closed segment never changes


def _span(start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    """A played or exported span, for the audit trail."""
    return {"start": start.astimezone(dt.UTC).isoformat(), "end": end.astimezone(dt.UTC).isoformat()}


@require_GET
@refusals_as_responses
async def playlist(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """`/cameras/<slug>/recordings.m3u8?start=&end=`: an HLS VOD playlist of the span (default: the last hour)."""
    camera, access = await visible_camera(request, slug)
    start, end = parse_span(request, default=PLAYLIST_DEFAULT, longest=PLAYLIST_LONGEST)
    record(Kind.PLAYBACK, actor=actor_of(access, request), camera=(camera.pk, camera.slug), detail=_span(start, end))
    began = time.perf_counter()
    grant = grants.issue(camera, access, start, end)
    text = await selectors.playlist_bytes(camera, start, end, query=urlencode({"grant": grant}))
    took = (time.perf_counter() - began) * 1000

    async def body() -> AsyncGenerator[bytes, None]:
        async def still_allowed() -> bool:
            return await access.still_allows(camera.slug)

        async with get_hub().viewer(f"playlist:{camera.slug}", still_allowed) as viewer:
            view = memoryview(text)
            for offset in range(0, len(text), PLAYLIST_CHUNK):
                if viewer.revoked.is_set():
                    return
                viewer.sending_since = time.monotonic()  # the hub's write deadline ends a reader that stalls
                yield bytes(view[offset : offset + PLAYLIST_CHUNK])
                viewer.sending_since = None

    # Server-Timing: what building the playlist cost (index read and text), for browsers' tools and the bench.
    headers = {**PLAYLIST_HEADERS, "Server-Timing": f"build;dur={took:.1f}", "Content-Length": str(len(text))}
    return StreamingHttpResponse(body(), content_type=PLAYLIST_TYPE, headers=headers)


@require_GET
@refusals_as_responses
async def segment(request: HttpRequest, slug: str, segment_id: int, part: str) -> HttpResponse | StreamingHttpResponse:
    """`/cameras/<slug>/recordings/<id>/init.mp4|media.mp4`: a segment's init section or its fragments, with Range.

    `?grant=` (from a playlist) or the caller's own credential: either way the principal is checked now.
    """
    grant = None
    if "grant" in request.GET:
        camera, grant = await grants.granted_camera(request, request.GET["grant"], slug)
    else:
        camera, _ = await visible_camera(request, slug)
    if part not in ("init", "media"):
        raise Http404("No such part: init.mp4 or media.mp4.")
    found = await selectors.segment(camera, segment_id)
    if found is None or (grant is not None and not grant.covers(found)):
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


CLIP_PATH = re.compile(r"/cameras/(?P<slug>[-a-zA-Z0-9_]+)/clip\.mp4")  # served by the stream fast path (apps.py)


@dataclass(frozen=True)
class ClipPlan:
    """A clip request, checked and parsed before the first byte: what is sent, then how (review.clips)."""

    camera: Camera
    access: Access
    sources: list[Source]
    start: dt.datetime
    end: dt.datetime

    @property
    def headers(self) -> dict[str, str]:
        seconds = int((self.end - self.start).total_seconds())
        name = f"{self.camera.slug}-{self.start.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{seconds}s.mp4"
        return {"Content-Type": "video/mp4", **NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}

    async def body(self, transport: asyncio.Transport | None) -> AsyncGenerator[bytes, None]:
        """The clip inside the viewer lifecycle, as a finite body: withdrawn access cuts it (the hub aborts
        `transport`: a broken transfer, never a clean end that would pass for the whole span)."""
        slug = self.camera.slug

        async def still_allowed() -> bool:
            return await self.access.still_allows(slug, fresh=True)

        async with (
            get_hub().viewer(
                f"clip:{slug}", still_allowed, transport=transport, recheck_every=CLIP_RECHECK_SECONDS, finite=True
            ),
            aclosing(clip_bytes(self.sources, self.start, self.end)) as chunks,
        ):
            async for chunk in chunks:
                yield chunk


async def plan_clip(request: HttpRequest, slug: str) -> ClipPlan:
    """Authorise a clip request and find its segments (refusals are raised)."""
    camera, access = await visible_camera(request, slug)
    longest = dt.timedelta(seconds=settings.NVR_CLIP_MAX_SECONDS)
    start, end = parse_span(request, default=dt.timedelta(minutes=1), longest=longest)
    sources = await selectors.clip_sources(camera, start, end)
    if not sources:
        raise Http404("Nothing was recorded in that span.")
    record(Kind.CLIP, actor=actor_of(access, request), camera=(camera.pk, camera.slug), detail=_span(start, end))
    return ClipPlan(camera, access, sources, start, end)


@require_GET
@refusals_as_responses
async def clip(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """`/cameras/<slug>/clip.mp4?start=&end=`: one MP4 of the span, remuxed without re-encoding, streamed.

    Under nvr.asgi the URL is served by streaming.fastpath from the same plan (no thread held per
    download); this view serves it anywhere else (Django's test client, another ASGI server).
    """
    plan = await plan_clip(request, slug)
    headers = plan.headers
    return StreamingHttpResponse(
        ClosingStream(plan.body(connection_of(getattr(request, "scope", {})))),  # a cut clip stops its remux at once
        content_type=headers.pop("Content-Type"),
        headers=headers,
    )


@require_GET
@refusals_as_responses
async def recordings_api(request: HttpRequest, slug: str) -> JsonResponse:
    """`/api/cameras/<slug>/recordings?start=&end=`: the recorded spans (segment boundaries merged away)."""
    camera, _ = await visible_camera(request, slug)
    start, end = parse_span(request, default=SPANS_DEFAULT, longest=SPANS_LONGEST)
    return JsonResponse(
        {
            "camera": camera.slug,
            "start": start.astimezone(dt.UTC).isoformat(),
            "end": end.astimezone(dt.UTC).isoformat(),
            "spans": await selectors.spans_in(camera, start, end),
            "codec": await selectors.latest_codec(camera),
            "events": await selectors.events_in(camera, start, end),
        },
        headers=NO_STORE,
    )


@require_GET
@refusals_as_responses
async def preview(request: HttpRequest, slug: str) -> HttpResponse:
    """`/cameras/<slug>/preview.jpg?t=&width=`: the recorded keyframe nearest `t` (the timeline's hover preview)."""
    camera, _ = await visible_camera(request, slug)
    raw = request.GET.get("t")
    if not raw:
        raise BadRequest("t (the time to preview) is required")
    moment = parse_time(raw, name="t")
    width = int(number_option(request, "width", 16, 640) or 0)
    segment = await selectors.segment_at(camera, moment)
    if segment is None:
        raise Http404("Nothing was recorded at that time.")
    try:
        jpeg = await preview_jpeg(segment.key, segment.pk, (moment - segment.start).total_seconds(), width)
    except FileNotFoundError:
        raise Http404("The recording was deleted (retention).") from None
    return HttpResponse(jpeg, content_type="image/jpeg", headers=PREVIEW_HEADERS)
