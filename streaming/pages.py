"""The pages people use: the live grid (`/`) and one camera full size (`/cameras/<slug>/`).

Plain sync views (short ORM reads, no streaming): the live pictures come from the grid
stream (streaming.grid) and the per-camera MJPEG stream, the live status from the
WebSocket (streaming.consumers). A camera the user may not see is 404, like an unknown one.
"""

from __future__ import annotations

import math
from typing import cast
from urllib.parse import urlencode

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from cameras.kinds import Kind
from cameras.models import Camera, CameraGroup
from cameras.selectors import group_cameras, visible_cameras, visible_groups
from cameras.status import raw_statuses, status_from
from framebus.status import CLIENT_STALL_AFTER, CameraStatus, State
from streaming.auth import request_access
from streaming.errors import Unauthorized, refusal_response
from streaming.models import DashboardPreference, StreamToken

# Every state in its own words, for the page's script (framebus.status.State.label is the one source).
STATE_LABELS = {state.value: state.label for state in State}
TOKEN_PERMISSION = "streaming.add_streamtoken"


KIOSK_CYCLE_SECONDS = 20  # a kiosk with more cameras than tiles turns the page this often unless ?cycle= says
MAX_CYCLE_SECONDS = 3600


def _layout(user: User, group: CameraGroup | None) -> DashboardPreference:
    found = DashboardPreference.objects.filter(user=user, group=group).first()
    return found or DashboardPreference(user=user, group=group)


def _chosen_group(request: HttpRequest) -> CameraGroup | None:
    """The `?group=` the user may use; None without one. A group they may not use is a 404, like an unknown one."""
    slug = request.GET.get("group") or request.POST.get("group") or ""
    if not slug:
        return None
    return get_object_or_404(visible_groups(request.user), slug=slug)


def _cycle_seconds(raw: str | None, kiosk: bool) -> int:
    try:
        seconds = int(raw) if raw else (KIOSK_CYCLE_SECONDS if kiosk else 0)
    except ValueError:
        raise BadRequest("cycle must be a whole number of seconds (0: do not cycle)") from None
    if not 0 <= seconds <= MAX_CYCLE_SECONDS:
        raise BadRequest(f"cycle must be between 0 and {MAX_CYCLE_SECONDS} seconds")
    return seconds


def _statuses(cameras: list[Camera]) -> dict[str, CameraStatus]:
    """The status of each camera (one Redis round trip); unknown for all when Redis is away."""
    raw = raw_statuses([c.slug for c in cameras])
    return {c.slug: status_from(c, None if raw is None else raw[c.slug]) for c in cameras}


def _page_number(raw: str | None, pages: int) -> int:
    try:
        return min(max(int(raw or 1), 1), pages)
    except ValueError:
        return 1


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The user's cameras (or a camera group's), live, in their chosen layout, n × n per page or all.

    `?group=<slug>` shows a group, `?kiosk=1` is the wall-screen mode (no header, no cursor, the screen
    kept awake), and `?cycle=<seconds>` turns the pages by themselves (kiosks: every 20 s by default).
    `?token=` instead of a login: a token made for a camera group shows that group (a wall screen's
    one URL), with its owner's layout; the token goes on to the grid stream and the status socket.
    """
    token = request.GET.get("token")
    if token is not None:
        access = async_to_sync(request_access)(request)
        if access is None or access.user is None:
            return refusal_response(Unauthorized("This token is not valid (revoked, or its owner is gone)."))
        user = cast(User, access.user)
        group = CameraGroup.objects.filter(pk=access.group_id).first() if access.group_id else None
        cameras = list(access.cameras())
    elif not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    else:
        user = request.user
        group = _chosen_group(request)
        cameras = list(group_cameras(group, user) if group is not None else visible_cameras(user))
    preference = _layout(user, group)
    kiosk = request.GET.get("kiosk") == "1"
    if preference.hide_off:
        cameras = [camera for camera in cameras if camera.enabled]
    per_page = preference.per_page or max(len(cameras), 1)
    pages = max(math.ceil(len(cameras) / per_page), 1)
    page = _page_number(request.GET.get("page"), pages)
    shown = cameras[(page - 1) * per_page : page * per_page]
    statuses = _statuses(shown)
    tiles = [
        {"camera": camera, "status": statuses[camera.slug], "live_socket": _live_socket(camera, tile=True)}
        for camera in shown
    ]
    keep = {
        "group": group.slug if group else "",
        "kiosk": "1" if kiosk else "",
        "cycle": request.GET.get("cycle", ""),
        "token": token or "",
    }
    query = urlencode({k: v for k, v in keep.items() if v})
    return render(
        request,
        "streaming/dashboard.html",
        {
            "tiles": tiles,
            "layout": preference.layout,
            "layouts": DashboardPreference.Layout.choices,
            "hide_off": preference.hide_off,
            "group": group,
            "groups": [] if token else list(visible_groups(user)),
            "token": token or "",
            "kiosk": kiosk,
            "cycle": _cycle_seconds(request.GET.get("cycle"), kiosk) if pages > 1 else 0,
            "query": query,
            "page": page,
            "pages": pages,
            "camera_count": len(cameras),
            "state_labels": STATE_LABELS,
            "stall_ms": int(CLIENT_STALL_AFTER * 1000),
            "review_url": reverse("review") + "?cameras=" + ",".join(c.slug for c in shown[:16]),
        },
    )


@require_POST
@login_required
def set_layout(request: HttpRequest) -> HttpResponse:
    """Remember the user's layout and turned-off toggle for the group shown (every device shows the same)."""
    group = _chosen_group(request)
    changes: dict[str, object] = {}
    layout = request.POST.get("layout", "")
    if layout in DashboardPreference.Layout.values:
        changes["layout"] = layout
    if request.POST.get("hide_off") in ("0", "1"):
        changes["hide_off"] = request.POST["hide_off"] == "1"
    if changes:
        DashboardPreference.objects.update_or_create(user=request.user, group=group, defaults=changes)
    query = urlencode({"group": group.slug} if group else {})
    return HttpResponseRedirect(reverse("dashboard") + (f"?{query}" if query else ""))


