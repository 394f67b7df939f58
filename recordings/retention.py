"""Retention: segments past their camera's age, and the oldest of all when the store is over its budget
or its filesystem under its free-space floor.

Run by the capture supervisors, one at a time (a Redis lease, see cameras.supervisor), every
RETENTION_INTERVAL. The row goes first, then the file, so the index never names a missing file
(a crash between the two leaves a file without a row, which the reconcile deletes or indexes).
Only closed segments have rows, so an open segment is never deleted. A file being served to a
reader stays readable through the reader's open handle (POSIX), so playback ends cleanly.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from recordings.models import Segment

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 30.0  # seconds between passes (a 10 s segment per camera lands in between)
BATCH = 200  # oldest segments examined per step while over a limit


@dataclass
class Pass:
    """What one retention pass did."""

    expired: int = 0
    over_budget: int = 0
    low_space: int = 0
    freed_bytes: int = 0
    missing_files: list[str] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        return self.expired + self.over_budget + self.low_space


def _delete(rows: list[Segment], store: Path, result: Pass) -> int:
    """Delete rows, then their files; the bytes freed."""
    if not rows:
        return 0
    Segment.objects.filter(pk__in=[r.pk for r in rows]).delete()
    freed = 0
    for row in rows:
        path = store / row.path
        try:
            path.unlink()
            freed += row.bytes
        except FileNotFoundError:
            result.missing_files.append(row.path)
        except OSError as error:
            log.warning("retention: could not delete %s (%s)", row.path, type(error).__name__)
    result.freed_bytes += freed
    return freed


def store_bytes() -> int:
    return int(Segment.objects.aggregate(total=Sum("bytes"))["total"] or 0)


def free_bytes(store: Path) -> tuple[int, int]:
    """(free, total) bytes of the store's filesystem."""
    usage = shutil.disk_usage(store)
    return usage.free, usage.total


def enforce(now: dt.datetime | None = None, *, store: Path | None = None) -> Pass:
    """One pass: age per camera, then the byte budget, then the free-space floor (oldest first)."""
    now = now or timezone.now()
    store = Path(store or settings.RECORDINGS_DIR)
    result = Pass()
    cameras = Segment.objects.order_by().values_list("camera_id", "camera__retention_days").distinct()
    for camera_id, days in list(cameras):
        cutoff = now - dt.timedelta(days=days)
        expired = list(Segment.objects.filter(camera_id=camera_id, end__lt=cutoff).only("pk", "path", "bytes"))
        _delete(expired, store, result)
        result.expired += len(expired)

    budget = settings.RECORDINGS_MAX_SIZE
    if budget:
        used = store_bytes()
        while used > budget:
            oldest = list(Segment.objects.order_by("start").only("pk", "path", "bytes")[:BATCH])
            if not oldest:
                break
            taken, running = [], used
            for row in oldest:
                if running <= budget:
                    break
                taken.append(row)
                running -= row.bytes
            _delete(taken, store, result)
            result.over_budget += len(taken)
            used = running

    if store.exists():
        free, total = free_bytes(store)
        floor = settings.RECORDINGS_MIN_FREE.of(total)
        while free < floor:
            oldest = list(Segment.objects.order_by("start").only("pk", "path", "bytes")[:BATCH])
            if not oldest:
                break
            taken, gained = [], 0
            for row in oldest:
                if free + gained >= floor:
                    break
                taken.append(row)
                gained += row.bytes
            _delete(taken, store, result)
            result.low_space += len(taken)
            free, total = free_bytes(store)
    if result.deleted:
        log.info(
            "retention: deleted %d segments (%d by age, %d over the budget, %d for free space), %.1f MB freed",
            result.deleted, result.expired, result.over_budget, result.low_space, result.freed_bytes / 1e6,
        )  # fmt: skip
    return result
