"""Crops on their way to the object detector, and the detector's status: what both sides share.

The capture side (events.feed) pushes a `Crop` (a JPEG of the region around motion, where it sits in
the frame, and the camera's object settings) onto one list per install; the detector process
(detection.worker) pops the newest first. The list is trimmed to CROP_QUEUE_LIMIT on every push, so it
never grows while the detector is slow, stopped or restarting: the oldest crops are dropped and counted
(`detect_dropped`). Nothing here knows a model or a label: imports nothing of ours (invariant 7).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from enum import StrEnum

CROP_QUEUE_LIMIT = 64  # crops waiting for the detector, every camera together; beyond it the oldest go
CROP_MAX_AGE = 2.0  # seconds: an older crop is dropped by the detector unseen (counted): it fell behind
DETECTOR_STATUS_TTL = 10  # seconds: a detector that stopped writing its status is "not running"
OBJECTS_TTL = 30  # seconds: a camera's objects key outlives a detector that died with events open this long
_LENGTH = struct.Struct("!I")


@dataclass(frozen=True)
class Crop:
    """A piece of one camera's frame for the detector: `box` is where it sits, normalized (x0, y0, x1, y1)."""

    camera: dict  # the camera's object settings (events.feed.camera_settings): no ORM in the detector's hot path
    ts: float  # capture time of the frame (Unix seconds)
    box: tuple[float, float, float, float]
    jpeg: bytes
    sent: float = 0.0  # when it was pushed (Unix seconds): the detector drops what waited past CROP_MAX_AGE

    def pack(self) -> bytes:
        header = json.dumps({"camera": self.camera, "ts": self.ts, "box": self.box, "sent": self.sent}).encode()
        return _LENGTH.pack(len(header)) + header + self.jpeg

    @classmethod
    def unpack(cls, data: bytes) -> Crop:
        (length,) = _LENGTH.unpack_from(data)
        header = json.loads(data[_LENGTH.size : _LENGTH.size + length])
        box = tuple(float(v) for v in header["box"])
        if len(box) != 4:
            raise ValueError("a crop's box has four corners")
        jpeg = bytes(data[_LENGTH.size + length :])
        return cls(header["camera"], float(header["ts"]), box, jpeg, float(header.get("sent", 0.0)))


class DetectorState(StrEnum):
    """What the admin and /healthz say about object detection."""

    OFF = "off"  # no model configured: detection is off, motion events as before
    NOT_RUNNING = "not running"  # a model is configured but no detector process reports
    READY = "ready"
    ERROR = "error"  # the model could not be used: `message` says why


@dataclass(frozen=True)
class DetectorStatus:
    """The detector process's report (one decoder for every reader: `from_json`)."""

    state: DetectorState
    message: str = ""
    provider: str = ""  # the execution provider ONNX Runtime actually gave (CPUExecutionProvider, ...)
    model: str = ""  # the model file's name (never a full path of the host)
    input_size: tuple[int, int] = (0, 0)  # (width, height) read from the model
    counts: dict[str, int] = field(default_factory=dict)  # detected, dropped, stale, per whole run

    def to_json(self) -> str:
        return json.dumps(
            {
                "state": self.state.value,
                "message": self.message,
                "provider": self.provider,
                "model": self.model,
                "input_size": list(self.input_size),
                "counts": self.counts,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> DetectorStatus | None:
        if not raw:
            return None
        data = json.loads(raw)
        return cls(
            state=DetectorState(data.get("state", DetectorState.ERROR)),
            message=str(data.get("message", "")),
            provider=str(data.get("provider", "")),
            model=str(data.get("model", "")),
            input_size=tuple(data.get("input_size", (0, 0))),
            counts={k: int(v) for k, v in dict(data.get("counts", {})).items()},
        )

    @property
    def healthy(self) -> bool:
        return self.state in (DetectorState.OFF, DetectorState.READY)
