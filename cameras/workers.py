"""One capture loop per camera: read the camera, check its packets, hand them and the pictures asked for to its outputs.

A loop runs in its own thread (decoding and JPEG encoding release the GIL), knows its outputs only
through the CaptureOutput protocol (cameras.outputs), decodes only while some output asks for
pictures, reconnects with capped exponential backoff and jitter, and reports its status to the bus
every second. It never raises: a broken camera only ever affects itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cameras.config import CameraConfig
from cameras.outputs import CaptureOutput
from cameras.sources import FrameSource, SourceError, source_for
from framebus import BUS_ERRORS, SyncBus
from framebus.backoff import Backoff
from framebus.status import STATUS_INTERVAL, CameraStatus, State
from imaging import fit_width, fitted_size

log = logging.getLogger(__name__)


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
    """Captures one camera for its outputs until stop() is called."""

    def __init__(
        self, config: CameraConfig, bus: SyncBus, outputs: Sequence[CaptureOutput], *, backoff_cap: float = 30.0
    ) -> None:
        super().__init__(name=f"capture-{config.slug}", daemon=True)
        self.config = config
        self.bus = bus
        self.outputs = list(outputs)
        self.backoff = Backoff(1.0, backoff_cap)
        self.stop_event = threading.Event()
        self.reconnects = 0
        self.frames = 0  # pictures taken (within max_fps), decoded or not
        self.decoded = 0  # of earlier connections; the current source counts its own
        self.last_progress = time.monotonic()  # the supervisor's watchdog reads this
        self._meter = RateMeter()
        self._state = State.CONNECTING
        self._error = ""
        self._resolution = (0, 0)
        self._last_frame_ts = 0.0
        self._timestamps = (0, 0)  # (repaired, dropped) of earlier connections
        self._source: FrameSource | None = None
        self._reported: dict[str, object] = {}
        self._next_status = 0.0
        self._bus_down = False

    def stop(self) -> None:
        self.stop_event.set()

    # Lifecycle -----------------------------------------------------------------
    def run(self) -> None:
        connected_before = False
        while not self.stop_event.is_set():
            self.last_progress = time.monotonic()
            source = None
            reason = "stopped"
            try:
                source = source_for(self.config)
                self._report(State.OFFLINE if connected_before else State.CONNECTING, force=True)
                if source.delivers_packets:
                    source.packet_sink = self._packet  # one connection: every output gets its packets
                source.open()
                self._source = source
                connected_before = True
                self._capture(source)
            except SourceError as error:
                self._error = reason = str(error)
                self._report(State.OFFLINE if error.retry else State.ERROR, force=True)
                log.warning("camera %s: %s", self.config.slug, error)
            except Exception as error:
                self._error = reason = f"internal error ({type(error).__name__})"
                self._report(State.ERROR, force=True)
                log.exception("camera %s: capture failed", self.config.slug)
            finally:
                self._end_connection(source, reason)
            if self.stop_event.is_set():
                break
            self.reconnects += 1
            self.stop_event.wait(self.backoff.next())

    def _end_connection(self, source: FrameSource | None, reason: str) -> None:
        """Tell every output (an outage is a gap in the recording, an open event ends), then close the source."""
        for output in self.outputs:
            try:
                output.disconnected(reason)
            except Exception:
                log.exception("camera %s: an output failed to close", self.config.slug)
        if source is None:
            return
        if source is self._source:
            repaired, dropped = source.timestamp_counts()
            self._timestamps = (self._timestamps[0] + repaired, self._timestamps[1] + dropped)
            self.decoded += source.decoded
            self._source = None
        try:
            source.close()
        except Exception:
            log.debug("camera %s: close failed", self.config.slug, exc_info=True)

    def _packet(self, packet: object) -> None:
        for output in self.outputs:
            output.packet(packet)

    def _capture(self, source: FrameSource) -> None:
        intake = FpsCap(self.config.max_fps)  # the rate the camera is captured at, decoded or not
        caps: dict[int, tuple[float, FpsCap]] = {}  # per output: the interval it asked for, and its cap
        while not self.stop_event.is_set():
            wants = [(output, output.frame_interval()) for output in self.outputs]
            decoded = source.grab(decode=any(interval is not None for _, interval in wants))
            now = time.monotonic()
            self.last_progress = now
            self._last_frame_ts = time.time()
            if self._state is not State.ONLINE:
                self.backoff.reset()
                self._error = ""
            if not intake.take(now):
                self._report(State.ONLINE)
                continue
            self.frames += 1
            self._meter.tick(now)
            due = []
            if decoded:
                for index, (output, interval) in enumerate(wants):
                    if interval is None:
                        continue
                    cap = caps.get(index)
                    if cap is None or cap[0] != interval:
                        cap = caps[index] = (interval, FpsCap(1.0 / interval))
                    if cap[1].take(now):
                        due.append(output)
            if due:
                image = fit_width(source.retrieve(), self.config.max_width)
                self._resolution = (image.shape[1], image.shape[0])
                for output in due:
                    output.frame(image, self._last_frame_ts)
            elif (size := source.size()) is not None:
                self._resolution = fitted_size(*size, self.config.max_width)
            self._report(State.ONLINE)

    # Status ----------------------------------------------------------------------
    def status(self) -> CameraStatus:
        now = time.monotonic()
        width, height = self._resolution
        source = self._source
        repaired, dropped = source.timestamp_counts() if source is not None else (0, 0)
        status = CameraStatus(
            state=self._state,
            fps=round(self._meter.rate(now), 2) if self._state is State.ONLINE else 0.0,
            width=width,
            height=height,
            last_frame_ts=self._last_frame_ts,
            error=self._error,
            reconnects=self.reconnects,
            frames=self.frames,
            decoded=self.decoded + (source.decoded if source is not None else 0),
            timestamps_repaired=self._timestamps[0] + repaired,
            packets_dropped=self._timestamps[1] + dropped,
        )
        return replace(status, **self._outputs_status())

    def _outputs_status(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for output in self.outputs:
            fields.update(output.status())
        return fields

    def _outputs_states(self) -> dict[str, object]:
        """The states among the outputs' fields (text, yes/no); numbers are measurements."""
        return {k: v for k, v in self._outputs_status().items() if isinstance(v, str | bool)}

    def _report(self, state: State, *, force: bool = False) -> None:
        """Write the status at once when a state changed (the loop's or an output's: a motion start shows
        on the grid within a frame), else every STATUS_INTERVAL."""
        now = time.monotonic()
        changed = state != self._state
        self._state = state
        if not (force or changed or now >= self._next_status) and self._outputs_states() == self._reported:
            return
        self._next_status = now + STATUS_INTERVAL
        self._write_status()

    def _write_status(self) -> None:
        status = self.status()
        self._reported = self._outputs_states()
        try:
            self.bus.write_status(self.config.slug, status.to_fields())
            self._bus_down = False
        except BUS_ERRORS as error:
            if not self._bus_down:
                log.warning(
                    "camera %s: Redis unavailable (%s); capture continues", self.config.slug, type(error).__name__
                )
            self._bus_down = True
            self._next_status = 0.0

    def write_final_status(self, state: State) -> None:
        """Called by the supervisor after stopping the loop (e.g. disabled)."""
        self._state = state
        try:
            self.bus.write_status(self.config.slug, self.status().to_fields())
        except BUS_ERRORS:
            pass
