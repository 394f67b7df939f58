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
from framebus.status import STATUS_INTERVAL, CameraStatus, State, SubStream
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


class Dispatch:
    """Which outputs get a decoded picture: each at the rate it asked for (an FpsCap per output)."""

    def __init__(self) -> None:
        self.caps: dict[int, tuple[float, FpsCap]] = {}  # per output (by identity): its interval, and its cap

    def due(self, wants: Sequence[tuple[CaptureOutput, float | None]], now: float) -> list[CaptureOutput]:
        due = []
        for output, interval in wants:
            if interval is None:
                continue
            cap = self.caps.get(id(output))
            if cap is None or cap[0] != interval:
                cap = self.caps[id(output)] = (interval, FpsCap(1.0 / interval))
            if cap[1].take(now):
                due.append(output)
        return due


class SubPackets:
    """Hands the outputs that take the sub stream's packets (`packets_from_sub_stream`: the grid's H.264 relay)
    the sub stream's video packets, and the main stream's while the sub stream has failed.

    Both capture threads call it; one at a time gets through. A change of stream tells the outputs first
    (`disconnected`): the relay starts a new generation at the next keyframe, and its viewers restart on it.
    The sub stream wins: the main stream's packets are taken only when the sub stream sent none for
    SUB_SILENT seconds (a sub stream that reconnects sends packets before its state says live again).
    """

    SUB_SILENT = 2.0

    def __init__(self, slug: str, outputs: Sequence[CaptureOutput]) -> None:
        self.slug = slug
        self.outputs = list(outputs)
        self.lock = threading.Lock()
        self.feeding = SubStream.NONE  # LIVE: the sub stream's packets; FALLBACK: the main stream's
        self._last_sub = -float("inf")

    def from_sub(self, packet: Any) -> None:
        if packet.stream.type != "video":
            return
        with self.lock:
            self._last_sub = time.monotonic()
            self._hand(packet, SubStream.LIVE)

    def from_main(self, packet: Any) -> None:
        """A video packet of the main stream (its caller knows the sub stream has failed)."""
        with self.lock:
            if time.monotonic() - self._last_sub < self.SUB_SILENT:
                return
            self._hand(packet, SubStream.FALLBACK)

    def _hand(self, packet: Any, feeding: SubStream) -> None:
        if feeding is not self.feeding:
            which = "sub" if feeding is SubStream.LIVE else "main"
            if self.feeding is not SubStream.NONE:
                self._tell(f"packets now from the {which} stream")
            log.info("camera %s: the grid's H.264 relay takes the %s stream's packets", self.slug, which)
            self.feeding = feeding
        for output in self.outputs:
            output.packet(packet)

    def disconnected(self, reason: str, feeding: SubStream) -> None:
        """The stream that fed the outputs ended (`feeding`: which); nothing else is told."""
        with self.lock:
            if self.feeding is feeding:
                self._tell(reason)
                self.feeding = SubStream.NONE

    def _tell(self, reason: str) -> None:
        for output in self.outputs:
            try:
                output.disconnected(reason)
            except Exception:
                log.exception("camera %s: an output failed to close", self.slug)


