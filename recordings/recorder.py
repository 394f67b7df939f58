"""A capture output that records its camera: packets (stream copy) or frames (encoded once).

The capture loop owns one Recorder per camera while it holds the camera's lease, so only the
lease holder records, and a takeover starts a new segment. A Recorder never raises into the
capture loop: a full disk, a read-only or missing store, or denied permission turns into a
recording state with an operator-readable error (shown in the admin, the API, nvr_status and
/metrics), live view goes on, and recording tries again every RETRY_SECONDS by itself.

It is one of the capture loop's outputs (cameras.outputs.CaptureOutput, matched by shape: recordings
sits below cameras and never imports it). A camera that sends compressed video is recorded from its
packets and asks for no decoded frames; one that does not asks for every frame the camera is captured at.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

import av
import numpy as np
from django.conf import settings
from django.db import close_old_connections

from recordings.store import Store, describe_failure, get_store
from recordings.writer import ClosedSegment, FrameEncoder, PacketWriter

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0  # after a store error, the next attempt to write


class RecordingState(StrEnum):
    OFF = "off"
    RECORDING = "recording"
    ERROR = "error"
    IDLE = "idle"  # readers' word (cameras.status): recording is on, but nothing is written (the camera is not live)


class CameraToRecord(Protocol):
    """What the recorder needs of a camera's config (cameras.config.CameraConfig has it)."""

    @property
    def id(self) -> int | None: ...

    @property
    def uid(self) -> str: ...

    @property
    def slug(self) -> str: ...

    @property
    def max_fps(self) -> int: ...

    @property
    def audio(self) -> bool: ...


def index_segment(camera_id: int | None, closed: ClosedSegment) -> None:
    """Add a closed segment to the index (its file is complete in the store; the reconcile retries a failure)."""
    from recordings.models import Segment

    if camera_id is None:
        return
    try:
        close_old_connections()
        Segment.objects.create(
            camera_id=camera_id,
            start=closed.start,
            end=closed.start + dt.timedelta(seconds=closed.duration),
            duration=closed.duration,
            bytes=closed.bytes,
            codec=closed.codec,
            width=closed.width,
            height=closed.height,
            key=closed.key,
            sha256=closed.sha256,
        )
    except Exception:  # the file stays; reconcile indexes it at the next start
        log.warning("camera %s: could not index %s; the reconcile will", camera_id, closed.key, exc_info=True)


class Recorder:
    """One camera's recording, fed by its capture loop (from the capture thread only)."""

    takes_audio = True  # the camera's sound is recorded with its video (recordings.audio)

    def __init__(self, camera: CameraToRecord, *, from_packets: bool, store: Store | None = None) -> None:
        self.camera = camera
        self.from_packets = from_packets
        self.store = store or get_store()
        seconds = settings.RECORDINGS_SEGMENT_SECONDS
        self.packets = PacketWriter(
            self.store, camera.uid, segment_seconds=seconds, on_closed=self._closed, audio=camera.audio
        )
        self.frames = FrameEncoder(
            self.store, camera.uid, fps=camera.max_fps, segment_seconds=seconds, on_closed=self._closed
        )
        self.state = RecordingState.RECORDING
        self.error = ""
        self._retry_at = 0.0

    # The capture output ----------------------------------------------------------------------
    def frame_interval(self) -> float | None:
        """Packets need no decoding; a camera without them is recorded from every frame captured."""
        return None if self.from_packets else 1.0 / self.camera.max_fps

    def packet(self, packet: av.Packet) -> None:
        """A packet as the camera sent it (stream copy), its timestamps already checked where it entered."""
        if not self.from_packets or self._paused():
            return
        try:
            if packet.stream.type == "audio":
                self.packets.write_audio(packet)  # into the open segment; cut at video keyframes only
            else:
                self.packets.write(packet, packet.stream, dt.datetime.now(dt.UTC))
        except Exception as error:  # noqa: BLE001 - never into the capture loop
            self._failed(error)

    def frame(self, image: np.ndarray, ts: float) -> None:
        """A decoded BGR frame of a source without compressed video: encoded once."""
        if self._paused():
            return
        try:
            self.frames.write(image, dt.datetime.fromtimestamp(ts, dt.UTC))
        except Exception as error:  # noqa: BLE001
            self._failed(error)

    def disconnected(self, reason: str) -> None:
        """The camera went away (or the loop stops): close the open segment, so an outage is a gap."""
        try:
            self.packets.close()
            self.frames.end_run()
        except Exception as error:  # noqa: BLE001
            self._failed(error)

    def status(self) -> Mapping[str, object]:
        return {
            "recording": self.state.value,
            "recording_error": self.error,
            "recording_audio": self.packets.audio_plan.describe if self.from_packets else "",
        }

    # Internals ----------------------------------------------------------------------------
    def _paused(self) -> bool:
        if self.state is not RecordingState.ERROR:
            return False
        if time.monotonic() < self._retry_at:
            return True
        self.state, self.error = RecordingState.RECORDING, ""  # try again: the cause may be gone
        log.info("camera %s: recording resumes", self.camera.slug)
        return False

    def _failed(self, error: BaseException) -> None:
        problem = describe_failure(error)
        if self.state is not RecordingState.ERROR or problem != self.error:
            log.warning("camera %s: recording stopped: %s (live view goes on)", self.camera.slug, problem)
        self.state, self.error = RecordingState.ERROR, problem
        self._retry_at = time.monotonic() + RETRY_SECONDS
        for writer in (self.packets, self.frames):
            current = writer.current
            writer.current = None
            if current is not None:
                current.abandon()

    def _closed(self, closed: ClosedSegment) -> None:
        index_segment(self.camera.id, closed)
