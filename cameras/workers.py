"""One capture loop per camera: read the newest frame, cap the fps, encode once, publish once.

A loop runs in its own thread (OpenCV decoding and JPEG encoding release the GIL),
reconnects with capped exponential backoff and jitter, and reports its status to the
bus every second. It never raises: a broken camera only ever affects itself.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque

import numpy as np

from cameras.config import CameraConfig
from cameras.encoding import encode_jpeg, fit_width
from cameras.sources import FrameSource, SourceError, source_for
from events.watcher import MotionWatcher, Notify
from framebus import BUS_ERRORS, Frame, SyncBus
from framebus.status import STATUS_INTERVAL, CameraStatus, State
from recordings.recorder import Recorder

log = logging.getLogger(__name__)

ENCODE_EMA_WEIGHT = 0.1  # weight of the newest encode time in the moving average
WANTED_REFRESH = 1.0


class Backoff:
    """Exponential delays with full jitter, capped; reset after a success."""

    def __init__(self, initial: float = 1.0, cap: float = 30.0) -> None:
        self.initial, self.cap, self.attempt = initial, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.initial * 2**self.attempt)
        self.attempt += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.attempt = 0


class RateMeter:
    """Frames per second over the last few seconds."""

    def __init__(self, window: float = 3.0) -> None:
        self.window = window
        self.times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self.times.append(now)
        while self.times and self.times[0] < now - self.window:
            self.times.popleft()

    def rate(self, now: float) -> float:
        while self.times and self.times[0] < now - self.window:
            self.times.popleft()
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / max(now - self.times[0], 1e-6)


class FpsCap:
    """Decides which frames to publish so that a camera never exceeds max_fps on average.

    Frames of a source running at max_fps itself do not come one interval apart: decoding,
    the network and the GIL shared by every capture thread make them jitter. Measured with
    16 RTSP cameras at 15 fps on two cores: gaps from 24 ms (p1) to 116 ms (p99), 23 % of
    them under 80 % of the interval. The former rule (take a frame at most 10 % early)
    dropped those: with 16 cameras each published 12 to 13.5 fps of its 15.

    A virtual schedule instead (GCRA, a token bucket written in time): each published frame
    books the next slot one interval later, and a frame is published when it comes at most
    one interval (`slack`) before its slot, so a frame late by up to 3/4 of an interval no
    longer costs the next one. The slot advances one interval per published frame and never
    lags behind the clock, so over any W seconds at most 2 + W / interval frames go out: a
    30 fps source capped at 15 publishes 15, never more. Published frames are also at least
    a quarter interval apart (`min_gap`): frames read back to back after a stall are not
    published in a burst (the slack allows at most one extra frame after it).
    """

    def __init__(self, fps: float, slack: float = 1.0, min_gap: float = 0.25) -> None:
        self.interval = 1.0 / fps
        self.slack = self.interval * slack
        self.min_gap = self.interval * min_gap
        self.next_slot = self.last = float("-inf")

    def take(self, now: float) -> bool:
        """True when the frame that came at `now` (monotonic seconds) is to be published."""
        if now < self.next_slot - self.slack or now - self.last < self.min_gap:
            return False  # over the cap: drop, the next one is newer
        self.next_slot = max(self.next_slot, now) + self.interval
        self.last = now
        return True


class CaptureLoop(threading.Thread):
    """Captures one camera until stop() is called."""

    def __init__(
        self, config: CameraConfig, bus: SyncBus, *, backoff_cap: float = 30.0, notify: Notify | None = None
    ) -> None:
        super().__init__(name=f"capture-{config.slug}", daemon=True)
        self.config = config
        self.bus = bus
        self.backoff = Backoff(cap=backoff_cap)
        self.stop_event = threading.Event()
        self.seq = 0
        self.reconnects = 0
        self.frames = 0
        self.last_progress = time.monotonic()  # the supervisor's watchdog reads this
        self._meter = RateMeter()
        self._state = State.CONNECTING
        self._error = ""
        self._resolution = (0, 0)
        self._last_frame_ts = 0.0
        self._encode_ms = 0.0  # moving average of the main frame's JPEG encode time
        self._next_status = 0.0
        self._wanted: list[int] = []
        self._next_wanted = 0.0
        self._bus_down = False
        # Only the lease holder runs this loop, so only it records; a takeover starts a new segment.
        self.recorder = Recorder(config) if config.record in ("continuous", "motion") else None
        # Motion detection on the frames published anyway; events notify through the supervisor's notifier.
        self.watcher = MotionWatcher(config, notify) if config.motion else None

    def stop(self) -> None:
        self.stop_event.set()

    # Lifecycle -----------------------------------------------------------------
    def run(self) -> None:
        connected_before = False
        while not self.stop_event.is_set():
            self.last_progress = time.monotonic()
            source = None
            try:
                source = source_for(self.config)
                self._report(State.OFFLINE if connected_before else State.CONNECTING, force=True)
                if self.recorder is not None and source.delivers_packets:
                    source.packet_sink = self.recorder.packet  # one connection: record its packets as they are
                source.open()
                connected_before = True
                self._capture(source)
            except SourceError as error:
                self._error = str(error)
                self._report(State.OFFLINE if error.retry else State.ERROR, force=True)
                log.warning("camera %s: %s", self.config.slug, error)
            except Exception as error:
                self._error = f"internal error ({type(error).__name__})"
                self._report(State.ERROR, force=True)
                log.exception("camera %s: capture failed", self.config.slug)
            finally:
                if self.recorder is not None:
                    self.recorder.disconnected()  # an outage is a gap in the index
                if self.watcher is not None:
                    self.watcher.stop()  # an open event ends at its last motion
                if source is not None:
                    try:
                        source.close()
                    except Exception:
                        log.debug("camera %s: close failed", self.config.slug, exc_info=True)
            if self.stop_event.is_set():
                break
            self.reconnects += 1
            self.stop_event.wait(self.backoff.next())

    def _capture(self, source: FrameSource) -> None:
        cap = FpsCap(self.config.max_fps)
        while not self.stop_event.is_set():
            source.grab()  # every frame: keeps the device's buffer drained
            now = time.monotonic()
            self.last_progress = now
            if not cap.take(now):
                continue
            captured_at = time.time()
            image = fit_width(source.retrieve(), self.config.max_width)
            jpeg = self._publish(image, captured_at)
            if self.recorder is not None and not source.delivers_packets:
                self.recorder.frame(image, captured_at)
            motion_changed = self.watcher is not None and self.watcher.frame(image, jpeg, captured_at)
            if self._state is not State.ONLINE:
                self.backoff.reset()
                self._error = ""
            self._report(State.ONLINE, force=motion_changed)  # the grid's motion badge within a second

    def _publish(self, image: np.ndarray, captured_at: float) -> bytes:
        """Publish the frame (and the sizes web processes asked for); returns its JPEG."""
        height, width = image.shape[:2]
        self.seq += 1
        self.frames += 1
        self._resolution = (width, height)
        self._last_frame_ts = captured_at
        self._meter.tick(time.monotonic())
        quality = self.config.jpeg_quality
        started = time.perf_counter()
        jpeg = encode_jpeg(image, quality)
        took_ms = (time.perf_counter() - started) * 1000
        average = self._encode_ms or took_ms
        self._encode_ms = average + (took_ms - average) * ENCODE_EMA_WEIGHT
        try:
            full = Frame(self.seq, captured_at, width, height, jpeg)
            self.bus.publish_frame(self.config.slug, full)
            for variant in self._wanted_widths():
                if variant >= width:  # asked for a size the camera does not exceed: the frame as it is
                    self.bus.publish_frame(self.config.slug, full, variant)
                    continue
                small = fit_width(image, variant)
                frame = Frame(self.seq, captured_at, small.shape[1], small.shape[0], encode_jpeg(small, quality))
                self.bus.publish_frame(self.config.slug, frame, variant)
            self._bus_down = False
        except BUS_ERRORS as error:
            self._note_bus_down(error)
        return jpeg

    def _wanted_widths(self) -> list[int]:
        """Size variants web processes asked for, refreshed once a second."""
        now = time.monotonic()
        if now >= self._next_wanted:
            self._next_wanted = now + WANTED_REFRESH
            self._wanted = self.bus.wanted_widths(self.config.slug)
        return self._wanted

    def _note_bus_down(self, error: Exception) -> None:
        if not self._bus_down:
            log.warning("camera %s: Redis unavailable (%s); capture continues", self.config.slug, type(error).__name__)
        self._bus_down = True
        self._next_status = 0.0

    # Status ----------------------------------------------------------------------
    def status(self) -> CameraStatus:
        now = time.monotonic()
        width, height = self._resolution
        return CameraStatus(
            state=self._state,
            fps=round(self._meter.rate(now), 2) if self._state is State.ONLINE else 0.0,
            width=width,
            height=height,
            last_frame_ts=self._last_frame_ts,
            error=self._error,
            reconnects=self.reconnects,
            frames=self.frames,
            encode_ms=round(self._encode_ms, 3),
            recording=self.recorder.state.value if self.recorder else "",
            recording_error=self.recorder.error if self.recorder else "",
            motion=self._state is State.ONLINE and self.watcher is not None and self.watcher.moving,
        )

    def _report(self, state: State, *, force: bool = False) -> None:
        now = time.monotonic()
        changed = state != self._state
        self._state = state
        if not (force or changed or now >= self._next_status):
            return
        self._next_status = now + STATUS_INTERVAL
        try:
            self.bus.write_status(self.config.slug, self.status().to_fields())
        except BUS_ERRORS as error:
            self._note_bus_down(error)

    def write_final_status(self, state: State) -> None:
        """Called by the supervisor after stopping the loop (e.g. disabled)."""
        self._state = state
        try:
            self.bus.write_status(self.config.slug, self.status().to_fields())
        except BUS_ERRORS:
            pass