class CaptureLoop(threading.Thread):
    """Captures one camera for its outputs until stop() is called.

    A camera with a sub stream (`config.sub_source`) is read over two connections: this thread reads the
    main stream (its packets go to every output: recording, relay), and a SubStreamReader thread reads the
    sub stream for the outputs that take their pictures from it (`pictures_from_sub_stream`: the grid's
    JPEGs, motion). While the sub stream has failed, this thread hands them pictures of the main stream
    instead, and the status says so (framebus.status.SubStream).
    """

    def __init__(
        self, config: CameraConfig, bus: SyncBus, outputs: Sequence[CaptureOutput], *, backoff_cap: float = 30.0
    ) -> None:
        super().__init__(name=f"capture-{config.slug}", daemon=True)
        self.config = config
        self.bus = bus
        self.stop_event = threading.Event()
        sub_config = config.sub_stream()
        prefer_sub = [o for o in outputs if sub_config is not None and getattr(o, "pictures_from_sub_stream", False)]
        sub_packets = [o for o in outputs if sub_config is not None and getattr(o, "packets_from_sub_stream", False)]
        self.all_outputs = [o for o in outputs if o not in sub_packets]  # they get the main stream's video packets
        self.sub_packets = SubPackets(config.slug, sub_packets) if sub_packets else None
        self.audio_outputs = [o for o in outputs if getattr(o, "takes_audio", False)]
        self.outputs = [o for o in outputs if o not in prefer_sub]  # fed pictures by this thread, always
        self.sub_outputs = prefer_sub  # fed by the sub stream while it is live, else by this thread
        self.pictures_lock = threading.Lock()  # one thread at a time hands pictures to an output
        self.sub = (
            SubStreamReader(
                sub_config,
                self.sub_outputs,
                self.pictures_lock,
                self.stop_event,
                backoff_cap=backoff_cap,
                packets=self.sub_packets,
            )
            if sub_config is not None and (prefer_sub or sub_packets)
            else None
        )
        self.backoff = Backoff(1.0, backoff_cap)
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
        if self.sub is not None:
            self.sub.start()
        try:
            self._run()
        finally:
            self._stop_sub()

    def _stop_sub(self) -> None:
        """End the sub stream's thread (it shares the stop event), then what its outputs hold open."""
        if self.sub is None:
            return
        self.stop_event.set()
        self.sub.join(timeout=10.0)
        for output in self.sub_outputs + (self.sub_packets.outputs if self.sub_packets is not None else []):
            try:
                output.disconnected("stopped")
            except Exception:
                log.exception("camera %s: an output failed to close", self.config.slug)

    def _feeding(self) -> list[CaptureOutput]:
        """The outputs this thread hands pictures to now: its own, and the sub stream's once that failed.

        Not while the sub stream is first connecting (under a second): the main stream would be decoded for
        nothing (bench substreams: a recorded camera with motion on its sub stream decodes no main picture)."""
        if self.sub is not None and self.sub.state is not SubStream.FALLBACK:
            return self.outputs
        return self.outputs + self.sub_outputs

    def _run(self) -> None:
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
        """Tell every output it feeds (an outage is a gap in the recording, an open event ends), then close the
        source. Outputs a live sub stream feeds go on with it."""
        for output in self._feeding():
            try:
                output.disconnected(reason)
            except Exception:
                log.exception("camera %s: an output failed to close", self.config.slug)
        if self.sub_packets is not None:
            self.sub_packets.disconnected(reason, SubStream.FALLBACK)
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

    def _packet(self, packet: Any) -> None:
        if packet.stream.type == "audio":  # sound only to the outputs that ask for it (cameras.outputs)
            for output in self.audio_outputs:
                output.packet(packet)
            return
        for output in self.all_outputs:
            output.packet(packet)
        if self.sub_packets is not None and self.sub is not None and self.sub.state is SubStream.FALLBACK:
            self.sub_packets.from_main(packet)

    def _capture(self, source: FrameSource) -> None:
        intake = FpsCap(self.config.max_fps)  # the rate the camera is captured at, decoded or not
        dispatch = Dispatch()
        while not self.stop_event.is_set():
            wants = [(output, output.frame_interval()) for output in self._feeding()]
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
            due = dispatch.due(wants, now) if decoded else []
            if due:
                image = fit_width(source.retrieve(), self.config.max_width)
                self._resolution = (image.shape[1], image.shape[0])
                with self.pictures_lock:
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
            clock_offset=source.clock_offset() if source is not None else None,
        )
        return replace(status, **self._outputs_status())

    def _outputs_status(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for output in self.all_outputs + (self.sub_packets.outputs if self.sub_packets is not None else []):
            fields.update(output.status())
        if self.sub is not None:
            fields.update(self.sub.status())
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


class SubStreamReader(threading.Thread):
    """A camera's sub stream: a second connection whose pictures feed the outputs that take them from it.

    Its video packets go only to the outputs that take them from it (`packets`: the grid's H.264 relay; the
    main stream is the one recorded); it decodes only while one of its outputs asks for a picture. It
    reconnects by itself, with backoff, until the camera's loop stops (`stop_event` is the loop's);
    meanwhile the loop feeds those outputs from the main stream.
    """

    def __init__(
        self,
        config: CameraConfig,
        outputs: Sequence[CaptureOutput],
        pictures_lock: threading.Lock,
        stop_event: threading.Event,
        *,
        backoff_cap: float = 30.0,
        packets: SubPackets | None = None,
    ) -> None:
        super().__init__(name=f"capture-{config.slug}-sub", daemon=True)
        self.config = config
        self.outputs = list(outputs)
        self.packets = packets
        self.pictures_lock = pictures_lock
        self.stop_event = stop_event
        self.backoff = Backoff(1.0, backoff_cap)
        self.state = SubStream.CONNECTING
        self.error = ""
        self.size = (0, 0)
        self.decoded = 0  # of earlier connections; the current source counts its own
        self._source: FrameSource | None = None

    @property
    def live(self) -> bool:
        return self.state is SubStream.LIVE

    def run(self) -> None:
        while not self.stop_event.is_set():
            source = None
            try:
                source = source_for(self.config)  # the sub stream is not recorded: its packets only to `packets`
                if self.packets is not None and source.delivers_packets:
                    source.packet_sink = self.packets.from_sub
                source.open()
                self._source = source
                self._capture(source)
            except SourceError as error:
                self._failed(str(error))
            except Exception as error:
                self._failed(f"internal error ({type(error).__name__})")
                log.exception("camera %s: sub stream failed", self.config.slug)
            finally:
                if self.packets is not None:
                    self.packets.disconnected("the sub stream ended", SubStream.LIVE)
                if source is not None:
                    self.decoded += source.decoded
                    self._source = None
                    try:
                        source.close()
                    except Exception:
                        log.debug("camera %s: sub stream close failed", self.config.slug, exc_info=True)
            self.stop_event.wait(self.backoff.next())

    def _failed(self, reason: str) -> None:
        if self.stop_event.is_set():
            return
        if self.state is not SubStream.FALLBACK or reason != self.error:
            log.warning("camera %s: sub stream: %s (pictures from the main stream)", self.config.slug, reason)
        self.state, self.error = SubStream.FALLBACK, reason

    def _capture(self, source: FrameSource) -> None:
        dispatch = Dispatch()
        while not self.stop_event.is_set():
            wants = [(output, output.frame_interval()) for output in self.outputs]
            decoded = source.grab(decode=any(interval is not None for _, interval in wants))
            if (size := source.size()) is not None:
                self.size = fitted_size(*size, self.config.max_width)
            if self.state is not SubStream.LIVE:
                log.info("camera %s: sub stream live (pictures from it)", self.config.slug)
                self.state, self.error = SubStream.LIVE, ""
                self.backoff.reset()
            due = dispatch.due(wants, time.monotonic()) if decoded else []
            if due:
                image = fit_width(source.retrieve(), self.config.max_width)
                self.size = (image.shape[1], image.shape[0])
                ts = time.time()
                with self.pictures_lock:
                    for output in due:
                        output.frame(image, ts)

    def status(self) -> dict[str, Any]:
        source = self._source
        return {
            "sub_stream": self.state,
            "sub_stream_error": self.error,
            "sub_width": self.size[0],
            "sub_height": self.size[1],
            "sub_decoded": self.decoded + (source.decoded if source is not None else 0),
        }
