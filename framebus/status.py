"""What state a camera is in, and how long silence may last before it counts as offline.

This file answers "what happens when a camera goes offline". A capture loop writes its
camera's status to the bus every STATUS_INTERVAL seconds, and at once whenever the state
changes: the moment the loop knows (a read fails, the camera refuses the password, the
supervisor turns the camera off), every reader knows within one Redis round trip.
Readers never invent a state of their own: they build a CameraStatus from what the bus
returns, and `CameraStatus.from_fields` is the one place that decides.

- The worker says so: the state it wrote (offline, error, disabled...) is the state.
- The worker is gone (process killed, host down): its status stops being renewed; after
  STATUS_STALE_AFTER seconds it reads as offline ("capture stopped reporting").
- Frames stop although the worker still reports online (a frozen camera): after
  FRAME_STALE_AFTER seconds snapshots refuse the old frame and live viewers see the
  offline card.
- The camera is turned off in the registry: disabled ("Turned off"), whatever Redis says.
- No worker has reported the camera yet: connecting for CLAIM_WITHIN seconds after the registry
  added or changed it (a supervisor claims a camera within its poll and lease), offline ("no capture
  worker") after that.
- Redis cannot be read: unknown.

Imports nothing of ours, like the rest of the frame bus.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

# Thresholds (seconds). Every reader of camera liveness uses these and no other numbers.
STATUS_INTERVAL = 1.0  # a capture loop rewrites its status this often, and at once on every change
STATUS_STALE_AFTER = 3.5  # no status rewrite for this long (3 missed writes): the worker is gone
FRAME_STALE_AFTER = 3.0  # the newest frame is older than this: not live (snapshots 503, viewers see the card)
# Storage lifetimes in Redis: longer than the thresholds above so that a stale status (with its
# last error) and the last frame stay readable for the offline card; the thresholds decide, not these.
STATUS_TTL = 15
FRAME_TTL = 10
# A camera the registry added or changed this recently, that no worker reports yet, is connecting: a
# supervisor claims it within its poll (2 s) or, when another held it, its lease (8 s); then offline.
CLAIM_WITHIN = 20.0
# A web process's count of its viewers of a camera stands this long (it renews it every second).
VIEWERS_STALE_AFTER = 5.0
# The dashboard reconnects its grid stream after this much silence. Viewers get an offline card
# every second from a silent camera, so silence this long means the connection itself is broken.
CLIENT_STALL_AFTER = 10.0


class State(StrEnum):
    """A camera's capture state; the value is what travels on the bus and in the API."""

    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"
    ERROR = "error"  # a problem reconnecting cannot fix by itself (refused password, missing file)
    DISABLED = "disabled"  # turned off in the registry
    UNKNOWN = "unknown"  # the bus (Redis) could not be read

    @property
    def label(self) -> str:
        """The state in an operator's words (grid tiles, admin, pages)."""
        return _LABELS[self]

    @property
    def is_live(self) -> bool:
        return self is State.ONLINE


_LABELS = {
    State.CONNECTING: "Connecting…",
    State.ONLINE: "Live",
    State.OFFLINE: "Offline",
    State.ERROR: "Error",
    State.DISABLED: "Turned off",
    State.UNKNOWN: "Status unknown",
}


class SubStream(StrEnum):
    """Where a camera with a sub stream takes its pictures (grid, motion) from; the value travels on the bus."""

    NONE = ""  # the camera has no sub stream: the main stream does everything
    CONNECTING = "connecting"  # first opening (under a second): pictures wait for it
    LIVE = "live"  # pictures come from the sub stream; the main stream is only recorded (and relayed)
    FALLBACK = "fallback"  # the sub stream failed (sub_stream_error says why): pictures come from the main stream

    @property
    def label(self) -> str:
        return _SUB_LABELS[self]


_SUB_LABELS = {
    SubStream.NONE: "",
    SubStream.CONNECTING: "sub stream connecting",
    SubStream.LIVE: "pictures from the sub stream",
    SubStream.FALLBACK: "sub stream failed: pictures from the main stream",
}

NO_WORKER = "no capture worker reports this camera"
AWAITING_WORKER = "waiting for a capture worker to start it"
WORKER_GONE = "capture stopped reporting"
BUS_DOWN = "Redis unavailable"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(raw: Mapping[str, object], key: str) -> float:
    try:
        return float(_text(raw.get(key) or 0))
    except ValueError:
        return 0.0


