"""What becomes of a camera's footage when the camera is deleted: deleted with it, or kept as an archive.

The admin's delete confirmation says how much there is (`footage_of`) and asks; `delete_footage`
and `archive_footage` do what was chosen, before the camera row goes. A camera deleted any other way
(the shell, a script) keeps its footage as an archive: nothing is lost by accident, and nothing is ever
handed to a later camera with the same slug (footage is filed under the camera's uid, recordings.store).

An archive belongs to no live camera; only superusers see it (review/admin.py), and it counts toward
the byte budget like any footage. A camera's events (rows and pictures) are deleted with it either way.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Min, Sum

from recordings.models import Archive, Segment
from recordings.retention import delete_segments
from recordings.selectors import CameraUsage
from recordings.store import Store, get_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Footage(CameraUsage):
    """What some cameras have stored (bytes, hours, oldest: CameraUsage), until when, and their events."""

    newest: dt.datetime | None = None
    events: int = 0

    @property
    def length(self) -> str:
        """How much video, in the unit a person reads it in."""
        if self.seconds < 120:
            return f"{round(self.seconds)} seconds"
        if self.seconds < 7200:
            return f"{round(self.seconds / 60)} minutes"
        return f"{self.hours:g} hours"

    def __str__(self) -> str:
        if not self.segments:
            return "no recordings"
        return f"{self.segments} segments, {self.bytes / 1e9:.2f} GB, {self.length}"


def footage_of(camera_ids: Iterable[int]) -> Footage:
    """The footage and events of these cameras (two aggregate queries)."""
    from events.models import Event

    ids = list(camera_ids)
    row = Segment.objects.filter(camera_id__in=ids).aggregate(
        count=Count("id"), total=Sum("bytes"), seconds=Sum("duration"), first=Min("start"), last=Max("end")
    )
    return Footage(
        segments=row["count"],
        bytes=int(row["total"] or 0),
        seconds=float(row["seconds"] or 0),
        oldest=row["first"],
        newest=row["last"],
        events=Event.objects.filter(camera_id__in=ids).count(),
    )


def delete_footage(camera_id: int, *, store: Store | None = None) -> int:
    """Delete a camera's segments and event pictures (rows first, then files); the bytes freed."""
    from events.models import Event
    from events.retention import delete_pictures

    store = store or get_store()
    freed = 0
    while rows := list(Segment.objects.filter(camera_id=camera_id).only("pk", "key", "bytes")[:1000]):
        freed += delete_segments(rows, store)
    events = list(Event.objects.filter(camera_id=camera_id).only("pk", "snapshot"))
    Event.objects.filter(pk__in=[event.pk for event in events]).delete()
    delete_pictures(events, store)
    if freed:
        log.info("camera %s deleted with its footage: %.1f MB freed", camera_id, freed / 1e6)
    return freed


def archive_footage(camera: Any, *, store: Store | None = None) -> Archive | None:
    """Keep a camera's segments as an archive of no live camera (its events and pictures are deleted)."""
    from events.models import Event
    from events.retention import delete_pictures

    store = store or get_store()
    archive = None
    with transaction.atomic():
        if Segment.objects.filter(camera_id=camera.pk).exists():
            archive, _ = Archive.objects.get_or_create(
                owner=str(camera.uid),
                defaults={"name": camera.name, "origin": Archive.Origin.DELETED_CAMERA},
            )
            moved = Segment.objects.filter(camera_id=camera.pk).update(camera=None, archive=archive)
            log.info("camera %s deleted; its %d segments are kept as archive %s", camera.slug, moved, archive.pk)
        events = list(Event.objects.filter(camera_id=camera.pk).only("pk", "snapshot"))
        Event.objects.filter(pk__in=[event.pk for event in events]).delete()
    delete_pictures(events, store)
    return archive


def delete_archive(archive: Archive, *, store: Store | None = None) -> int:
    """Delete an archive: its rows, then its files, then the archive itself; the bytes freed."""
    store = store or get_store()
    freed = 0
    while rows := list(archive.segments.only("pk", "key", "bytes")[:1000]):
        freed += delete_segments(rows, store)
    archive.delete()
    return freed


def camera_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """pre_delete of a camera: whatever footage is still attached is kept as an archive (never lost, never reused)."""
    archive_footage(instance)
