"""A capture output that watches its camera for motion: detections, events, snapshots; and for tampering.

It asks its capture loop for DETECTIONS_PER_SECOND decoded frames whatever the camera's frame rate
(cameras.outputs.CaptureOutput, matched by shape: events sits below cameras and never imports it).
Its pictures (the snapshot at the peak and a thumbnail) are JPEGs encoded here, at most once a
second, and written through the recordings store it is handed (`PictureStore`). It never raises
into the capture loop: a database or disk problem is logged and the next detection goes on.
Notifications go to a bounded queue (events.notify) that capture never waits on. With object detection
on, the regions where motion is go to the detector as crops (events.feed), at a bounded rate, never waited on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
from django.db import DatabaseError, close_old_connections

from events.detector import DETECTIONS_PER_SECOND, MotionDetector
from events.feed import DetectorFeed
from events.health import Problems
from events.kinds import EventKind
from events.tamper import TamperDetector, Verdict
from events.tracker import Change, EventTracker, OpenEvent
from imaging import encode_jpeg, fit_width

log = logging.getLogger(__name__)

THUMBNAIL_WIDTH = 240
THUMBNAIL_QUALITY = 75
SNAPSHOT_EVERY = 1.0  # seconds: a new peak replaces the snapshot at most this often

Notify = Callable[[str, dict], None]


class PictureStore(Protocol):
    """What the watcher needs of the recordings store (recordings.store.Store has it)."""

    def picture_keys(self, camera_uid: str, event_id: int, at: dt.datetime) -> tuple[str, str]: ...

    def put(self, key: str, data: bytes) -> None: ...


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


class MotionWatcher:
    """One camera's motion detection and events, fed by its capture loop (one capture thread at a time)."""

    pictures_from_sub_stream = True  # a camera's low-resolution stream is enough, and cheaper (cameras.outputs)

    def __init__(
        self, config: Any, pictures: PictureStore, notify: Notify | None = None, feed: DetectorFeed | None = None
    ) -> None:
        self.config = config
        self.detector = MotionDetector(
            sensitivity=config.motion_sensitivity,
            min_size=config.motion_min_size / 100,
            masks=json.loads(config.motion_masks_json),
            zones=json.loads(config.motion_zones_json),
        )
        self.tracker = EventTracker(gap_seconds=config.event_gap_seconds)
        self.notify = notify or (lambda kind, payload: None)
        self.pictures = pictures
        self.feed = feed  # None: object detection is off (no model, or no objects for this camera)
        self.tamper = TamperDetector()  # on the detector's small grey pictures (events.tamper)
        self.problems = Problems(self.notify, pictures)
        self._row_id: int | None = None
        self._keys: tuple[str, str] | None = None  # (snapshot, thumbnail) of the open event
        self._snapshot_at = 0.0
        self._last_ts = 0.0

    @property
    def moving(self) -> bool:
        return self.tracker.current is not None

    # The capture output -------------------------------------------------------------------
    def frame_interval(self) -> float | None:
        return 1.0 / DETECTIONS_PER_SECOND

    def packet(self, packet: Any) -> None:
        """Motion works on pictures only."""

    def frame(self, image: np.ndarray, ts: float) -> None:
        """Detect on this frame (the loop hands over DETECTIONS_PER_SECOND of them)."""
        self._last_ts = ts
        detection = self.detector.detect(image)
        if self.feed is not None and detection.boxes:
            self.feed.offer(image, ts, detection.boxes)
        if self.detector.grey is not None:
            self._check_tampering(self.detector.grey, image, ts)
        change = self.tracker.update(ts, detection.score, detection.zones)
        if change is None:
            return
        kind, event = change
        try:
            if kind is Change.START:
                self._started(event, image)
            elif kind is Change.PEAK and ts - self._snapshot_at >= SNAPSHOT_EVERY:
                self._save_pictures(image, ts)
            elif kind is Change.END:
                self._ended(event)
        except DatabaseError as error:  # the database is away: one line, capture goes on
            log.warning("camera %s: event %s not saved (database: %s)", self.config.slug, kind, type(error).__name__)
        except Exception:  # never into the capture loop
            log.warning("camera %s: event %s not saved", self.config.slug, kind, exc_info=True)

    def disconnected(self, reason: str) -> None:
        """The capture loop stops or loses the camera: an open event ends at its last motion."""
        event = self.tracker.finish()
        if event is not None:
            try:
                self._ended(event)
            except DatabaseError as error:
                log.warning("camera %s: event end not saved (database: %s)", self.config.slug, type(error).__name__)
            except Exception:
                log.warning("camera %s: event end not saved", self.config.slug, exc_info=True)

    def status(self) -> Mapping[str, object]:
        objects = self.feed.objects(self._last_ts) if self.feed is not None else []
        return {"motion": self.moving, "objects": ",".join(objects)}

    # Internals ------------------------------------------------------------------------------
    def _check_tampering(self, grey: np.ndarray, image: np.ndarray, ts: float) -> None:
        verdict = self.tamper.update(grey, ts)
        if verdict is Verdict.STARTED:
            self.problems.open(EventKind.TAMPER, self.config, self.tamper.reason, ts, image)
        elif verdict is Verdict.ENDED:
            self.problems.close(EventKind.TAMPER, self.config, ts)

    def _started(self, event: OpenEvent, image: np.ndarray) -> None:
        from events.models import Event

        close_old_connections()
        row = Event.objects.create(
            camera_id=self.config.id,
            start=_utc(event.start),
            peak_score=event.peak_score,
            zones=sorted(event.zones),
        )
        self._row_id = row.pk
        self._keys = self.pictures.picture_keys(self.config.uid, row.pk, _utc(event.start))
        self._save_pictures(image, event.start)
        Event.objects.filter(pk=row.pk).update(snapshot=self._keys[0])
        self._save_record(row.pk, event, ended=False)
        self.notify(Change.START, self._payload(row.pk, event, ended=False))

    def _ended(self, event: OpenEvent) -> None:
        from events.models import Event

        if self._row_id is None:
            return
        close_old_connections()
        Event.objects.filter(pk=self._row_id).update(
            end=_utc(event.end), peak_score=event.peak_score, zones=sorted(event.zones)
        )
        self._save_record(self._row_id, event, ended=True)
        self.notify(Change.END, self._payload(self._row_id, event, ended=True))
        self._row_id, self._keys = None, None

    def _save_pictures(self, image: np.ndarray, at: float) -> None:
        if self._keys is None:
            return
        self._snapshot_at = at
        snapshot, thumbnail = self._keys
        self.pictures.put(snapshot, encode_jpeg(image, self.config.jpeg_quality))
        self.pictures.put(thumbnail, encode_jpeg(fit_width(image, THUMBNAIL_WIDTH), THUMBNAIL_QUALITY))

    def _save_record(self, event_id: int, event: OpenEvent, *, ended: bool) -> None:
        """The event as JSON beside its snapshot, so the archive can rebuild its index (recordings.rebuild)."""
        if self._keys is None:
            return
        record = {
            **self._payload(event_id, event, ended=ended),
            "camera_uid": self.config.uid,
            "snapshot": self._keys[0],
        }
        try:
            self.pictures.put(self._keys[0].removesuffix(".jpg") + ".json", json.dumps(record).encode())
        except OSError:  # a full disk: the event and its row stand; only a rebuild would miss it
            log.warning("events: could not write the record of event %s", event_id)

    def _payload(self, event_id: int, event: OpenEvent, *, ended: bool) -> dict:
        return {
            "id": event_id,
            "camera": self.config.slug,
            "camera_name": self.config.name,
            "type": Change.END if ended else Change.START,
            "kind": EventKind.MOTION.value,
            "detail": "",
            "start": _utc(event.start).isoformat(),
            "end": _utc(event.end).isoformat() if ended else None,
            "peak_score": round(event.peak_score, 4),
            "zones": sorted(event.zones),
            "labels": [],  # motion; object events name theirs (detection.objects)
        }
