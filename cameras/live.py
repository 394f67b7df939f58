"""The live picture: a capture output that publishes JPEGs to the frame bus, only while someone watches.

Web processes say which sizes of a camera their viewers watch (framebus: `want_width`, renewed
while a stream, a grid tile or a snapshot needs it); this output asks its capture loop for frames
only while some size is wanted, and encodes each wanted size once per frame. A camera nobody
watches costs no JPEG, and an RTSP camera nobody watches live (and no other output needs pictures
of) is not decoded at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from cameras.config import CameraConfig
from framebus import BUS_ERRORS, Frame, SyncBus
from imaging import encode_jpeg, fit_width

log = logging.getLogger(__name__)

WANTED_REFRESH = 0.5  # seconds between reads of the sizes web processes want (a new viewer waits at most this)
BUS_DOWN_RETRY = 5.0  # seconds before asking again when Redis could not say
ENCODE_EMA_WEIGHT = 0.1  # weight of the newest encode time in the moving average


class LivePublisher:
    """One camera's live JPEGs on the bus (one capture thread at a time).

    A camera with a sub stream has two: one fed by the sub stream (`variants_only`: the size variants
    no wider than its pictures, the grid's tiles; `pictures_from_sub_stream`, cameras.outputs), and one
    fed by the main stream for the rest (the camera's own size, wider variants), which `defers_to` it.
    """

    def __init__(
        self,
        config: CameraConfig,
        bus: SyncBus,
        *,
        variants_only: bool = False,
        defers_to: LivePublisher | None = None,
    ) -> None:
        self.config = config
        self.bus = bus
        self.variants_only = variants_only
        self.pictures_from_sub_stream = variants_only
        self.defers_to = defers_to
        self._width: int | None = None  # of the pictures it was last handed
        self.seq = 0
        self._wanted: list[int] = []
        self._next_wanted = 0.0
        self._encode_ms = 0.0
        self._bus_down = False

    def frame_interval(self) -> float | None:
        return 1.0 / self.config.max_fps if self._serving() else None

    def serves(self, width: int) -> bool:
        """Whether this publisher makes the frames of a wanted size (the other one makes the rest)."""
        if not self.variants_only:
            return self.defers_to is None or not self.defers_to.serves(width)
        return width > 0 and (self._width is None or width <= self._width)

    def packet(self, packet: Any) -> None:
        """The live picture is made from decoded frames only."""

    def frame(self, image: np.ndarray, ts: float) -> None:
        """Encode each wanted size of this frame once and publish it."""
        height, width = image.shape[:2]
        self._width = width
        wanted = self._serving()
        if not wanted:
            return
        self.seq += 1
        started = time.perf_counter()
        full: Frame | None = None
        frames: list[tuple[int, Frame]] = []
        for variant in wanted:
            if variant and variant < width:
                small = fit_width(image, variant)
                jpeg = encode_jpeg(small, self.config.jpeg_quality)
                frames.append((variant, Frame(self.seq, ts, small.shape[1], small.shape[0], jpeg)))
                continue
            if full is None:  # the camera's own size, also for a variant it does not exceed
                full = Frame(self.seq, ts, width, height, encode_jpeg(image, self.config.jpeg_quality))
            frames.append((variant, full))
        took_ms = (time.perf_counter() - started) * 1000
        average = self._encode_ms or took_ms
        self._encode_ms = average + (took_ms - average) * ENCODE_EMA_WEIGHT
        try:
            for variant, frame in frames:
                self.bus.publish_frame(self.config.slug, frame, variant)
            self._bus_down = False
        except BUS_ERRORS as error:
            if not self._bus_down:
                log.warning("camera %s: live frames not published (Redis: %s)", self.config.slug, type(error).__name__)
            self._bus_down = True

    def disconnected(self, reason: str) -> None:
        """Nothing is open between frames."""

    def status(self) -> Mapping[str, object]:
        if self.variants_only and not self._serving():
            return {}  # the main stream's publisher says what encoding costs
        return {"encode_ms": round(self._encode_ms, 3) if self._wanted else 0.0}

    def _serving(self) -> list[int]:
        """The wanted sizes this publisher makes."""
        return [width for width in self._wanted_widths() if self.serves(width)]

    def _wanted_widths(self) -> list[int]:
        """Sizes web processes watch, read at most every WANTED_REFRESH seconds (none while Redis is away)."""
        now = time.monotonic()
        if now >= self._next_wanted:
            self._next_wanted = now + WANTED_REFRESH
            try:
                self._wanted = self.bus.wanted_widths(self.config.slug)
            except BUS_ERRORS:
                self._wanted = []
                self._next_wanted = now + BUS_DOWN_RETRY  # a hung Redis must not hold the capture thread often
        return self._wanted
