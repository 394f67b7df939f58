"""Retention: segments past their camera's age, and the oldest of all when the store is over its budget
or its filesystem under its free-space floor.

Events change the rules (events.retention): a segment an event overlaps is kept for the longer of
`retention_days` and `event_retention_days`, and goes last when space runs out (the oldest segments
no event needs go first); a `record = motion` camera keeps only such segments.

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
from collections.abc import Sequence
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
    without_motion: int = 0  # segments of record = motion cameras that no event overlaps
    events: int = 0  # events past their event retention (with their pictures)
    over_budget: int = 0
    low_space: int = 0
    freed_bytes: int = 0
    missing_files: list[str] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        return self.expired + self.without_motion + self.over_budget + self.low_space


def _delete(rows: Sequence[Segment], store: Path, result: Pass) -> int:
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
    from events.retention import MOTION_DECISION_SECONDS, covered_by_event, expire_events

    now = now or timezone.now()
    store = Path(store or settings.RECORDINGS_DIR)
    result = Pass()
    segments = Segment.objects.annotate(eventful=covered_by_event())
    cameras = (
        Segment.objects.order_by()
        .values_list("camera_id", "camera__retention_days", "camera__event_retention_days", "camera__record")
        .distinct()
    )
    for camera_id, days, event_days, record in list(cameras):
        mine = segments.filter(camera_id=camera_id).only("pk", "path", "bytes")
        cutoff, event_cutoff = now - dt.timedelta(days=days), now - dt.timedelta(days=max(days, event_days))
        expired = list(mine.filter(end__lt=cutoff, eventful=False)) + list(
            mine.filter(end__lt=event_cutoff, eventful=True)
        )
        _delete(expired, store, result)
        result.expired += len(expired)
        if record == "motion":  # only the video around events is kept, once an event could no longer claim it
            decided = now - dt.timedelta(seconds=MOTION_DECISION_SECONDS)
            quiet = list(mine.filter(end__lt=decided, eventful=False))
            _delete(quiet, store, result)
            result.without_motion += len(quiet)
    result.events = expire_events(now, store=store)

    budget = settings.RECORDINGS_MAX_SIZE
    if budget:
        used = store_bytes()
        while used > budget:
            oldest = _oldest_first(segments)
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
            oldest = _oldest_first(segments)
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
            "retention: deleted %d segments (%d by age, %d without motion, %d over the budget, %d for free space), "
            "%.1f MB freed",
            result.deleted, result.expired, result.without_motion, result.over_budget, result.low_space,
            result.freed_bytes / 1e6,
        )  # fmt: skip
    return result


def _oldest_first(segments) -> list[Segment]:  # type: ignore[no-untyped-def]
    """The next batch to delete for space: the oldest segments no event needs, then the oldest event ones."""
    batch = list(segments.filter(eventful=False).order_by("start").only("pk", "path", "bytes")[:BATCH])
    return batch or list(segments.filter(eventful=True).order_by("start").only("pk", "path", "bytes")[:BATCH])
