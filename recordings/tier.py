"""The mover: segments older than RECORDINGS_TIER_AFTER go from the local folder to the bucket, verified first.

For each segment due (oldest first), one host at a time (a claim in Redis per segment, so several
worker hosts sharing a bucket never upload the same one, and a dead host's claim expires):

1. upload the local file, with the metadata a rebuild needs (camera, start, duration, codec, size);
2. verify the object: its size and the SHA-256 the bucket computed, against the size and SHA-256 the
   recorder computed when it wrote the file (Segment.sha256); a mismatch deletes the object and keeps
   the local file (it is retried at the next pass, and reported);
3. mark the row `Location.BUCKET`, and only then delete the local file.

Event pictures and their JSON records older than the threshold follow (they have no row to mark: what is
left in the local pictures folder is what is left to move). Reads find a key wherever it lives
(recordings.store.TieredStore).

A crash between 3 and the delete leaves a local copy the reconcile removes; one before 3 leaves an
object the next pass overwrites. A bucket outage stops only this: recording goes on into the local
folder, whose budget and free-space floor still hold (recordings.retention), and `backlog()` says how
far behind the upload is (/healthz). The endpoint passes the outbound policy before every pass.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.db.models import Count, Min, QuerySet, Sum
from django.utils import timezone

from recordings.bucket import Bucket, BucketError
from recordings.models import Location, Segment
from recordings.store import PICTURES, LocalStore, Store, TieredStore, get_store, owner_of
from recordings.writer import file_sha256, sha256_of

log = logging.getLogger(__name__)

MOVE_INTERVAL = 30.0  # seconds between passes when nothing is due (segments come due one per 10 s per camera)
PASS_SECONDS = 60.0  # a pass stops after this long; the next one starts at once while more is due
CLAIM_SECONDS = 300.0  # one segment's upload claim (a 5 MB segment takes well under a second on a LAN)
CLAIM_PREFIX = ":upload:"  # claim names no camera slug can take (slugs have no colon)
BEHIND_LIMIT = 3600.0  # seconds the oldest due segment may wait before /healthz calls the upload behind


@dataclass
class Moved:
    """What one pass did."""

    moved: int = 0
    bytes: int = 0
    failed_verification: list[str] = field(default_factory=list)
    claimed_elsewhere: int = 0
    pictures: int = 0  # event pictures and records moved
    error: str = ""  # why the pass stopped early (the bucket unreachable, the endpoint refused)


@dataclass(frozen=True)
class Backlog:
    """Segments due for the bucket and still local: how many, their bytes, and how long the oldest waited."""

    segments: int
    bytes: int
    seconds_behind: float

    @property
    def behind(self) -> bool:
        return self.seconds_behind > BEHIND_LIMIT


def due(now: dt.datetime) -> QuerySet[Segment]:
    """Local segments that ended more than RECORDINGS_TIER_AFTER ago, oldest first."""
    cutoff = now - dt.timedelta(seconds=settings.RECORDINGS_TIER_AFTER)
    return Segment.objects.filter(location=Location.LOCAL, end__lt=cutoff).order_by("start")


def backlog(now: dt.datetime | None = None) -> Backlog:
    """How far behind the upload is (zero when nothing is due)."""
    now = now or timezone.now()
    found = due(now).aggregate(count=Count("pk"), total=Sum("bytes"), oldest=Min("end"))
    count = int(found["count"] or 0)
    oldest = found["oldest"]
    waited = (now - dt.timedelta(seconds=settings.RECORDINGS_TIER_AFTER) - oldest).total_seconds() if oldest else 0.0
    return Backlog(segments=count, bytes=int(found["total"] or 0), seconds_behind=max(0.0, waited))


def metadata_of(row: Segment) -> dict[str, str]:
    """What a rebuild needs to index the object without reading it (S3 user metadata, ASCII only)."""
    return {
        "nvr-camera": owner_of(row.key),
        "nvr-start": row.start.astimezone(dt.UTC).isoformat(),
        "nvr-duration": f"{row.duration:.3f}",
        "nvr-codec": row.codec,
        "nvr-width": str(row.width),
        "nvr-height": str(row.height),
        "nvr-sha256": row.sha256,
    }


def move_one(row: Segment, local: LocalStore, bucket: Bucket) -> str:
    """Upload, verify, mark, delete locally; "" when moved, else why the local file stays.

    Raises BucketError when the bucket cannot be reached (the pass stops) and FileNotFoundError when
    the local file is not on this host."""
    size = local.size(row.key)
    if not row.sha256:  # a segment from before checksums: the file as it is now is all there is to trust
        row.sha256 = file_sha256(local.root / row.key)
        Segment.objects.filter(pk=row.pk).update(sha256=row.sha256)
    with local.open(row.key) as file:
        bucket.upload(row.key, file, metadata=metadata_of(row))
    problem = bucket.verify(row.key, size=row.bytes, sha256=row.sha256)
    if not problem and size != row.bytes:
        problem = f"the local file has {size} bytes, the index {row.bytes}"
    if problem:
        bucket.delete(row.key)
        log.error("tier: %s failed verification in the bucket (%s); the local file is kept", row.key, problem)
        return problem
    if not Segment.objects.filter(pk=row.pk, location=Location.LOCAL).update(location=Location.BUCKET):
        bucket.delete(row.key)  # retention deleted the row meanwhile: neither copy is wanted
    local.delete(row.key)
    return ""


class Claims:
    """Per-segment upload claims in Redis (the frame bus's leases), so hosts sharing a bucket never race."""

    def __init__(self, bus, owner: str) -> None:  # type: ignore[no-untyped-def]
        self.bus, self.owner = bus, owner

    def take(self, key: str) -> bool:
        return bool(self.bus.acquire_lease(CLAIM_PREFIX + key, self.owner, CLAIM_SECONDS))

    def release(self, key: str) -> None:
        self.bus.release_lease(CLAIM_PREFIX + key, self.owner)


def move_due(
    *, store: Store | None = None, claims: Claims | None = None, now: dt.datetime | None = None,
    seconds: float = PASS_SECONDS, stop: threading.Event | None = None,
) -> Moved:  # fmt: skip
    """One pass: move what is due, oldest first, for at most `seconds` (or until `stop` is set)."""
    store = store or get_store()
    result = Moved()
    if not isinstance(store, TieredStore):
        return result
    try:
        store.bucket.check_endpoint()
    except OSError as error:  # Refused (the policy) or a name that does not resolve
        result.error = f"the bucket's endpoint is refused: {error}" if str(error) else type(error).__name__
        return result
    stop_at = time.monotonic() + seconds
    last_pk = 0
    while time.monotonic() < stop_at:
        batch = list(due(now or timezone.now()).filter(pk__gt=last_pk).order_by("pk")[:50])
        if not batch:
            break
        for row in batch:
            last_pk = row.pk
            if time.monotonic() >= stop_at or (stop is not None and stop.is_set()):
                stop_at = 0.0  # ends the pass (pictures wait too)
                break
            if claims is not None and not claims.take(row.key):
                result.claimed_elsewhere += 1
                continue
            try:
                problem = move_one(row, store.local, store.bucket)
            except FileNotFoundError:
                continue  # not on this host's disk (or retention took it): nothing to move here
            except BucketError as error:
                result.error = str(error)
                return result
            finally:
                if claims is not None:
                    claims.release(row.key)
            if problem:
                result.failed_verification.append(row.key)
            else:
                result.moved += 1
                result.bytes += row.bytes
    if not result.error and time.monotonic() < stop_at:
        _move_pictures(store, claims, result, stop_at)
    if result.moved or result.failed_verification:
        log.info(
            "tier: %d segments (%.1f MB) moved to the bucket, %d failed verification",
            result.moved, result.bytes / 1e6, len(result.failed_verification),
        )  # fmt: skip
    return result


def _move_pictures(store: TieredStore, claims: Claims | None, result: Moved, stop_at: float) -> None:
    """Event pictures and records (snapshot, thumbnail, JSON) older than RECORDINGS_TIER_AFTER go too.

    They are few and small, have no row of their own to mark, and are never rewritten once their event
    ended: what is still in the local pictures folder is what is left to move, and each is verified
    against the SHA-256 read just before its upload, then deleted locally."""
    cutoff = time.time() - settings.RECORDINGS_TIER_AFTER
    for found in store.local.walk_under(PICTURES):
        if found.modified > cutoff:
            continue
        if time.monotonic() >= stop_at:
            return
        if claims is not None and not claims.take(found.key):
            result.claimed_elsewhere += 1
            continue
        try:
            with store.local.open(found.key) as file:
                digest = sha256_of(file)
                file.seek(0)
                store.bucket.upload(found.key, file)
            problem = store.bucket.verify(found.key, size=found.bytes, sha256=digest)
            if problem:
                store.bucket.delete(found.key)
                log.error("tier: %s failed verification in the bucket (%s); kept locally", found.key, problem)
                result.failed_verification.append(found.key)
                continue
            store.local.delete(found.key)
            result.pictures += 1
        except FileNotFoundError:
            continue
        except BucketError as error:
            result.error = str(error)
            return
        finally:
            if claims is not None:
                claims.release(found.key)


class Mover(threading.Thread):
    """Runs move_due() until stop(), on every worker host (claims keep them apart); backs off while the bucket is away."""

    def __init__(self, bus, owner: str, *, interval: float | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(name="recordings-mover", daemon=True)
        self.claims, self.interval = Claims(bus, owner), MOVE_INTERVAL if interval is None else interval
        self.stop_event = threading.Event()
        self.last: Moved | None = None

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        while not self.stop_event.is_set():
            wait = self.interval
            try:
                close_old_connections()
                self.last = move_due(claims=self.claims, stop=self.stop_event)
                if self.last.error:
                    log.warning("tier: upload paused (%s); local segments wait", self.last.error)
                elif self.last.moved:
                    wait = 0.0  # more may be due: go on at once
            except DatabaseError as error:
                log.warning("tier: database unavailable (%s); retrying", type(error).__name__)
            except Exception:  # the mover must outlive a bad pass
                log.exception("tier: pass failed; retrying")
            self.stop_event.wait(wait)
