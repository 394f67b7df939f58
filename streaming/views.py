"""Streams and snapshots: async views that only wire a request to the hub or the bus.

Authentication: session, `?token=`, or HTTP Basic (see streaming.auth). Without
valid credentials the answer is 401 with a Basic challenge (what ffmpeg and VLC
expect); a camera the caller may not see is 404, exactly like an unknown one.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from cameras.status import describe
from framebus import BUS_ERRORS, snap_width
from streaming import multipart
from streaming.auth import request_access
from streaming.hub import ClosingStream, get_hub
from streaming.resize import resize_jpeg

NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate", "Pragma": "no-cache", "X-Accel-Buffering": "no"}
SNAPSHOT_MAX_AGE = 5.0


def unauthorized() -> HttpResponse:
    response = HttpResponse(
        "Authentication required: log in, add ?token=..., or use HTTP Basic.\n", status=401, content_type="text/plain"
    )
    response["WWW-Authenticate"] = 'Basic realm="nvr", charset="UTF-8"'
    return response


class BadOption(ValueError):
    pass


def _number(request, name: str, low: float, high: float) -> float | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadOption(f"{name} must be a number") from None
    if not (low <= value <= high):
        raise BadOption(f"{name} must be between {low:g} and {high:g}")
    return value


async def _camera_or_error(request, slug: str):
    """(camera, access, None) when allowed, else (None, None, error response)."""
    access = await request_access(request)
    if access is None:
        return None, None, unauthorized()
    camera = await access.camera(slug)
    if camera is None:
        return None, None, HttpResponse("No such camera.\n", status=404, content_type="text/plain")
    return camera, access, None


def _bad_request(message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=400, content_type="text/plain")


@dataclass(frozen=True)
class StreamPlan:
    """What one viewer's stream will be: checked and parsed before the first byte is sent."""

    camera: object
    access: object
    width: int  # size variant, 0 = the camera's own
    fps: float | None  # None: the camera's own rate, no pacing

    def body(self, hub):
        return _viewer(hub, self.camera, self.width, self.fps, self.access)

    @property
    def can_write_direct(self) -> bool:
        """Unpaced streams can be written by the feed itself (see Hub.direct)."""
        return self.fps is None

    async def serve_direct(self, hub, transport, *, chunked: bool) -> None:
        """Until the viewer leaves or loses access: the feed writes the parts, this only waits."""
        camera = self.camera
        async with (
            hub.watch(camera.slug, self.width, camera.name) as feed,
            hub.direct(feed, transport, chunked=chunked),
        ):
            while True:
                await asyncio.sleep(settings.NVR_STREAM_ACCESS_RECHECK)
                if not await self.access.still_allows(camera.slug):
                    return  # revoked while watching


async def plan_stream(request, slug: str) -> StreamPlan | HttpResponse:
    """Authorise a stream request and parse its options; an HttpResponse is the refusal to send."""
    camera, access, error = await _camera_or_error(request, slug)
    if error:
        return error
    try:
        fps = _number(request, "fps", 0.1, 60)
        width = _number(request, "width", 16, 7680)
    except BadOption as problem:
        return _bad_request(str(problem))
    variant = snap_width(int(width)) if width else 0
    if camera.max_width and variant >= camera.max_width:
        variant = 0
    # Only slower-than-camera requests are paced: pacing at the camera's own rate costs a timer
    # per frame and holds back frames that arrive a little early (bench/README.md).
    return StreamPlan(camera, access, variant, fps if fps and fps < camera.max_fps else None)


@require_GET
async def stream(request, slug: str):
    """`/cameras/<slug>/stream.mjpg`: live MJPEG; `fps` (at most the camera's) and `width` options.

    Under nvr.asgi the same URL is answered by streaming.fastpath without Django's request
    machinery (which holds a thread and a database connection per open stream); this view
    serves it anywhere else (Django's test client, another ASGI wrapper) from the same plan.
    """
    plan = await plan_stream(request, slug)
    if isinstance(plan, HttpResponse):
        return plan
    return StreamingHttpResponse(
        ClosingStream(plan.body(get_hub())), content_type=multipart.CONTENT_TYPE, headers=NO_STORE
    )


async def _viewer(hub, camera, width: int, fps: float | None, access):
    recheck_at = time.monotonic() + settings.NVR_STREAM_ACCESS_RECHECK
    async with hub.watch(camera.slug, width, camera.name) as feed, aclosing(hub.stream(feed, fps=fps)) as chunks:
        async for chunk in chunks:
            yield chunk
            if time.monotonic() >= recheck_at:
                if not await access.still_allows(camera.slug):
                    return  # revoked while watching
                recheck_at = time.monotonic() + settings.NVR_STREAM_ACCESS_RECHECK


@require_GET
async def snapshot(request, slug: str):
    """`/cameras/<slug>/snapshot.jpg`: the newest frame; 503 when there is none recent."""
    camera, _, error = await _camera_or_error(request, slug)
    if error:
        return error
    try:
        width = _number(request, "width", 16, 7680)
    except BadOption as problem:
        return _bad_request(str(problem))
    bus = get_hub().bus
    try:
        frame = await bus.latest_frame(camera.slug)
    except BUS_ERRORS:
        return HttpResponse(
            "The frame bus (Redis) is unavailable.\n", status=503, content_type="text/plain", headers=NO_STORE
        )
    if frame is None or time.time() - frame.ts > SNAPSHOT_MAX_AGE or not camera.enabled:
        reason = "disabled" if not camera.enabled else "no recent frame"
        return HttpResponse(
            f"Camera {camera.slug} is offline ({reason}).\n",
            status=503,
            content_type="text/plain",
            headers={**NO_STORE, "Retry-After": "5"},
        )
    jpeg = frame.jpeg
    if width and int(width) < frame.width:
        jpeg = await asyncio.to_thread(resize_jpeg, jpeg, int(width))
    return HttpResponse(jpeg, content_type="image/jpeg", headers={**NO_STORE, "X-Timestamp": f"{frame.ts:.6f}"})


@require_GET
async def camera_status(request):
    """`/api/cameras/`: the caller's cameras with live status, in grid order (no secrets)."""
    access = await request_access(request)
    if access is None:
        return unauthorized()
    cameras = access.cameras()
    cameras = [c async for c in cameras]
    hub = get_hub()
    try:
        statuses = await hub.bus.statuses([c.slug for c in cameras])
    except BUS_ERRORS:
        statuses = {}
    viewers: dict[str, int] = {}
    for feed in hub.feeds.values():
        viewers[feed.slug] = viewers.get(feed.slug, 0) + feed.viewers
    items = []
    for camera in cameras:
        status = statuses.get(camera.slug, {})
        described = describe(status, enabled=camera.enabled)
        items.append(
            {
                "slug": camera.slug,
                "name": camera.name,
                "kind": camera.kind,
                "enabled": camera.enabled,
                "state": described["state"],
                "fps": described["fps"],
                "last_frame_age": described["age"],
                "last_error": described["error"],
                "width": status.get("width"),
                "height": status.get("height"),
                "viewers_here": viewers.get(camera.slug, 0),
                "stream_url": f"/cameras/{camera.slug}/stream.mjpg",
                "snapshot_url": f"/cameras/{camera.slug}/snapshot.jpg",
            }
        )
    return JsonResponse({"cameras": items}, headers=NO_STORE)
