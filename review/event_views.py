"""Events over HTTP: `/api/events` (JSON), each event's snapshot and thumbnail, and the `/events/` page.

Same authentication and refusals as every other URL (streaming.auth, streaming.errors): only the
cameras the caller may watch; a camera or event they may not see is a 404, like an unknown one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cameras.selectors import visible_cameras
from events.access import sees_every_camera
from events.models import Event, EventKind
from recordings.store import get_store
from review.event_selectors import (
    HEALTH,
    PAGE_SIZE,
    EventFilter,
    event_json,
    labels_seen,
    length_text,
    play_window,
    score_text,
)
from review.times import parse_time
from streaming.auth import Access
from streaming.errors import NO_STORE, refusals_as_responses
from streaming.views import authorize

API_LIMIT = 500  # events per API answer at most (`limit`)


KINDS = (HEALTH, *EventKind.values)


def _filter_from(request: HttpRequest, cameras, *, store: bool = False) -> EventFilter:  # type: ignore[no-untyped-def]
    """The filter in the query (camera, since, until, zone, label, kind); a camera the caller may not see is a 404.

    `store`: the caller sees every camera, so also the store's own health events (no camera), unless a
    camera is chosen."""
    slug = request.GET.get("camera", "").strip()
    if slug:
        store = False
        cameras = cameras.filter(slug=slug)
        if not cameras.exists():
            raise Http404("No such camera.")
    kind = request.GET.get("kind", "").strip()
    if kind and kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    since = parse_time(request.GET["since"], name="since") if request.GET.get("since") else None
    until = parse_time(request.GET["until"], name="until") if request.GET.get("until") else None
    if since and until and until <= since:
        raise BadRequest("until must be after since")
    zone = request.GET.get("zone", "").strip()[:40]
    label = request.GET.get("label", "").strip()[:50]
    return EventFilter(cameras=cameras, since=since, until=until, zone=zone, label=label, kind=kind, store=store)


@require_GET
@refusals_as_responses
async def api_events(request: HttpRequest) -> JsonResponse:
    """`/api/events?camera=&since=&until=&zone=&kind=&limit=`: newest first, each with its snapshot and clip URLs."""
    access = await authorize(request)
    try:
        limit = min(max(int(request.GET.get("limit", "100")), 1), API_LIMIT)
    except ValueError:
        raise BadRequest(f"limit must be a whole number from 1 to {API_LIMIT}") from None
    token = request.GET.get("token")
    query = urlencode({"token": token}) if token else ""

    def read() -> list[dict]:
        chosen = _filter_from(request, access.cameras(), store=_sees_the_store(access))
        return [event_json(event, token_query=query) for event in chosen.events()[:limit]]

    events = await sync_to_async(read)()
    return JsonResponse({"events": events, "limit": limit}, headers=NO_STORE)


def _sees_the_store(access: Access) -> bool:
    """The store's own events (no camera) are for whoever sees every camera (a token's too, unless it is
    for one camera or a group)."""
    if access.user is None or access.camera_id is not None or access.group_id is not None:
        return False
    return sees_every_camera(access.user)


async def _picture(request: HttpRequest, event_id: int, thumbnail: bool) -> FileResponse:
    access = await authorize(request)
    event = await Event.objects.filter(pk=event_id, camera__in=access.cameras()).afirst()
    if event is None or not event.snapshot:
        raise Http404("No such event.")
    try:
        handle = await asyncio.to_thread(get_store().open, event.thumbnail if thumbnail else event.snapshot)
    except FileNotFoundError:
        raise Http404("The picture was deleted (retention).") from None
    return FileResponse(handle, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


@require_GET
@refusals_as_responses
async def snapshot(request: HttpRequest, event_id: int) -> FileResponse:
    """`/events/<id>/snapshot.jpg`: the picture at the event's peak."""
    return await _picture(request, event_id, thumbnail=False)


@require_GET
@refusals_as_responses
async def thumbnail(request: HttpRequest, event_id: int) -> FileResponse:
    """`/events/<id>/thumbnail.jpg`: the same, small, for lists."""
    return await _picture(request, event_id, thumbnail=True)


@dataclass(frozen=True)
class EventRow:
    """One event as the list shows it: its data (the API's), the span a click plays, its length and score."""

    event: Event
    data: dict
    play_from: dt.datetime
    play_until: dt.datetime
    length: str
    score: str


def _row(event: Event, now: dt.datetime) -> EventRow:
    play_from, play_until = play_window(event)
    length = length_text(((event.end or now) - event.start).total_seconds())
    return EventRow(
        event,
        event_json(event),
        play_from,
        min(play_until, now),
        length,
        score_text(event.peak_score, event.label, event.best_score),
    )


@require_GET
@login_required
def events_page(request: HttpRequest) -> HttpResponse:
    """`/events/`: the event list with thumbnails, filters (camera, time, zone, label, kind) and pages; a click plays
    the event in the page (static/nvr/events.js), from its start minus the pre-roll.

    A sync view: Django answers an unknown camera (404); a bad filter is a 400 that shows the page with
    the message naming the option.
    """
    cameras = visible_cameras(request.user)
    keep = {k: v for k, v in request.GET.items() if k != "page" and v}
    now = dt.datetime.now(dt.UTC)
    context = {
        "cameras": cameras,
        "filters": keep,
        "query": urlencode(keep),
        "now": now,
        "rows": [],
        "pre_roll": settings.NVR_EVENT_PRE_ROLL,
        "labels": labels_seen(cameras),
        "kinds": [(HEALTH, "Health (every kind)"), *EventKind.choices],
    }
    try:
        chosen = _filter_from(request, cameras, store=sees_every_camera(request.user))
    except BadRequest as error:
        return render(request, "events/events.html", {**context, "error": str(error)}, status=400)
    page = Paginator(chosen.events(), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [_row(event, now) for event in page]
    return render(request, "events/events.html", {**context, "page": page, "rows": rows})
