"""`/exports/`: ask for a signed export of a span of one or several cameras, watch it build, download it.

Every camera goes through the camera-access rule of the streams (cameras.selectors.visible_cameras): a
user can export only cameras they see, sees only their own exports (superusers: everyone's), and a
download re-checks that its owner still sees every camera in it. Each export is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import BinaryIO

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audit.log import Actor, Kind, record
from cameras.models import Camera
from cameras.selectors import visible_cameras
from exports import builder, signing
from exports.models import INTERRUPTED_AFTER, Export
from review.ranges import serve_window
from review.times import parse_time
from streaming.errors import NO_STORE
from streaming.hub import get_hub

SHOWN = 50  # exports listed on the page
RECHECK_SECONDS = 5.0  # a running download's access is asked afresh this often


def mine(user) -> QuerySet[Export]:  # type: ignore[no-untyped-def]
    """The exports `user` may see: their own (superusers: all)."""
    exports = Export.objects.all()
    return exports if user.is_superuser else exports.filter(user=user)


def state_of(export: Export) -> str:
    """The state shown: a build that stopped moving (its process restarted) is failed."""
    stalled = (timezone.now() - export.updated_at).total_seconds() > INTERRUPTED_AFTER
    if export.state in (Export.State.QUEUED, Export.State.BUILDING) and stalled:
        return Export.State.FAILED
    return export.state


def describe(export: Export) -> dict:
    state = state_of(export)
    answer = {"id": export.pk, "state": state, "progress": round(export.progress, 3), "bytes": export.bytes}
    if state == Export.State.DONE:
        answer["download"] = reverse("export-download", args=[export.pk])
    if state == Export.State.FAILED:
        answer["error"] = export.error or "interrupted (the server restarted): ask for it again"
    return answer


def _requested(request: HttpRequest) -> tuple[list[Camera], dt.datetime, dt.datetime]:
    """The cameras and span asked for; a camera the user does not see is refused, never silently dropped."""
    slugs = request.POST.getlist("cameras")
    if not slugs:
        raise BadRequest("choose at least one camera")
    cameras = list(visible_cameras(request.user).filter(slug__in=slugs))
    if len(cameras) != len(set(slugs)):
        raise PermissionDenied("you may not export one of these cameras")
    start = parse_time(request.POST.get("start", ""), name="start")
    end = parse_time(request.POST.get("end", ""), name="end")
    if end <= start:
        raise BadRequest("the end must be after the start")
    if (end - start).total_seconds() > settings.NVR_EXPORT_MAX_SECONDS:
        raise BadRequest(f"an export holds at most {settings.NVR_EXPORT_MAX_SECONDS // 3600} hours")
    return cameras, start, end


@login_required
@require_http_methods(["GET", "POST"])
def exports_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            cameras, start, end = _requested(request)
        except BadRequest as error:
            messages.error(request, f"Not exported: {error}")
            return redirect("exports")
        export = Export.objects.create(
            user=request.user,  # type: ignore[misc] # login_required: a real user
            username=request.user.get_username(),
            camera_slugs=[c.slug for c in cameras],
            start=start,
            end=end,
        )
        export.cameras.set(cameras)
        actor = Actor.of(request.user, address=request.META.get("REMOTE_ADDR", ""))
        for camera in cameras:
            detail = {"export": export.pk, "start": start.isoformat(), "end": end.isoformat()}
            record(Kind.EXPORT, actor=actor, camera=(camera.pk, camera.slug), detail=detail)
        builder.submit(export.pk)
        return redirect("exports")
    builder.expire()
    now = timezone.now().replace(second=0, microsecond=0)
    exports = list(mine(request.user)[:SHOWN])
    return render(
        request,
        "exports/exports.html",
        {
            "cameras": visible_cameras(request.user),
            "rows": [(export, describe(export)) for export in exports],
            "fingerprint": signing.fingerprint(),
            "default_start": (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "default_end": now.strftime("%Y-%m-%dT%H:%M"),
            "time_zone": settings.TIME_ZONE,
        },
    )


@login_required
@require_GET
def export_status(request: HttpRequest, export_id: int) -> JsonResponse:
    export = mine(request.user).filter(pk=export_id).first()
    if export is None:
        raise Http404("No such export.")
    return JsonResponse(describe(export), headers=NO_STORE)


@login_required
@require_GET
def public_key(request: HttpRequest) -> HttpResponse:
    """The recorder's public key (PEM): give it to whoever checks an export (`verify_export.py --key`)."""
    return HttpResponse(signing.public_key_pem(), content_type="application/x-pem-file")


def _downloadable(user, export_id: int) -> tuple[Export, BinaryIO, int]:  # type: ignore[no-untyped-def]
    if not user.is_authenticated:
        raise PermissionDenied("sign in to download exports")
    export = mine(user).filter(pk=export_id).first()
    if export is None or state_of(export) != Export.State.DONE:
        raise Http404("No such export.")
    ids = set(export.cameras.values_list("pk", flat=True))
    if len(ids) != len(export.camera_slugs) or len(
        ids & set(visible_cameras(user).values_list("pk", flat=True))
    ) != len(ids):
        raise Http404("No such export.")  # a camera was taken from the user (or deleted) since
    path = builder.path_of(export)
    file = path.open("rb")
    return export, file, path.stat().st_size


def _downloadable_now(user, export_id: int) -> None:  # type: ignore[no-untyped-def]
    """Whether `user` may still download the export (the re-check while a download runs)."""
    _, file, _ = _downloadable(user, export_id)
    file.close()


@require_GET
async def download(request: HttpRequest, export_id: int) -> HttpResponse | StreamingHttpResponse:
    user = await request.auser()
    try:
        export, file, size = await sync_to_async(_downloadable)(user, export_id)
    except PermissionDenied:
        return redirect(f"{reverse('login')}?next={request.path}")
    except FileNotFoundError:
        raise Http404("The export's file is gone.") from None
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{export.file_name}"'}
    response = serve_window(request, file, offset=0, length=size, content_type="application/zip", headers=headers)
    if isinstance(response, StreamingHttpResponse) and response.is_async:
        response.streaming_content = _watched(response.streaming_content, user, export_id)  # type: ignore[arg-type] # async
    return response


async def _watched(chunks: AsyncIterator[bytes], user, export_id: int) -> AsyncIterator[bytes]:  # type: ignore[no-untyped-def]
    """The download inside the viewer lifecycle: counted, its access re-checked while it runs, cut when withdrawn."""

    async def still_allowed() -> bool:
        try:
            await sync_to_async(_downloadable_now)(user, export_id)
        except (PermissionDenied, Http404):
            return False
        return True

    async with get_hub().viewer(f"export:{export_id}", still_allowed, recheck_every=RECHECK_SECONDS, finite=True):
        async for chunk in chunks:
            yield chunk
