"""Streams, snapshots and the status API: async views that only wire a request to the hub or the bus.

Authentication: session, `?token=`, or HTTP Basic (see streaming.auth). Refusals are raised
(streaming.errors) and answered in one place: no valid credential is 401 with a Basic
challenge, a camera the caller may not see is 404 exactly like an unknown one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from audit.log import ViewAudit
from cameras.models import Camera
from cameras.status import camera_facts, status_from
from framebus import BUS_ERRORS, Frame, LiveStream, RawStatus, snap_width, variant_width
from framebus.status import FRAME_STALE_AFTER, CameraStatus
from imaging import resize_jpeg
from recordings.selectors import camera_usage
from streaming import multipart
from streaming.auth import Access, actor_of, request_access
from streaming.errors import NO_STORE, Unauthorized, Unavailable, refusals_as_responses
from streaming.hub import ClosingStream, Hub, get_hub
from streaming.livefeed import CONTENT_TYPE as LIVE_CONTENT_TYPE
from streaming.livefeed import NewGeneration, NotRelayed, live_chunks

__all__ = ["NO_STORE", "LivePlan", "StreamPlan", "live", "plan_live", "plan_stream", "snapshot", "stream"]

SNAPSHOT_WAIT = 4.0  # seconds a snapshot of a camera nobody watches waits for capture to make a frame


def number_option(request: HttpRequest, name: str, low: float, high: float) -> float | None:
    """The query option `name` as a number in [low, high], None when absent; BadRequest otherwise."""
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None
    if not (low <= value <= high):
        raise BadRequest(f"{name} must be between {low:g} and {high:g}")
    return value


async def authorize(request: HttpRequest) -> Access:
    """The caller's access, or Unauthorized."""
    access = await request_access(request)
    if access is None:
        raise Unauthorized()
    return access


async def visible_camera(request: HttpRequest, slug: str) -> tuple[Camera, Access]:
    """The camera if the caller may watch it; Unauthorized or Http404 (unknown and forbidden look alike)."""
    access = await authorize(request)
    camera = await access.camera(slug)
    if camera is None:
        raise Http404("No such camera.")
    return camera, access


@dataclass(frozen=True)
class StreamPlan:
    """What one viewer's stream will be: checked and parsed before the first byte is sent."""

    camera: Camera
    access: Access
    width: int  # size variant, 0 = the camera's own
    fps: float | None  # None: the camera's own rate, no pacing
    audit: ViewAudit | None = None  # who watches, for the audit trail's row when the view ends

    @property
    def can_write_direct(self) -> bool:
        """Unpaced streams can be written by the feed itself (see Feed.push)."""
        return self.fps is None

    async def still_allowed(self) -> bool:
        return await self.access.still_allows(self.camera.slug)

    async def body(self, hub: Hub) -> AsyncGenerator[bytes, None]:
        """The task path: multipart bytes until the viewer leaves or loses access."""
        camera = self.camera
        async with (
            hub.viewer(camera.slug, self.still_allowed, audit=self.audit) as viewer,
            hub.watch(camera.slug, self.width, camera.name, viewer) as feed,
        ):
            async for chunk in hub.stream(feed, viewer, fps=self.fps):
                yield chunk

    async def serve_direct(self, hub: Hub, transport: asyncio.Transport, *, chunked: bool) -> None:
        """The direct path: the feed writes the parts; this only waits until the viewer leaves or loses access."""
        camera = self.camera
        async with (
            hub.viewer(
                camera.slug, self.still_allowed, transport=transport, chunked=chunked, audit=self.audit
            ) as viewer,
            hub.watch(camera.slug, self.width, camera.name, viewer) as feed,
        ):
            viewer.attach(feed)
            await viewer.revoked.wait()


async def plan_stream(request: HttpRequest, slug: str) -> StreamPlan:
    """Authorise a stream request and parse its options (refusals are raised)."""
    camera, access = await visible_camera(request, slug)
    fps = number_option(request, "fps", 0.1, 60)
    width = number_option(request, "width", 16, 7680)
    # Only slower-than-camera requests are paced: pacing at the camera's own rate costs a timer per
    # frame and holds back frames that arrive a little early (bench/README.md).
    audit = ViewAudit(actor_of(access, request), ((camera.pk, camera.slug),))
    fps = fps if fps and fps < camera.max_fps else None
    return StreamPlan(camera, access, variant_width(width, camera.max_width), fps, audit)


