"""Camera status for the registry's readers: sync reads for the admin and commands, and the facts
an operator asks about one camera (shared by /metrics, `manage.py nvr_status` and the API).

What each state means and when a camera counts as offline is decided in framebus.status;
this module only reads the bus and pairs each status with its camera's registry entry.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings

from cameras.models import Camera
from framebus import BUS_ERRORS, RawStatus, SyncBus
from framebus.crops import DetectorState, DetectorStatus
from framebus.status import CameraStatus
from recordings.recorder import RecordingState
from recordings.selectors import CameraUsage

_CACHE_SECONDS = 1.0  # the admin's list asks once per row: one Redis round trip per page instead


@lru_cache(maxsize=1)
def sync_bus() -> SyncBus:
    return SyncBus(settings.REDIS_URL, namespace=settings.NVR_REDIS_NAMESPACE)


_cache: dict[str, Any] = {"at": 0.0, "raw": {}}


def raw_statuses(slugs: list[str]) -> dict[str, RawStatus] | None:
    """Status hashes of `slugs` (briefly cached), or None when Redis cannot be read."""
    now = time.monotonic()
    cached: dict[str, RawStatus] | None = _cache["raw"]
    if now - _cache["at"] > _CACHE_SECONDS or cached is None or not set(slugs) <= cached.keys():
        try:
            cached = sync_bus().statuses(slugs)
        except BUS_ERRORS:
            cached = None
        _cache.update(at=now, raw=cached)
    return None if cached is None else {slug: cached.get(slug, {}) for slug in slugs}


def status_from(camera: Camera, raw: Mapping[str, object] | None) -> CameraStatus:
    """The camera's status from its status hash (None: Redis could not be read), with what the registry
    knows: turned off, or just added or changed (connecting until a worker claims it)."""
    return CameraStatus.from_fields(raw, enabled=camera.enabled, changed_at=camera.updated_at.timestamp())


def camera_status(camera: Camera) -> CameraStatus:
    """One camera's status for sync code (the admin's columns)."""
    raw = raw_statuses([camera.slug])
    return status_from(camera, None if raw is None else raw[camera.slug])


def recording_state(camera: Camera, status: CameraStatus) -> RecordingState:
    """What recording does now: RECORDING only while segments are being written, which needs a live camera.

    The recorder keeps saying "recording" through an outage (it records again as soon as packets come),
    so a camera that records but is not live is IDLE: nothing is written (issue #22).
    """
    if camera.record == Camera.Record.OFF:
        return RecordingState.OFF
    if status.recording == RecordingState.ERROR:
        return RecordingState.ERROR
    if status.recording == RecordingState.RECORDING and status.is_live:
        return RecordingState.RECORDING
    return RecordingState.IDLE


def camera_facts(camera: Camera, status: CameraStatus, usage: CameraUsage | None = None) -> dict[str, Any]:
    """What an operator asks about one camera, as plain values (JSON, tables, metric samples)."""
    usage = usage or CameraUsage()
    return {
        "name": camera.name,
        "slug": camera.slug,
        "kind": camera.kind,
        "enabled": camera.enabled,
        "state": status.state.value,
        "label": status.label,
        "fps": status.fps,
        "width": status.width or None,
        "height": status.height or None,
        "last_frame_age": status.frame_age(),
        "frames": status.frames if status.updated_ts else None,
        "reconnects": status.reconnects if status.updated_ts else None,
        "encode_ms": status.encode_ms or None,
        "decoded": status.decoded,
        "timestamps_repaired": status.timestamps_repaired,
        "packets_dropped": status.packets_dropped,
        "last_error": status.error,
        "sub_source": camera.sub_source,  # the URL only: credentials never leave their fields
        "sub_stream": status.sub_stream.value,  # where pictures come from (framebus.status.SubStream)
        "sub_stream_error": status.sub_stream_error,
        "sub_width": status.sub_width or None,
        "sub_height": status.sub_height or None,
        "sub_decoded": status.sub_decoded,
        "record": camera.record,
        "recording": recording_state(camera, status).value,
        "recording_now": recording_state(camera, status) is RecordingState.RECORDING,
        "recording_error": status.recording_error,
        "audio": camera.audio,
        "recording_audio": status.recording_audio,
        "motion": camera.motion,
        "motion_now": status.motion,
        "stored_bytes": usage.bytes,
        "stored_hours": usage.hours,
        "oldest_recording": usage.oldest.isoformat() if usage.oldest else None,
    }


def detector_status() -> DetectorStatus:
    """What object detection is doing, for the admin and /healthz: off (no model), not running, ready or an
    error (the detector's own words about its model). One reader of the detector's report."""
    if not settings.DETECTOR_MODEL:
        return DetectorStatus(DetectorState.OFF, "Object detection is off: no model (set DETECTOR_MODEL).")
    try:
        reported = sync_bus().detector_status()
    except BUS_ERRORS:
        reported = None
    if reported is None:
        return DetectorStatus(DetectorState.NOT_RUNNING, "No detector process reports (manage.py detect).")
    return reported


def detector_summary() -> str:
    """One line for the admin."""
    status = detector_status()
    if status.state is DetectorState.READY:
        width, height = status.input_size
        dropped = status.counts.get("dropped", 0)
        return f"Object detection: {status.model} ({width}x{height}) on {status.provider}; {dropped} crops dropped."
    return f"Object detection {status.state.value}: {status.message}"
