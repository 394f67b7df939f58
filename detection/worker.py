"""The detector process's loop: crops in (one bounded list for every camera), objects and events out.

It pops the newest crop (framebus.crops), drops one that waited past CROP_MAX_AGE (the detector fell
behind: counted, never queued up), runs the model on it, and hands the objects to the camera's
`CameraObjects` (detection.objects), which tracks them and makes the events. Every second it writes its
status (framebus.crops.DetectorStatus) for the admin and /healthz, and lets open events end when their
camera sends no more crops. A model that cannot be used is reported there and in the log, once, and the
process stays up saying so: motion events never depended on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np
from django.db import DatabaseError, close_old_connections

from detection.model import Model
from detection.objects import CameraObjects, Seen
from events.watcher import PictureStore
from framebus import BUS_ERRORS, SyncBus
from framebus.crops import CROP_MAX_AGE, Crop, DetectorState, DetectorStatus

log = logging.getLogger(__name__)

STATUS_EVERY = 1.0  # seconds between status reports (and event-end checks)
POP_TIMEOUT = 0.5  # seconds the loop waits for a crop before its other duties


class Announcer(Protocol):
    """What the worker needs of events.notify.Notifier: events out, and Home Assistant sensors per label."""

    def publish(self, kind: str, payload: dict) -> None: ...

    def labels_tracked(self, slug: str, name: str, labels: list[str]) -> None: ...


class DetectorWorker:
    """Run with run(stop); one per detector process (it serves every camera)."""

    def __init__(
        self,
        bus: SyncBus,
        model: Model | None,
        *,
        pictures: PictureStore,
        notifier: Announcer,
        problem: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.model = model
        self.problem = problem
        self.pictures = pictures
        self.notifier = notifier
        self.clock = clock
        self.cameras: dict[int, CameraObjects] = {}
        self.counts = {"detected": 0, "stale": 0, "failed": 0}
        self.inference_ms = 0.0  # the latest crop's, for the log and the bench
        self._published: dict[str, list[str]] = {}  # slug -> the open labels last written for it

    def status(self) -> DetectorStatus:
        if self.model is None:
            state = DetectorState.ERROR if self.problem else DetectorState.OFF
            return DetectorStatus(state, self.problem or "no model: DETECTOR_MODEL is empty")
        try:
            dropped = self.bus.crops_dropped()
        except BUS_ERRORS:
            dropped = 0
        return DetectorStatus(
            DetectorState.READY,
            provider=self.model.provider,
            model=self.model.name,
            input_size=(self.model.width, self.model.height),
            counts={**self.counts, "dropped": dropped},
        )

    def run(self, stop: threading.Event) -> None:
        reported = 0.0
        while not stop.is_set():
            now = self.clock()
            if now - reported >= STATUS_EVERY:
                reported = now
                self._report()
                self.tick(now)
            if self.model is None:
                stop.wait(STATUS_EVERY)
                continue
            try:
                crop = self.bus.pop_crop(POP_TIMEOUT)
            except BUS_ERRORS as error:
                log.warning("detector: Redis unavailable (%s)", type(error).__name__)
                stop.wait(1.0)
                continue
            if crop is not None:
                self.handle(crop)
        for camera in self.cameras.values():
            self._guard(camera.finish)

    def handle(self, crop: Crop) -> None:
        """Detect on one crop and update its camera's objects (stale crops are dropped and counted)."""
        assert self.model is not None
        if crop.sent and self.clock() - crop.sent > CROP_MAX_AGE:
            self.counts["stale"] += 1
            return
        picture = cv2.imdecode(np.frombuffer(crop.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if picture is None:
            self.counts["failed"] += 1
            return
        started = time.perf_counter()
        try:
            found = self.model.detect(picture, float(crop.camera.get("min_score", 0.5)))
        except Exception:  # an input the model chokes on: that crop is lost, never the loop
            self.counts["failed"] += 1
            log.warning("detector: inference failed on a crop of %s", crop.camera.get("slug"), exc_info=True)
            return
        self.inference_ms = (time.perf_counter() - started) * 1000
        self.counts["detected"] += 1
        x0, y0, x1, y1 = crop.box
        width, height = x1 - x0, y1 - y0
        seen = [
            Seen(label, score, (x0 + b[0] * width, y0 + b[1] * height, x0 + b[2] * width, y0 + b[3] * height))
            for label, score, b in found
        ]
        camera = self._camera(crop.camera)
        self._guard(lambda: camera.update(crop.ts, crop.box, seen, picture))
        self._publish_objects(camera)

    def _camera(self, settings: dict) -> CameraObjects:
        camera = self.cameras.get(settings["id"])
        if camera is None:
            camera = self.cameras[settings["id"]] = CameraObjects(settings, self.pictures, self.notifier.publish)
        elif camera.camera == settings:
            return camera
        camera.camera = settings  # the newest settings the capture side sent
        self.notifier.labels_tracked(settings["slug"], settings["name"], list(settings["objects"]))
        return camera

    def tick(self, now: float) -> None:
        """Let open events end whose camera sent nothing for their gap (called every STATUS_EVERY)."""
        for camera in self.cameras.values():
            self._guard(lambda camera=camera: camera.tick(now))  # type: ignore[misc]
            self._publish_objects(camera, refresh=True)

    def _publish_objects(self, camera: CameraObjects, *, refresh: bool = False) -> None:
        """The camera's open object labels for its capture side (and so its grid tile), when they change
        (`refresh`: also rewritten while some are open, so the key's TTL does not run out under them)."""
        labels = camera.open_labels()
        slug = camera.camera["slug"]
        if labels == self._published.get(slug) and not (refresh and labels):
            return
        try:
            self.bus.write_objects(slug, labels)
            self._published[slug] = labels
        except BUS_ERRORS:
            pass

    def _guard(self, work: Callable[[], None]) -> None:
        """Database or disk trouble costs one line; detection goes on."""
        try:
            close_old_connections()
            work()
        except DatabaseError as error:
            log.warning("detector: event not saved (database: %s)", type(error).__name__)
        except Exception:
            log.warning("detector: event not saved", exc_info=True)

    def _report(self) -> None:
        try:
            self.bus.write_detector_status(self.status())
        except BUS_ERRORS:
            pass