@require_GET
@refusals_as_responses
async def stream(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """`/cameras/<slug>/stream.mjpg`: live MJPEG; `fps` (at most the camera's) and `width` options.

    Under nvr.asgi the same URL is answered by streaming.fastpath without Django's request
    machinery (which holds a thread and a database connection per open stream); this view
    serves it anywhere else (Django's test client, another ASGI wrapper) from the same plan.
    """
    plan = await plan_stream(request, slug)
    return StreamingHttpResponse(
        ClosingStream(plan.body(get_hub())), content_type=multipart.CONTENT_TYPE, headers=NO_STORE
    )


@dataclass(frozen=True)
class LivePlan:
    """One viewer of a camera's own H.264 as never-ending fragmented MP4 (`live.mp4`), checked before the first byte."""

    camera: Camera
    access: Access
    audit: ViewAudit | None = None
    stream: LiveStream = LiveStream.MAIN  # `?stream=sub`: the camera's sub stream (where it has one)
    content_type = LIVE_CONTENT_TYPE
    can_write_direct = False  # every viewer has its own place in the group of pictures: the task path

    async def still_allowed(self) -> bool:
        return await self.access.still_allows(self.camera.slug)

    async def body(self, hub: Hub) -> AsyncGenerator[bytes, None]:
        """The init segment, the group since the last keyframe, then every fragment, until the viewer
        leaves, loses access or the stream restarts with a new format (then it ends: the client reopens)."""
        slug = self.camera.slug
        async with (
            hub.viewer(slug, self.still_allowed, audit=self.audit) as viewer,
            hub.watch_live(slug, viewer, self.stream) as feed,
        ):
            try:
                async for chunk in live_chunks(feed, viewer, hub.counters):
                    yield chunk
            except (NewGeneration, NotRelayed):
                return


async def plan_live(request: HttpRequest, slug: str) -> LivePlan:
    """Authorise a live.mp4 request (the credentials and refusals of stream.mjpg)."""
    camera, access = await visible_camera(request, slug)
    stream = LiveStream.parse(request.GET.get("stream")) if camera.sub_source else LiveStream.MAIN
    return LivePlan(camera, access, ViewAudit(actor_of(access, request), ((camera.pk, camera.slug),)), stream)


@require_GET
@refusals_as_responses
async def live(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """`/cameras/<slug>/live.mp4[?stream=sub]`: the camera's own H.264 (its main stream, or its sub stream)
    as fragmented MP4 that never ends (ffmpeg, VLC).

    Served by streaming.fastpath under nvr.asgi, as stream.mjpg is; this view serves it elsewhere.
    """
    plan = await plan_live(request, slug)
    return StreamingHttpResponse(ClosingStream(plan.body(get_hub())), content_type=LIVE_CONTENT_TYPE, headers=NO_STORE)


async def _frame_on_demand(hub: Hub, camera: Camera) -> Frame | None:
    """Ask capture for a live frame of a camera nobody watches, and wait up to SNAPSHOT_WAIT for it."""
    try:
        async with hub.watch(camera.slug, 0, camera.name) as feed, asyncio.timeout(SNAPSHOT_WAIT):
            while not (feed.live and feed.frame is not None and _recent(feed.frame)):
                await feed.changed()
            return feed.frame
    except TimeoutError:
        return None


def _recent(frame: Frame) -> bool:
    return time.time() - frame.ts <= FRAME_STALE_AFTER


@require_GET
@refusals_as_responses
async def snapshot(request: HttpRequest, slug: str) -> HttpResponse:
    """`/cameras/<slug>/snapshot.jpg`: the newest frame; 503 as soon as the camera is not live.

    Capture makes live frames only while someone watches: a snapshot of a live camera nobody watches
    asks for one and waits briefly. `width` is snapped to the stream size variants, so no client can
    make the server decode, resize and encode an arbitrary width per request.
    """
    camera, _ = await visible_camera(request, slug)
    width = number_option(request, "width", 16, 7680)
    if not camera.enabled:
        raise Unavailable(f"Camera {camera.slug} is turned off.", retry_after=5)
    hub = get_hub()
    try:
        frame, raw = await hub.bus.latest_frame_and_status(camera.slug)
    except BUS_ERRORS:
        raise Unavailable("The frame bus (Redis) is unavailable.") from None
    status = CameraStatus.from_fields(raw)
    if raw:  # a capture loop reports the camera: its word decides, within a second of it knowing
        live = status.is_live
        if live and (frame is None or not _recent(frame)):
            frame = await _frame_on_demand(hub, camera)
    else:  # frames without a reporting loop (another publisher): their age decides
        live = frame is not None and _recent(frame)
    if frame is None or not live:
        reason = status.reason() if raw else "no recent frame"
        raise Unavailable(f"Camera {camera.slug} is offline ({reason}).", retry_after=5)
    jpeg = frame.jpeg
    variant = snap_width(int(width)) if width else 0
    if variant and variant < frame.width:
        jpeg = await asyncio.to_thread(resize_jpeg, jpeg, variant)
    return HttpResponse(jpeg, content_type="image/jpeg", headers={**NO_STORE, "X-Timestamp": f"{frame.ts:.6f}"})


@require_GET
@refusals_as_responses
async def camera_status(request: HttpRequest) -> JsonResponse:
    """`/api/cameras/`: the caller's cameras with live status, in grid order (no secrets)."""
    access = await authorize(request)
    cameras = [c async for c in access.cameras()]
    hub = get_hub()
    statuses: dict[str, RawStatus] | None
    here = hub.viewer_counts()
    try:
        statuses = await hub.bus.statuses([c.slug for c in cameras])
        everywhere = await hub.bus.viewer_counts([c.slug for c in cameras])
    except BUS_ERRORS:
        statuses, everywhere = None, here
    usage = await sync_to_async(camera_usage)()
    items = []
    for camera in cameras:
        raw = None if statuses is None else statuses.get(camera.slug, {})
        facts = camera_facts(camera, status_from(camera, raw), usage.get(camera.pk))
        facts.update(
            viewers=everywhere.get(camera.slug, 0),  # in every web process
            viewers_here=here.get(camera.slug, 0),
            stream_url=f"/cameras/{camera.slug}/stream.mjpg",
            snapshot_url=f"/cameras/{camera.slug}/snapshot.jpg",
        )
        items.append(facts)
    return JsonResponse({"cameras": items}, headers=NO_STORE)
