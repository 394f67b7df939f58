"""Rebuild the index from the footage itself, after a database loss (`manage.py recordings rebuild`).

Every segment carries what its row needs: its key names the camera (uid) and the start; the file's own
MP4 boxes give its duration, codec and size (read from the local file); an object in the bucket carries
them as metadata written when it moved (recordings.tier.metadata_of), so the bucket is indexed by a HEAD
per object, never a download (an object without them is read by range, like a local file). Every event
keeps its JSON beside its snapshot (events.watcher), on the disk or in the bucket, read back into its row
with its id, so its pictures' keys stay right.

1. the local folder: recordings.reconcile (staged files salvaged, rows without files removed, files
   without rows indexed under their camera or an archive);
2. the bucket: every object without a row is indexed as living in the bucket;
3. events: every record whose event has no row, of a camera that exists, is restored.
Idempotent: what has a row is left as it is, so it can run again, or on a database that lost only part.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
from dataclasses import dataclass

from django.core.management.color import no_style
from django.db import IntegrityError, connection

from recordings.models import Location, Segment
from recordings.reconcile import Repairs, _Owners, probe, reconcile
from recordings.store import PICTURES, Store, bucket_of, get_store, owner_of, start_of

log = logging.getLogger(__name__)


@dataclass
class Rebuilt:
    local: Repairs
    bucket_indexed: int = 0
    bucket_unreadable: int = 0
    events_restored: int = 0
    events_without_camera: int = 0

    def __str__(self) -> str:
        return (
            f"local: {self.local}; bucket: {self.bucket_indexed} segments indexed, {self.bucket_unreadable} "
            f"unreadable; events: {self.events_restored} restored, {self.events_without_camera} of no camera left out"
        )


def _facts(store: Store, key: str, metadata: dict[str, str]) -> tuple[float, str, int, int, str] | None:
    """(duration, codec, width, height, sha256) of an object: its metadata, else its bytes read by range."""
    try:
        return (
            float(metadata["nvr-duration"]),
            metadata["nvr-codec"],
            int(metadata["nvr-width"]),
            int(metadata["nvr-height"]),
            metadata.get("nvr-sha256", ""),
        )
    except (KeyError, ValueError):
        found = probe(store, key)
        return (*found, "") if found is not None else None


def _bucket(store: Store, result: Rebuilt) -> None:
    bucket = bucket_of(store)
    if bucket is None:
        return
    known = set(Segment.objects.values_list("key", flat=True))
    owners = _Owners()
    for found in bucket.walk():
        if not found.key.endswith(".mp4") or found.key.startswith(f"{PICTURES}/") or found.key in known:
            continue
        start, facts = start_of(found.key), _facts(store, found.key, bucket.metadata(found.key))
        if start is None or facts is None:
            log.warning("rebuild: %s in the bucket is not a readable segment; left alone", found.key)
            result.bucket_unreadable += 1
            continue
        duration, codec, width, height, sha256 = facts
        try:
            Segment.objects.create(
                **owners.of(owner_of(found.key)),
                start=start,
                end=start + dt.timedelta(seconds=duration),
                duration=round(duration, 3),
                bytes=found.bytes,
                codec=codec,
                width=width,
                height=height,
                key=found.key,
                sha256=sha256,
                location=Location.BUCKET,
            )
        except IntegrityError:
            continue
        result.bucket_indexed += 1


def _events(store: Store, result: Rebuilt) -> None:
    from django.apps import apps

    from events.models import Event

    cameras = {str(uid): pk for uid, pk in apps.get_model("cameras", "Camera").objects.values_list("uid", "pk")}
    known = set(Event.objects.values_list("pk", flat=True))
    restored = []
    bucket = bucket_of(store)
    keys = itertools.chain((f.key for f in store.walk()), (o.key for o in bucket.walk()) if bucket is not None else ())
    for key in keys:
        if not (key.startswith(f"{PICTURES}/") and key.endswith(".json")):
            continue
        try:
            with store.open(key) as file:
                record = json.loads(file.read())
            event_id, camera = int(record["id"]), cameras.get(str(record["camera_uid"]))
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("rebuild: %s is not an event record; left alone", key)
            continue
        if event_id in known:
            continue
        known.add(event_id)
        if camera is None:
            result.events_without_camera += 1
            continue
        restored.append(
            Event(
                pk=event_id,
                camera_id=camera,
                start=dt.datetime.fromisoformat(record["start"]),
                end=dt.datetime.fromisoformat(record["end"]) if record.get("end") else None,
                peak_score=float(record.get("peak_score", 0.0)),
                zones=list(record.get("zones", [])),
                label=str(record.get("label", "")),  # an object event's (detection), when its record names it
                best_score=float(record.get("best_score", 0.0)),
                kind=str(record.get("kind") or "motion"),
                detail=str(record.get("detail", "")),
                snapshot=str(record.get("snapshot", "")),
            )
        )
    if restored:
        Event.objects.bulk_create(restored, ignore_conflicts=True)
        with connection.cursor() as cursor:  # rows were given their old ids: new ones must come after
            for statement in connection.ops.sequence_reset_sql(no_style(), [Event]):
                cursor.execute(statement)
    result.events_restored = len(restored)


def rebuild(store: Store | None = None) -> Rebuilt:
    """Restore the index (segments, local and in the bucket) and the events from the footage."""
    store = store or get_store()
    result = Rebuilt(local=reconcile(store))
    _bucket(store, result)
    _events(store, result)
    log.info("rebuild: %s", result)
    return result
