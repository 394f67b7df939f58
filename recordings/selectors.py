"""Reads of the recordings index and store for status pages, the API, nvr_status and /metrics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Min, Q, Sum

from recordings.models import Archive, Segment
from recordings.store import get_store


@dataclass(frozen=True)
class CameraUsage:
    """What one camera has stored."""

    bytes: int = 0
    seconds: float = 0.0
    segments: int = 0
    oldest: dt.datetime | None = None

    @property
    def hours(self) -> float:
        return round(self.seconds / 3600, 2)


@dataclass(frozen=True)
class StoreUsage:
    """The whole store against its limits."""

    bytes: int  # everything indexed, archives and orphans included (what the budget counts)
    budget: int  # 0: no byte budget
    free: int | None  # free bytes on the store's filesystem (None: the store is missing)
    floor: int  # the free space retention keeps
    writable: bool
    archived_bytes: int = 0  # kept from deleted cameras (only superusers see them)
    orphaned_bytes: int = 0  # found in the store without a camera (retention deletes these first)
    orphaned_files: int = 0


def camera_usage() -> dict[int, CameraUsage]:
    """Usage per camera id (one grouped query)."""
    rows = (
        Segment.objects.filter(camera__isnull=False)
        .order_by()
        .values("camera_id")
        .annotate(total=Sum("bytes"), seconds=Sum("duration"), count=Count("id"), oldest=Min("start"))
    )
    return {
        row["camera_id"]: CameraUsage(int(row["total"] or 0), float(row["seconds"] or 0), row["count"], row["oldest"])
        for row in rows
    }


def store_usage() -> StoreUsage:
    store = get_store()
    found = Q(archive__origin=Archive.Origin.FOUND)
    totals = Segment.objects.aggregate(
        used=Sum("bytes"),
        archived=Sum("bytes", filter=Q(archive__origin=Archive.Origin.DELETED_CAMERA)),
        orphaned=Sum("bytes", filter=found),
        orphaned_files=Count("id", filter=found),
    )
    space = store.space()
    free, floor = (space.free, settings.RECORDINGS_MIN_FREE.of(space.total)) if space else (None, 0)
    return StoreUsage(
        int(totals["used"] or 0),
        settings.RECORDINGS_MAX_SIZE,
        free,
        floor,
        store.writable(),
        archived_bytes=int(totals["archived"] or 0),
        orphaned_bytes=int(totals["orphaned"] or 0),
        orphaned_files=totals["orphaned_files"],
    )
