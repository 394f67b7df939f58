"""What a capture loop calls with each frame it publishes: motion detection, events, snapshots.

Runs in the capture thread, at DETECTIONS_PER_SECOND whatever the camera's frame rate, on the
frame already decoded (and JPEG already encoded for the live view, reused as the snapshot).
It never raises into the capture loop: a database or disk problem is logged and the next
detection goes on. Notifications go to a bounded queue (events.notify) that capture never waits on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from events.detector import DETECTIONS_PER_SECOND, MotionDetector
from events.tracker import EventTracker, OpenEvent

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "event.snapshots"  # under RECORDINGS_DIR; a slug cannot contain a dot, so no camera's folder
THUMBNAIL_WIDTH = 240
SNAPSHOT_EVERY = 1.0  # seconds: a new peak replaces the snapshot at most this often

Notify = Callable[[str, dict], None]


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


class MotionWatcher:
    """One camera's motion detection and events, fed by its capture loop (capture thread only)."""

    def __init__(self, config, notify: Notify | None = None, *, store: Path | None = None) -> None:  # type: ignore[no-untyped-def]
        self.config = config
        self.detector = MotionDetector(
            sensitivity=config.motion_sensitivity,
            min_size=config.motion_min_size / 100,
            masks=json.loads(config.motion_masks_json),
            zones=json.loads(config.motion_zones_json),
        )
        self.tracker = EventTracker(gap_seconds=config.event_gap_seconds)
        self.notify = notify or (lambda kind, payload: None)
        self.store = Path(store or settings.RECORDINGS_DIR)
        self.detect_ms = 0.0  # moving average: what detection costs this camera
        self.events = 0
        self._next = 0.0
        self._row_id: int | None = None
        self._snapshot = ""
        self._snapshot_at = 0.0

    @property
    def moving(self) -> bool:
        return self.tracker.current is not None

    def frame(self, image: np.ndarray, jpeg: bytes, captured_at: float) -> bool:
        """Detect on this frame if one is due; True when the motion state changed (report status now)."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + 1.0 / DETECTIONS_PER_SECOND
        started = time.perf_counter()
        detection = self.detector.detect(image)
        took = (time.perf_counter() - started) * 1000
        self.detect_ms = took if not self.detect_ms else self.detect_ms + (took - self.detect_ms) * 0.05
        change = self.tracker.update(captured_at, detection.score, detection.zones)
        if change is None:
            return False
        kind, event = change
        try:
            if kind == "start":
                self._started(event, image, jpeg)
            elif kind == "peak" and captured_at - self._snapshot_at >= SNAPSHOT_EVERY:
                self._save_snapshot(image, jpeg, captured_at)
            elif kind == "end":
                self._ended(event)
        except DatabaseError as error:  # the database is away: one line, capture goes on
            log.warning("camera %s: event %s not saved (database: %s)", self.config.slug, kind, type(error).__name__)
        except Exception:  # never into the capture loop
            log.warning("camera %s: event %s not saved", self.config.slug, kind, exc_info=True)
        return kind in ("start", "end")

    def stop(self) -> None:
        """The capture loop stops or loses the camera: an open event ends at its last motion."""
        event = self.tracker.finish()
        if event is not None:
            try:
                self._ended(event)
            except DatabaseError as error:
                log.warning("camera %s: event end not saved (database: %s)", self.config.slug, type(error).__name__)
            except Exception:
                log.warning("camera %s: event end not saved", self.config.slug, exc_info=True)

    # Internals ------------------------------------------------------------------------------
    def _started(self, event: OpenEvent, image: np.ndarray, jpeg: bytes) -> None:
        from events.models import Event

        close_old_connections()
        self.events += 1
        row = Event.objects.create(
            camera_id=self.config.id,
            start=_utc(event.start),
            peak_score=event.peak_score,
            zones=sorted(event.zones),
        )
        self._row_id = row.pk
        day = _utc(event.start)
        self._snapshot = f"{SNAPSHOT_DIR}/{self.config.slug}/{day:%Y/%m/%d}/{row.pk}.jpg"
        self._save_snapshot(image, jpeg, event.start)
        Event.objects.filter(pk=row.pk).update(snapshot=self._snapshot)
        self.notify("start", self._payload(row.pk, event, ended=False))

    def _ended(self, event: OpenEvent) -> None:
        from events.models import Event

        if self._row_id is None:
            return
        close_old_connections()
        Event.objects.filter(pk=self._row_id).update(
            end=_utc(event.end), peak_score=event.peak_score, zones=sorted(event.zones)
        )
        self.notify("end", self._payload(self._row_id, event, ended=True))
        self._row_id = None

    def _save_snapshot(self, image: np.ndarray, jpeg: bytes, at: float) -> None:
        if not self._snapshot:
            return
        self._snapshot_at = at
        path = self.store / self._snapshot
        path.parent.mkdir(parents=True, exist_ok=True)
        height, width = image.shape[:2]
        small = cv2.resize(
            image, (THUMBNAIL_WIDTH, max(1, round(height * THUMBNAIL_WIDTH / width))), interpolation=cv2.INTER_AREA
        )
        ok, thumbnail = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 75])
        for target, data in ((path, jpeg), (path.with_suffix(".thumb.jpg"), thumbnail.tobytes() if ok else b"")):
            temporary = target.with_suffix(target.suffix + ".part")
            temporary.write_bytes(data)
            os.replace(temporary, target)  # readers never see half a picture

    def _payload(self, event_id: int, event: OpenEvent, *, ended: bool) -> dict:
        return {
            "id": event_id,
            "camera": self.config.slug,
            "camera_name": self.config.name,
            "type": "end" if ended else "start",
            "start": _utc(event.start).isoformat(),
            "end": _utc(event.end).isoformat() if ended else None,
            "peak_score": round(event.peak_score, 4),
            "zones": sorted(event.zones),
        }
