"""Feeding the object detector: crops around motion, at a bounded rate per camera, never waited on.

The motion watcher (events.watcher) hands every detection with motion to its camera's `DetectorFeed`.
At most DETECTOR_CROPS_PER_SECOND times a second it cuts the region around the moving blobs (padded,
squared, never smaller than MIN_CROP of the frame's short side, so the model sees the object whole and
some of its surroundings), shrinks it to CROP_SIZE and pushes it as a JPEG through the frame bus
(framebus.crops: one bounded list for every camera, trimmed on each push). The same round trip reads
back the labels of the camera's open object events, which its status carries to the grid. A Redis that
is away costs a log line, never the capture loop. The detector process (detection/) does the rest.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Protocol

import cv2
import numpy as np

from framebus import BUS_ERRORS
from framebus.crops import Crop
from imaging import encode_jpeg

log = logging.getLogger(__name__)

OBJECTS_FRESH = 3.0  # seconds the labels read back with a crop are shown (motion stopped: no more crops)
DETECTOR_CROPS_PER_SECOND = 2.0  # per camera: the detector's work grows with moving cameras, not with frames
CROP_SIZE = 640  # px: the longest side of a crop sent (the largest usual model input)
MIN_CROP = 0.5  # a crop is at least this share of the frame's short side (context for the model)
CROP_PADDING = 0.25  # each side of the moving region grows by this share of its size
CROP_QUALITY = 85

Box = tuple[float, float, float, float]


class CropBus(Protocol):
    """What the feed needs of the frame bus (framebus.SyncBus has it)."""

    def push_crop(self, crop: Crop) -> tuple[int, list[str]]: ...


def camera_settings(config: Any) -> dict:
    """What the detector needs to know of a camera, carried with each crop (no ORM in the detector)."""
    return {
        "id": config.id,
        "uid": config.uid,
        "slug": config.slug,
        "name": config.name,
        "objects": json.loads(config.objects_json),
        "min_score": config.min_score,
        "min_area": config.min_area,
        "object_zones": json.loads(config.object_zones_json),
        "zones": json.loads(config.motion_zones_json),
        "gap": config.event_gap_seconds,
        "jpeg_quality": config.jpeg_quality,
    }


def crop_region(boxes: tuple[Box, ...], width: int, height: int) -> tuple[int, int, int, int]:
    """The pixel region (x0, y0, x1, y1) a crop takes around `boxes`: padded, square where it fits, in the frame."""
    x0, y0 = min(b[0] for b in boxes) * width, min(b[1] for b in boxes) * height
    x1, y1 = max(b[2] for b in boxes) * width, max(b[3] for b in boxes) * height
    side = max(x1 - x0, y1 - y0) * (1 + 2 * CROP_PADDING)
    side = min(max(side, MIN_CROP * min(width, height)), max(width, height))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = min(side, width), min(side, height)
    left = int(min(max(cx - w / 2, 0), width - w))
    top = int(min(max(cy - h / 2, 0), height - h))
    return left, top, left + int(w), top + int(h)


class DetectorFeed:
    """One camera's crops to the detector (capture thread only)."""

    def __init__(self, config: Any, bus: CropBus, rate: float = DETECTOR_CROPS_PER_SECOND) -> None:
        self.camera = camera_settings(config)
        self.bus = bus
        self.interval = 1.0 / rate
        self._next = 0.0
        self.sent = 0
        self.dropped = 0  # crops the bounded list dropped as this camera pushed (the detector is behind)
        self._warned = False
        self._labels: list[str] = []  # of the camera's open object events, read back with the latest crop
        self._labels_at = 0.0

    def objects(self, now: float) -> list[str]:
        """The labels of the camera's open object events, as of the latest crop (if recent): the grid shows them."""
        return self._labels if now - self._labels_at <= OBJECTS_FRESH else []

    def offer(self, image: np.ndarray, ts: float, boxes: tuple[Box, ...]) -> None:
        """Motion at `boxes` in this frame: send a crop unless this camera sent one too recently."""
        if not boxes or ts < self._next:
            return
        self._next = ts + self.interval
        height, width = image.shape[:2]
        left, top, right, bottom = crop_region(boxes, width, height)
        piece = image[top:bottom, left:right]
        scale = CROP_SIZE / max(piece.shape[:2])
        if scale < 1:
            piece = cv2.resize(piece, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        box = (left / width, top / height, right / width, bottom / height)
        crop = Crop(self.camera, ts, box, encode_jpeg(piece, CROP_QUALITY), sent=time.time())
        try:
            dropped, self._labels = self.bus.push_crop(crop)
            self._labels_at = ts
            self.dropped += dropped
            self.sent += 1
            self._warned = False
        except BUS_ERRORS as error:
            if not self._warned:  # once per outage
                log.warning("camera %s: crop not sent to the detector (%s)", self.camera["slug"], type(error).__name__)
                self._warned = True
