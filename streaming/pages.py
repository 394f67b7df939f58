"""The pages people use: the live grid (`/`) and one camera full size (`/cameras/<slug>/`).

Plain sync views (short ORM reads, no streaming): the live pictures come from the grid
stream (streaming.grid) and the per-camera MJPEG stream, the live status from the
WebSocket (streaming.consumers). A camera the user may not see is 404, like an unknown one.
"""

from __future__ import annotations

import math
from typing import cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from cameras.models import Camera
from cameras.selectors import visible_cameras
from cameras.status import raw_statuses
from framebus.status import CLIENT_STALL_AFTER, CameraStatus, State
from streaming.models import DashboardPreference, StreamToken

# Every state in its own words, for the page's script (framebus.status.State.label is the one source).
STATE_LABELS = {state.value: state.label for state in State}
TOKEN_PERMISSION = "streaming.add_streamtoken"


def _layout(user: User) -> DashboardPreference:
    return DashboardPreference.objects.filter(user=user).first() or DashboardPreference(user=user)


def _statuses(cameras: list[Camera]) -> dict[str, CameraStatus]:
    """The status of each camera (one Redis round trip); unknown for all when Redis is away."""
    raw = raw_statuses([c.slug for c in cameras])
    return {c.slug: CameraStatus.from_fields(None if raw is None else raw[c.slug], enabled=c.enabled) for c in cameras}


def _page_number(raw: str | None, pages: int) -> int:
    try:
        return min(max(int(raw or 1), 1), pages)
    except ValueError:
        return 1


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """All cameras the user may see, live, in their chosen layout (n × n per page, or all)."""
    preference = _layout(cast(User, request.user))  # login_required: never anonymous
    cameras = list(visible_cameras(request.user))
    per_page = preference.per_page or max(len(cameras), 1)
    pages = max(math.ceil(len(cameras) / per_page), 1)
    page = _page_number(request.GET.get("page"), pages)
    shown = cameras[(page - 1) * per_page : page * per_page]
    statuses = _statuses(shown)
    tiles = [{"camera": camera, "status": statuses[camera.slug]} for camera in shown]
    return render(
        request,
        "streaming/dashboard.html",
        {
            "tiles": tiles,
            "layout": preference.layout,
            "layouts": DashboardPreference.Layout.choices,
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
    """Remember the user's grid layout (every device they use shows the same)."""
    layout = request.POST.get("layout", "")
    if layout in DashboardPreference.Layout.values:
        DashboardPreference.objects.update_or_create(user=request.user, defaults={"layout": layout})
    return HttpResponseRedirect(reverse("dashboard"))


def _camera_page(request: HttpRequest, camera: Camera, *, token: str = "", token_name: str = "") -> HttpResponse:
    status = _statuses([camera])[camera.slug]
    query = f"?token={token}" if token else ""
    stream_path = reverse("camera-stream", args=[camera.slug])
    snapshot_path = reverse("camera-snapshot", args=[camera.slug])
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
            "urls": urls,
            "may_create_token": request.user.has_perm(TOKEN_PERMISSION),
            "token": token,
            "token_name": token_name,
            "back": back,
            "state_labels": STATE_LABELS,
        },
    )


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
