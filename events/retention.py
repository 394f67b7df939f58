"""What events keep: their own rows and pictures for `event_retention_days`, and the recordings they overlap.

recordings.retention asks this module which segments an event protects (`covered_by_event`): a
segment overlapping an event, padded by the pre- and post-roll, is kept for the camera's
`event_retention_days` (when longer than `retention_days`), is deleted last when the store is
over its budget, and is the only video a `record = motion` camera keeps (`record = objects`: only object events' video).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Protocol

from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from events.models import Event, EventKind

log = logging.getLogger(__name__)

MOTION_DECISION_SECONDS = 60.0  # a motion-mode segment waits this long past its end for an event to claim it
STORE_EVENT_DAYS = (
    30  # the store's own health events (no camera, so no camera's event_retention_days) are kept this long
)
KEEPS_FOOTAGE = (EventKind.MOTION, EventKind.TAMPER)  # the kinds whose video is worth keeping (an outage has none)


def covered_by_event(*, objects: bool = False) -> Exists:
    """An Exists() over Segment rows: true when one of the camera's events (with `objects`: object events
    only, the video a `record = objects` camera keeps) overlaps the segment (padded)."""
    pre = dt.timedelta(seconds=settings.NVR_EVENT_PRE_ROLL)
    post = dt.timedelta(seconds=settings.NVR_EVENT_POST_ROLL)
    events = Event.objects.exclude(label="") if objects else Event.objects.all()
    return Exists(
        events.filter(camera_id=OuterRef("camera_id"), start__lt=OuterRef("end") + pre)
        .filter(Q(end__isnull=True) | Q(end__gt=OuterRef("start") - post))
        .filter(kind__in=KEEPS_FOOTAGE)
    )


class PictureDeleter(Protocol):
    """What deleting pictures needs of the recordings store (recordings.store.Store has it)."""

    def delete(self, key: str) -> bool: ...


def delete_pictures(events: Iterable[Event], store: PictureDeleter) -> None:
    """Delete the snapshot, thumbnail and JSON record of each event (their rows are deleted by the caller, first)."""
    for event in events:
        for key in (event.snapshot, event.thumbnail, event.record):
            if key:
                store.delete(key)


def expire_events(now: dt.datetime, *, store: PictureDeleter) -> int:
    """Delete events past their camera's event_retention_days, and their pictures; how many."""
    deleted = 0
    cameras = Event.objects.order_by().values_list("camera_id", "camera__event_retention_days").distinct()
    for camera_id, days in list(cameras):
        cutoff = now - dt.timedelta(days=STORE_EVENT_DAYS if camera_id is None else days)
        mine = (
            Event.objects.filter(camera__isnull=True)
            if camera_id is None
            else Event.objects.filter(camera_id=camera_id)
        )
        expired = list(mine.filter(end__lt=cutoff).only("pk", "snapshot"))
        if not expired:
            continue
        Event.objects.filter(pk__in=[event.pk for event in expired]).delete()
        delete_pictures(expired, store)
        deleted += len(expired)
    if deleted:
        log.info("retention: deleted %d events past their cameras' event retention", deleted)
    return deleted
