"""Reading the event index for pages and the API: one place for filters, paging and URLs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q, QuerySet
from django.urls import reverse

from cameras.models import Camera
from events.models import Event, EventKind

PAGE_SIZE = 50
MOTION_LABEL = "motion"  # `label=motion`: the motion events, which have no object label
HEALTH = "health"  # the `kind` filter for every health kind at once


@dataclass(frozen=True)
class EventFilter:
    cameras: QuerySet[Camera]  # already narrowed to what the caller may see
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    zone: str = ""
    label: str = ""  # object events of this label only (detection/); "motion": motion events only
    kind: str = ""  # an EventKind value, or "health" for every health kind; "": every kind
    store: bool = False  # also the store's own events (no camera): for those who see every camera

    def events(self) -> QuerySet[Event]:
        mine = Q(camera__in=self.cameras) | Q(camera__isnull=True) if self.store else Q(camera__in=self.cameras)
        events = Event.objects.filter(mine).select_related("camera")
        if self.kind == HEALTH:
            events = events.exclude(kind=EventKind.MOTION)
        elif self.kind:
            events = events.filter(kind=self.kind)
        if self.since is not None:  # events that touch the span: ended after since (or still open)
            events = events.exclude(end__lt=self.since)
        if self.until is not None:
            events = events.filter(start__lt=self.until)
        if self.zone:  # the JSON text holds '"name"' (zone names have no quotes); works on SQLite and PostgreSQL
            events = events.filter(zones__icontains=f'"{self.zone}"')
        if self.label == MOTION_LABEL:  # motion events: no object label, and not a health problem
            events = events.filter(label="", kind=EventKind.MOTION)
        elif self.label:
            events = events.filter(label=self.label)
        return events


def labels_seen(cameras: QuerySet[Camera]) -> list[str]:
    """The object labels of these cameras' events, and "motion": the label filter's choices (only what the
    caller may see: a label of another camera's events is never named)."""
    found = Event.objects.filter(camera__in=cameras).exclude(label="").order_by().values_list("label", flat=True)
    return [*sorted(set(found)), MOTION_LABEL]


def play_window(event: Event) -> tuple[dt.datetime, dt.datetime]:
    """The event with the pre- and post-roll that playback and export add (not part of the event itself)."""
    end = event.end or event.start
    return (
        event.start - dt.timedelta(seconds=settings.NVR_EVENT_PRE_ROLL),
        end + dt.timedelta(seconds=settings.NVR_EVENT_POST_ROLL),
    )


def length_text(seconds: float) -> str:
    """An event's length as people read it: "8 s", "1 min 5 s", "2 h 3 min" (never "0 minutes")."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def score_text(score: float, label: str = "", best_score: float = 0.0) -> str:
    """How much of the picture moved at the event's peak, in whole percent ("under 1 %" for less); for an
    object event, how sure the detector was at best."""
    if label:
        return f"{label}, {round(best_score * 100)} % sure"
    percent = round(score * 100)
    return f"{percent} % of the picture moved" if percent >= 1 else "under 1 % of the picture moved"


def event_json(event: Event, *, token_query: str = "") -> dict:
    """An event as the API gives it, with the URLs of its snapshot, thumbnail, clip and playback.

    A health event of the store (no camera) has no camera, clip or playback (None); one without a
    picture has no snapshot (None)."""
    slug = event.camera.slug if event.camera is not None else None
    start, end = play_window(event)
    suffix = f"?{token_query}" if token_query else ""
    clip = {"start": start.astimezone(dt.UTC).isoformat(), "end": end.astimezone(dt.UTC).isoformat()}
    if token_query:
        clip["token"] = dict(part.split("=", 1) for part in token_query.split("&"))["token"]
    pictures = event.kind == EventKind.MOTION or bool(event.snapshot)
    return {
        "id": event.pk,
        "camera": slug,
        "kind": event.kind,
        "detail": event.detail,
        "start": event.start.astimezone(dt.UTC).isoformat(),
        "end": event.end.astimezone(dt.UTC).isoformat() if event.end else None,
        "peak_score": round(event.peak_score, 4),
        "zones": event.zones,
        "labels": event.labels,
        "best_score": round(event.best_score, 4),
        "snapshot_url": reverse("event-snapshot", args=[event.pk]) + suffix if pictures else None,
        "thumbnail_url": reverse("event-thumbnail", args=[event.pk]) + suffix if pictures else None,
        "clip_url": reverse("camera-clip", args=[slug]) + "?" + urlencode(clip) if slug else None,
        "play_url": reverse("camera-page", args=[slug]) + "?" + urlencode({"t": int(start.timestamp())})
        if slug
        else None,
    }
