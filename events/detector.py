"""Motion detection on the frames the capture worker already decodes, at a few per second.

Each detection works on a small grey copy of the frame (DETECT_WIDTH px wide), so its cost does
not grow with the camera's resolution. Against a background model (a running average that
follows slow lighting changes, such as dusk or a cloud's shadow creeping over the scene):

- a global brightness change (IR switching, a cloud, auto-exposure) moves every pixel by about the
  same amount, so the median difference is taken off first; if most of the picture still changed,
  the scene changed as a whole: the background is reset and nothing is reported;
- sensor noise is single pixels: a blur before and a morphological opening after the threshold
  remove it;
- what remains must form a blob at least `min_size` of the picture (per camera) to count, and must
  be moving now: a blob that did not change since the previous detection is something that left
  (a "ghost" in the background) or stopped (a parked car), and is taken into the background at once;
- masked areas (normalized polygons, per camera) are ignored.

The score is the changed fraction of the picture (0..1) in blobs big enough to count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

# Thresholds, in one place ----------------------------------------------------------------
DETECT_WIDTH = 160  # px: the grey copy detection works on (Frigate detects motion at 100 px high by default)
DETECTIONS_PER_SECOND = 5.0
BACKGROUND_SECONDS = 3.0  # time constant of the background average (at DETECTIONS_PER_SECOND)
MOVING_SLOWDOWN = 0.2  # where motion is seen, the background learns this much slower
SCENE_CHANGE_FRACTION = 0.5  # more of the picture than this changed at once: a global change, not motion
MIN_THRESHOLD, MAX_THRESHOLD = 8.0, 60.0  # grey levels of difference at sensitivity 100 and 1
DEFAULT_SENSITIVITY = 50  # 1..100
DEFAULT_MIN_SIZE = 0.005  # smallest moving object counted, as a fraction of the picture (0.5 %)

Polygon = Sequence[Sequence[float]]  # [(x, y), ...] normalized 0..1


def threshold_for(sensitivity: int) -> float:
    """Grey-level difference a pixel needs to count as changed: higher sensitivity, lower threshold."""
    share = (min(max(sensitivity, 1), 100) - 1) / 99
    return MAX_THRESHOLD - share * (MAX_THRESHOLD - MIN_THRESHOLD)


@dataclass(frozen=True)
class Detection:
    """One detection: the moving share of the picture in countable blobs, which zones it touched, and where
    the moving blobs are (normalized (x0, y0, x1, y1) each: the object detector looks there, events.feed)."""

    score: float
    zones: tuple[str, ...] = ()
    boxes: tuple[tuple[float, float, float, float], ...] = ()

    @property
    def moving(self) -> bool:
        return self.score > 0


@dataclass
class MotionDetector:
    """Stateful: feed it frames in time order (any size, BGR or grey)."""

    sensitivity: int = DEFAULT_SENSITIVITY
    min_size: float = DEFAULT_MIN_SIZE
    masks: Sequence[Polygon] = ()
    zones: dict[str, Polygon] = field(default_factory=dict)
    rate: float = DETECTIONS_PER_SECOND
    grey: np.ndarray | None = None  # the small grey copy of the last picture detected on (events.tamper uses it)
    _background: np.ndarray | None = None
    _previous: np.ndarray | None = None  # the previous detection's grey frame
    _keep: np.ndarray | None = None  # 1 where detection looks, 0 under a mask
    _zone_masks: dict[str, np.ndarray] = field(default_factory=dict)
    _kernel: np.ndarray = field(default_factory=lambda: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))

    def detect(self, image: np.ndarray) -> Detection:
        grey = self.grey = self._small_grey(image)
        if self._background is None or self._background.shape != grey.shape:
            self._start(grey)
            return Detection(0.0)
        threshold = threshold_for(self.sensitivity)
        changed = self._changed(grey, self._background, threshold)
        if changed.mean() > SCENE_CHANGE_FRACTION:
            self._background, self._previous = grey.copy(), grey  # the scene changed as a whole
            return Detection(0.0)
        changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, self._kernel)
        moving = changed
        boxes: tuple[tuple[float, float, float, float], ...] = ()
        if changed.any():
            assert self._previous is not None
            moving, still, boxes = self._blobs(changed, self._changed(grey, self._previous, threshold))
            if still is not None:  # left or stopped: background now
                self._background[still > 0] = grey[still > 0]
        self._previous = grey
        self._learn(grey, moving)
        score = float(moving.mean())
        if not score:
            return Detection(0.0)
        touched = tuple(name for name, zone in self._zone_masks.items() if np.any(moving & zone))
        return Detection(score, touched, boxes)

    # Internals -------------------------------------------------------------------------------
    def _small_grey(self, image: np.ndarray) -> np.ndarray:
        # Grey first (one channel to shrink), then area averaging, which also averages sensor noise away.
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        height, width = grey.shape[:2]
        size = (DETECT_WIDTH, max(1, round(height * DETECT_WIDTH / width)))
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA) if width != DETECT_WIDTH else grey
        return cv2.GaussianBlur(small, (5, 5), 0).astype(np.float32)

    def _start(self, grey: np.ndarray) -> None:
        self._background, self._previous = grey.copy(), grey
        self._keep = np.ones(grey.shape, np.uint8)
        for polygon in self.masks:
            cv2.fillPoly(self._keep, [_pixels(polygon, grey.shape)], 0)
        self._zone_masks = {}
        for name, polygon in self.zones.items():
            zone = np.zeros(grey.shape, np.uint8)
            cv2.fillPoly(zone, [_pixels(polygon, grey.shape)], 1)
            self._zone_masks[name] = zone

    def _changed(self, grey: np.ndarray, reference: np.ndarray, threshold: float) -> np.ndarray:
        """Pixels that differ from `reference` beyond the picture's overall brightness shift, outside masks."""
        difference = grey - reference
        # A global brightness shift is not motion (the median of every 4th pixel: a tenth of the cost).
        difference -= float(np.median(difference[::4, ::4]))
        assert self._keep is not None
        return (np.abs(difference) > threshold).astype(np.uint8) & self._keep

    def _blobs(
        self, changed: np.ndarray, moved: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, tuple[tuple[float, float, float, float], ...]]:
        """(big blobs that moved since the previous detection, blobs that did not) as 0/1 masks, and the
        moving blobs' boxes (normalized)."""
        count, labels, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
        big = stats[:, cv2.CC_STAT_AREA] >= self.min_size * changed.size
        active = np.bincount(labels[moved > 0], minlength=count) > 0  # blobs with a pixel that moved
        big[0] = active[0] = False  # label 0 is the unchanged background
        moving = (big & active).astype(np.uint8)[labels]  # a lookup table per label: one pass, no sets
        still = ~active
        still[0] = False
        height, width = changed.shape[:2]
        boxes = tuple(
            (
                float(stats[n, cv2.CC_STAT_LEFT] / width),
                float(stats[n, cv2.CC_STAT_TOP] / height),
                float((stats[n, cv2.CC_STAT_LEFT] + stats[n, cv2.CC_STAT_WIDTH]) / width),
                float((stats[n, cv2.CC_STAT_TOP] + stats[n, cv2.CC_STAT_HEIGHT]) / height),
            )
            for n in np.flatnonzero(big & active)
        )
        return moving, (still.astype(np.uint8)[labels] if still.any() else None), boxes

    def _learn(self, grey: np.ndarray, moving: np.ndarray) -> None:
        assert self._background is not None
        alpha = 1.0 / (BACKGROUND_SECONDS * self.rate)
        weights = np.where(moving > 0, alpha * MOVING_SLOWDOWN, alpha).astype(np.float32)
        self._background += (grey - self._background) * weights


def _pixels(polygon: Polygon, shape: tuple[int, ...]) -> np.ndarray:
    height, width = shape[:2]
    return np.array([(round(x * (width - 1)), round(y * (height - 1))) for x, y in polygon], np.int32)