def _sub_stream(value: object) -> SubStream:
    try:
        return SubStream(_text(value or ""))
    except ValueError:
        return SubStream.NONE


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """One camera's status as every reader sees it (admin, API, WebSocket, metrics, pages, hub)."""

    state: State
    fps: float = 0.0
    width: int = 0
    height: int = 0
    last_frame_ts: float = 0.0  # Unix time of the newest frame the worker captured
    updated_ts: float = 0.0  # Unix time the worker last wrote this status
    error: str = ""
    reconnects: int = 0
    frames: int = 0
    encode_ms: float = 0.0  # moving average of the JPEG encoding per live frame (0 while nobody watches)
    decoded: int = 0  # pictures decoded since the loop started (none while no output asks for one)
    timestamps_repaired: int = 0  # packets whose timestamps were repaired where they entered (cameras.timestamps)
    packets_dropped: int = 0  # packets dropped there (no timestamp, or one going backwards)
    recording: str = ""  # the recorder's state, when the camera records
    recording_error: str = ""
    recording_audio: str = ""  # the camera's sound in its recording: "aac (copied)", "pcm_mulaw (converted to AAC)",
    # "none: <why>" for a codec that cannot be recorded, "" for none
    motion: bool = False  # motion is being detected right now (an event is open)
    sub_stream: SubStream = SubStream.NONE  # where the pictures come from, for a camera with a sub stream
    sub_stream_error: str = ""  # why the sub stream failed (FALLBACK)
    sub_width: int = 0  # the sub stream's picture size, once known
    sub_height: int = 0
    sub_decoded: int = 0  # pictures decoded from the sub stream since the loop started
    objects: str = ""  # labels of the open object events, comma-separated (detection/, read back by events.feed)
    clock_offset: float | None = None  # s the camera's clock is ahead of ours (RTSP sender reports); None: unknown

    @classmethod
    def from_fields(
        cls,
        raw: Mapping[str, object] | None,
        *,
        enabled: bool = True,
        changed_at: float = 0.0,
        now: float | None = None,
    ) -> CameraStatus:
        """Decide a camera's status from its status hash (`raw`; None: Redis could not be read).

        `changed_at`: when the registry last added or changed the camera (Unix time), if the reader knows.
        """
        if not enabled:
            return cls(State.DISABLED)
        if raw is None:
            return cls(State.UNKNOWN, error=BUS_DOWN)
        now = time.time() if now is None else now
        if not raw:
            if now - changed_at < CLAIM_WITHIN:
                return cls(State.CONNECTING, error=AWAITING_WORKER)
            return cls(State.OFFLINE, error=NO_WORKER)
        fields = {_text(k): v for k, v in raw.items()}
        try:
            state = State(_text(fields.get("state") or State.OFFLINE))
        except ValueError:
            state = State.OFFLINE
        status = cls(
            state=state,
            fps=_number(fields, "fps"),
            width=int(_number(fields, "width")),
            height=int(_number(fields, "height")),
            last_frame_ts=_number(fields, "last_frame_ts"),
            updated_ts=_number(fields, "updated_ts"),
            error=_text(fields.get("last_error") or ""),
            reconnects=int(_number(fields, "reconnects")),
            frames=int(_number(fields, "frames")),
            encode_ms=_number(fields, "encode_ms"),
            decoded=int(_number(fields, "decoded")),
            timestamps_repaired=int(_number(fields, "timestamps_repaired")),
            packets_dropped=int(_number(fields, "packets_dropped")),
            recording=_text(fields.get("recording") or ""),
            recording_error=_text(fields.get("recording_error") or ""),
            recording_audio=_text(fields.get("recording_audio") or ""),
            motion=_text(fields.get("motion") or "0") == "1",
            sub_stream=_sub_stream(fields.get("sub_stream")),
            sub_stream_error=_text(fields.get("sub_stream_error") or ""),
            sub_width=int(_number(fields, "sub_width")),
            sub_height=int(_number(fields, "sub_height")),
            sub_decoded=int(_number(fields, "sub_decoded")),
            objects=_text(fields.get("objects") or ""),
            clock_offset=_number(fields, "clock_offset") if _text(fields.get("clock_offset") or "") else None,
        )
        if status.state is not State.DISABLED and status.updated_ts and now - status.updated_ts > STATUS_STALE_AFTER:
            return replace(
                status, state=State.OFFLINE, fps=0.0, motion=False, objects="", error=status.error or WORKER_GONE
            )
        if status.state.is_live and status.last_frame_ts and now - status.last_frame_ts > FRAME_STALE_AFTER:
            return replace(
                status, state=State.OFFLINE, fps=0.0, motion=False, objects="", error=status.error or "no recent frame"
            )
        if not status.state.is_live:
            status = replace(status, fps=0.0, motion=False, objects="")
        return status

    @property
    def label(self) -> str:
        return self.state.label

    @property
    def is_live(self) -> bool:
        return self.state.is_live

    def frame_age(self, now: float | None = None) -> float | None:
        """Seconds since the newest frame (one decimal), or None when there never was one."""
        if not self.last_frame_ts:
            return None
        return round((time.time() if now is None else now) - self.last_frame_ts, 1)

    def reason(self) -> str:
        """Why the camera is not live, in one phrase (the offline card, snapshot refusals)."""
        return self.error or self.state.label.lower()

    def to_fields(self) -> dict[str, str | float | int]:
        """The status hash a capture loop writes (the inverse of from_fields)."""
        fields: dict[str, str | float | int] = {k: v for k, v in asdict(self).items() if k != "error"}
        fields["state"] = self.state.value
        fields["last_error"] = self.error
        fields["motion"] = int(self.motion)
        fields["sub_stream"] = self.sub_stream.value
        fields["clock_offset"] = "" if self.clock_offset is None else round(self.clock_offset, 3)
        return fields
