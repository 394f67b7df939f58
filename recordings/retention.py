"""Retention: segments past their camera's age, and the oldest of all when the store is over its budget
or its filesystem under its free-space floor.

Events change the rules (events.retention): a segment an event overlaps is kept for the longer of
`retention_days` and `event_retention_days`, and goes last when space runs out (the oldest segments
no event needs go first); a `record = motion` camera keeps only such segments.

Footage of no live camera (recordings.models.Archive) has no age limit but counts toward the budget,
and goes first when space is needed: files found without a camera, then archives kept from deleted
cameras (oldest first), then the oldest live segments no event needs, then the oldest that events need.
The disk budget protects the recording going on.

With a bucket (recordings.tier), the local budget and the free-space floor count and delete only local
segments, and the bucket has a budget of its own (RECORDINGS_S3_MAX_SIZE); ages apply wherever a
segment lives. While the bucket is away, local segments wait within the local limits.

Run by the capture supervisors, one at a time (a Redis lease, see cameras.supervisor), every
RETENTION_INTERVAL. The row goes first, then the file, so the index never names a missing file
(a crash between the two leaves a file without a row, which the reconcile deletes or indexes).
Only closed segments have rows, so an open segment is never deleted. A file being served to a
reader stays readable through the reader's open handle (POSIX), so playback ends cleanly.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.utils import timezone

from recordings.models import Archive, Location, RecordMode, Segment
from recordings.store import Store, bucket_of, get_store

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


def delete_segments(rows: Sequence[Segment], store: Store, result: Pass | None = None) -> int:
    """Delete rows, then their files (so the index never names a missing file); the bytes freed."""
    result = result if result is not None else Pass()
    if not rows:
        return 0
    Segment.objects.filter(pk__in=[r.pk for r in rows]).delete()
    freed = 0
    for row in rows:
        try:
            if store.delete(row.key):
                freed += row.bytes
            else:
                result.missing_files.append(row.key)
        except OSError as error:
            log.warning("retention: could not delete %s (%s)", row.key, type(error).__name__)
    result.freed_bytes += freed
    return freed


def store_bytes() -> int:
    """Bytes of every indexed file: live cameras', archives' and those found without a camera."""
    return int(Segment.objects.aggregate(total=Sum("bytes"))["total"] or 0)


def enforce(now: dt.datetime | None = None, *, store: Store | None = None) -> Pass:
    """One pass: age per camera, then the byte budget, then the free-space floor (oldest first)."""
    from events.retention import MOTION_DECISION_SECONDS, covered_by_event, expire_events

    now = now or timezone.now()
    store = store or get_store()
    result = Pass()
    segments = Segment.objects.annotate(eventful=covered_by_event(), object_eventful=covered_by_event(objects=True))
    cameras = (
        Segment.objects.filter(camera__isnull=False)
        .order_by()
        .values_list("camera_id", "camera__retention_days", "camera__event_retention_days", "camera__record")
        .distinct()
    )
    for camera_id, days, event_days, record in list(cameras):
        mine = segments.filter(camera_id=camera_id).only("pk", "key", "bytes")
        cutoff, event_cutoff = now - dt.timedelta(days=days), now - dt.timedelta(days=max(days, event_days))
        expired = list(mine.filter(end__lt=cutoff, eventful=False)) + list(
            mine.filter(end__lt=event_cutoff, eventful=True)
        )
        delete_segments(expired, store, result)
        result.expired += len(expired)
        if record == RecordMode.MOTION:  # only the video around events is kept, once no event could claim it
            decided = now - dt.timedelta(seconds=MOTION_DECISION_SECONDS)
            quiet = list(mine.filter(end__lt=decided, eventful=False))
            delete_segments(quiet, store, result)
            result.without_motion += len(quiet)
        elif record == RecordMode.OBJECTS:  # only the video around object events (detection/)
            decided = now - dt.timedelta(seconds=MOTION_DECISION_SECONDS)
            quiet = list(mine.filter(end__lt=decided, object_eventful=False))
            delete_segments(quiet, store, result)
            result.without_motion += len(quiet)
    result.events = expire_events(now, store=store)

    # Each place keeps its own budget: the local folder's (RECORDINGS_MAX_SIZE; every segment when there is no
    # bucket) and the bucket's (RECORDINGS_S3_MAX_SIZE). Deleting from one frees nothing in the other.
    local = segments.filter(location=Location.LOCAL)
    for budget, held in (
        (settings.RECORDINGS_MAX_SIZE, local),
        (bucket_budget(store), segments.filter(location=Location.BUCKET)),
    ):
        if budget:
            _over_budget(held, budget, store, result)

    space = store.space()
    if space is not None:
        free, floor = space.free, settings.RECORDINGS_MIN_FREE.of(space.total)
        while free < floor:
            oldest = _oldest_first(local)
            if not oldest:
                break
            taken, gained = [], 0
            for row in oldest:
                if free + gained >= floor:
                    break
                taken.append(row)
                gained += row.bytes
            delete_segments(taken, store, result)
            result.low_space += len(taken)
            space = store.space()
            if space is None:
                break
            free = space.free
    Archive.objects.filter(segments__isnull=True).delete()  # archives retention emptied
    if result.deleted:
        log.info(
            "retention: deleted %d segments (%d by age, %d without motion, %d over the budget, %d for free space), "
            "%.1f MB freed",
            result.deleted, result.expired, result.without_motion, result.over_budget, result.low_space,
            result.freed_bytes / 1e6,
        )  # fmt: skip
    return result


def bucket_budget(store: Store) -> int:
    """The bucket's byte budget, when there is a bucket (0: none)."""
    return settings.RECORDINGS_S3_MAX_SIZE if bucket_of(store) is not None else 0


def _over_budget(held: QuerySet, budget: int, store: Store, result: Pass) -> None:
    """Delete the oldest of `held` (annotated with `eventful`) until its bytes are within `budget`."""
    used = int(held.aggregate(total=Sum("bytes"))["total"] or 0)
    while used > budget:
        oldest = _oldest_first(held)
        if not oldest:
            break
        taken, running = [], used
        for row in oldest:
            if running <= budget:
                break
            taken.append(row)
            running -= row.bytes
        delete_segments(taken, store, result)
        result.over_budget += len(taken)
        used = running


def _oldest_first(segments: QuerySet) -> list[Segment]:  # annotated with `eventful`
    """The next batch to delete for space: footage of no live camera (files found without one, then archives),
    then the oldest segments no event needs, then the oldest that events need."""
    found = segments.filter(archive__origin=Archive.Origin.FOUND)
    archived = segments.filter(archive__isnull=False)
    live = segments.filter(camera__isnull=False)
    for batch in (found, archived, live.filter(eventful=False), live.filter(eventful=True)):
        rows = list(batch.order_by("start").only("pk", "key", "bytes")[:BATCH])
        if rows:
            return rows
    return []
