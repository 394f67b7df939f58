"""Reads of the recordings index and store for status pages, the API, nvr_status and /metrics."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Min, Sum

from recordings.models import Segment


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

    bytes: int
    budget: int  # 0: no byte budget
    free: int | None  # free bytes on the store's filesystem (None: the store is missing)
    floor: int  # the free space retention keeps
    writable: bool


def camera_usage() -> dict[int, CameraUsage]:
    """Usage per camera id (one grouped query)."""
    rows = (
        Segment.objects.order_by()
        .values("camera_id")
        .annotate(total=Sum("bytes"), seconds=Sum("duration"), count=Count("id"), oldest=Min("start"))
    )
    return {
        row["camera_id"]: CameraUsage(int(row["total"] or 0), float(row["seconds"] or 0), row["count"], row["oldest"])
        for row in rows
    }


def store_usage() -> StoreUsage:
    store = Path(settings.RECORDINGS_DIR)
    used = int(Segment.objects.aggregate(total=Sum("bytes"))["total"] or 0)
    try:
        disk = shutil.disk_usage(store)
        free, floor = disk.free, settings.RECORDINGS_MIN_FREE.of(disk.total)
    except OSError:
        free, floor = None, 0
    writable = store.is_dir() and _writable(store)
    return StoreUsage(used, settings.RECORDINGS_MAX_SIZE, free, floor, writable)


def _writable(store: Path) -> bool:
    import os

    return os.access(store, os.W_OK | os.X_OK)