def _camera_page(request: HttpRequest, camera: Camera, *, token: str = "", token_name: str = "") -> HttpResponse:
    status = _statuses([camera])[camera.slug]
    query = f"?token={token}" if token else ""
    stream_path = reverse("camera-stream", args=[camera.slug])
    snapshot_path = reverse("camera-snapshot", args=[camera.slug])
    live_path = reverse("camera-live", args=[camera.slug])
    urls = [
        (
            "MJPEG stream",
            request.build_absolute_uri(stream_path) + query,
            "Browsers, VLC, ffmpeg, OpenCV, Home Assistant (MJPEG IP camera).",
        ),
        (
            "Snapshot (JPEG)",
            request.build_absolute_uri(snapshot_path) + query,
            "The newest picture; add width=640 for a smaller one.",
        ),
    ]
    if _live_socket(camera):  # a camera that sends compressed video: its own H.264 too
        urls.insert(
            1,
            (
                "H.264 stream (fragmented MP4)",
                request.build_absolute_uri(live_path) + query,
                "The camera's own video, unchanged: ffmpeg (-c copy), VLC.",
            ),
        )
    back = request.GET.get("back", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}) or not back.startswith("/"):
        back = reverse("dashboard")
    return render(
        request,
        "streaming/camera.html",
        {
            "camera": camera,
            "status": status,
            "stream_path": stream_path,
            "live_socket": _live_socket(camera),
            "urls": urls,
            "may_create_token": request.user.has_perm(TOKEN_PERMISSION),
            "token": token,
            "token_name": token_name,
            "back": back,
            "state_labels": STATE_LABELS,
            "clip_seconds": settings.NVR_CLIP_MAX_SECONDS,  # the timeline's "Download" covers at most this
        },
    )


def _live_socket(camera: Camera, *, tile: bool = False) -> str:
    """The WebSocket of the camera's own H.264 (cameras.relay), for cameras that send compressed video.

    A tile (the grid, the wall) asks for the camera's sub stream where it has one; the camera page, full
    screen, plays the main stream."""
    if camera.kind != Kind.RTSP:
        return ""
    return f"/ws/live/{camera.slug}/" + ("?stream=sub" if tile and camera.sub_source else "")


@require_GET
@login_required
def camera_page(request: HttpRequest, slug: str) -> HttpResponse:
    """One camera full size, with its URLs for other systems."""
    camera = get_object_or_404(visible_cameras(request.user), slug=slug)
    return _camera_page(request, camera)


@require_POST
@login_required
def camera_token(request: HttpRequest, slug: str) -> HttpResponse:
    """Create a token for this camera only and show it once, inside the camera's URLs."""
    camera = get_object_or_404(visible_cameras(request.user), slug=slug)
    if not request.user.has_perm(TOKEN_PERMISSION):
        raise PermissionDenied("You may not create stream tokens.")
    name = (request.POST.get("name") or "").strip()[:100] or f"{camera.name} (from the camera page)"
    _, token = StreamToken.issue(name=name, user=request.user, camera=camera)  # the token dies with its owner
    response = _camera_page(request, camera, token=token, token_name=name)
    response["Cache-Control"] = "no-store"
    return response
