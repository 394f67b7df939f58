"""What a capture loop calls to record its camera: packets (stream copy) or frames (encoded once).

The capture loop owns one Recorder per camera while it holds the camera's lease, so only the
lease holder records, and a takeover starts a new segment. A Recorder never raises into the
capture loop: a full disk, a read-only or missing store, or denied permission turns into a
recording state with an operator-readable error (shown in the admin, the API, nvr_status and
/metrics), live view goes on, and recording tries again every RETRY_SECONDS by itself.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import time
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import av
from django.conf import settings
from django.db import close_old_connections

from recordings.writer import ClosedSegment, FrameEncoder, PacketWriter

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0  # after a store error, the next attempt to write


class RecordingState(StrEnum):
    OFF = "off"
    RECORDING = "recording"
    ERROR = "error"


class CameraToRecord(Protocol):
    """What the recorder needs of a camera's config (cameras.config.CameraConfig has it)."""

    @property
    def id(self) -> int | None: ...

    @property
    def slug(self) -> str: ...

    @property
    def max_fps(self) -> int: ...


_STORE_PROBLEMS = {
    errno.ENOSPC: "the recordings disk is full",
    errno.EDQUOT: "the recordings disk quota is exceeded",
    errno.EROFS: "the recordings store is read-only",
    errno.EACCES: "no permission to write to the recordings store",
    errno.EPERM: "no permission to write to the recordings store",
    errno.ENOENT: "the recordings store does not exist",
}


def store_problem(error: BaseException) -> str:
    """An operator-readable reason for a failed write (no paths with secrets: none are in paths)."""
    code = getattr(error, "errno", None)
    if code in _STORE_PROBLEMS:
        return _STORE_PROBLEMS[code]
    return f"writing a recording failed ({type(error).__name__})"


def index_segment(camera_id: int | None, closed: ClosedSegment) -> None:
    """Add a closed segment to the index (its file is complete on disk; the reconcile retries a failure)."""
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
            path=closed.relative,
        )
    except Exception:  # the file stays; reconcile indexes it at the next start
        log.warning("camera %s: could not index %s; the reconcile will", closed.slug, closed.relative, exc_info=True)


class Recorder:
    """One camera's recording, fed by its capture loop (from the capture thread only)."""

    def __init__(self, camera: CameraToRecord, *, store: Path | None = None) -> None:
        self.camera = camera
        self.store = Path(store or settings.RECORDINGS_DIR)
        seconds = settings.RECORDINGS_SEGMENT_SECONDS
        self.packets = PacketWriter(self.store, camera.slug, segment_seconds=seconds, on_closed=self._closed)
        self.frames = FrameEncoder(
            self.store, camera.slug, fps=camera.max_fps, segment_seconds=seconds, on_closed=self._closed
        )
        self.state = RecordingState.RECORDING
        self.error = ""
        self.segments = 0
        self._retry_at = 0.0

    # What the capture loop calls -------------------------------------------------------
    def packet(self, packet: av.Packet, stream: av.VideoStream) -> None:
        """A packet as the camera sent it (stream copy)."""
        if self._paused():
            return
        try:
            self.packets.write(packet, stream, dt.datetime.now(dt.UTC))
        except Exception as error:  # noqa: BLE001 - never into the capture loop
            self._failed(error)

    def frame(self, image, captured_at: float) -> None:  # type: ignore[no-untyped-def]
        """A decoded BGR frame of a source without compressed video: encoded once."""
        if self._paused():
            return
        try:
            self.frames.write(image, dt.datetime.fromtimestamp(captured_at, dt.UTC))
        except Exception as error:  # noqa: BLE001
            self._failed(error)

    def disconnected(self) -> None:
        """The camera went away (or the loop stops): close the open segment, so an outage is a gap."""
        try:
            self.packets.close()
            self.frames.end_run()
        except Exception as error:  # noqa: BLE001
            self._failed(error)

    def status_fields(self) -> dict[str, str]:
        return {"recording": self.state.value, "recording_error": self.error}

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
        problem = store_problem(error)
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
        self.segments += 1
        index_segment(self.camera.id, closed)
