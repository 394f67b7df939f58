"""Health events: a camera offline, recording failing, the store short of space, tampering.

Each problem is one Event row of its kind (events.models.EventKind), opened when it is decided and
closed when it is over, sent to webhooks and MQTT like a motion event (`type` start / end, `kind`).
The database holds which problems are open, so a supervisor that takes a camera over (or restarts)
closes the problem another one opened, and never opens it twice.

Who decides (docs/design.md, "Health"), each in one place, never the web processes:
- a camera offline, recording failing, its clock off: the capture supervisor that holds the camera, from
  its capture loop's state every tick (`CameraHealth`, fed by cameras.supervisor; the clock offset is
  measured by cameras.sources from an RTSP camera's RTCP sender reports);
- the store low on space or over its budget: the keeper, after each retention pass (recordings.keeper);
- tampering: the motion watcher, on the small grey pictures it already gets (events.tamper).

Thresholds, in one place (the grace period is a setting: NVR_HEALTH_OFFLINE_GRACE).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from events.kinds import EventKind
from events.tracker import Change
from framebus.status import State
from imaging import encode_jpeg, fit_width

log = logging.getLogger(__name__)

# Thresholds ---------------------------------------------------------------------------------------
DEFAULT_OFFLINE_GRACE = 30.0  # s: not live this long is offline (NVR_HEALTH_OFFLINE_GRACE); a reconnect pages nobody
RECORDING_RESUMED_AFTER = 15.0  # s of recording without an error before "resumed" (the recorder retries every 10 s)
CLOCK_OFF_BY = 10.0  # s: a camera's clock further than this from ours is a problem (its timestamps, its overlay)
CLOCK_BACK_WITHIN = 5.0  # s: and over once it is this close again (no flapping at the limit)
THUMBNAIL_WIDTH = 240

Notify = Callable[[str, dict], None]

CAMERA_STATES_LIVE = (State.ONLINE,)  # the capture states in which a camera is not offline
RECORDING_FAILED = "error"  # recordings.recorder.RecordingState.ERROR's value


class CameraLike(Protocol):
    @property
    def id(self) -> int | None: ...

    @property
    def uid(self) -> str: ...

    @property
    def slug(self) -> str: ...

    @property
    def name(self) -> str: ...


def offline_grace() -> float:
    return float(getattr(settings, "NVR_HEALTH_OFFLINE_GRACE", DEFAULT_OFFLINE_GRACE))


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def payload(row: Any, camera: CameraLike | None, change: Change) -> dict:
    """A health event as webhooks and MQTT get it: a motion event's fields, and `kind` and `detail`."""
    return {
        "id": row.pk,
        "camera": camera.slug if camera is not None else None,
        "camera_name": camera.name if camera is not None else "",
        "type": str(change),
        "kind": str(row.kind),
        "detail": row.detail,
        "start": row.start.astimezone(dt.UTC).isoformat(),
        "end": row.end.astimezone(dt.UTC).isoformat() if row.end else None,
        "peak_score": 0.0,
        "zones": [],
    }


def _of(camera_id: int | None) -> dict[str, object]:
    """The lookup of a camera's rows, or the store's (no camera)."""
    return {"camera__isnull": True} if camera_id is None else {"camera_id": camera_id}


class Problems:
    """Opens and closes health events (rows, pictures, notifications); any thread, never raises."""

    def __init__(self, notify: Notify | None = None, pictures: Any = None) -> None:
        self.notify = notify or (lambda kind, message: None)
        self.pictures = pictures  # events.watcher.PictureStore: a tamper event's snapshot

    def open(
        self, kind: EventKind, camera: CameraLike | None, detail: str, at: float, image: np.ndarray | None = None
    ) -> bool:
        """Open a `kind` problem unless one is open already; True when this call opened it."""
        from events.models import Event

        try:
            close_old_connections()
            rows = Event.objects.filter(kind=kind, end__isnull=True, **_of(camera.id if camera else None))
            if rows.exists():
                return False
            row = Event.objects.create(
                camera_id=camera.id if camera else None, kind=kind, detail=detail[:300], start=_utc(at)
            )
            if image is not None and camera is not None and self.pictures is not None:
                snapshot, thumbnail = self.pictures.picture_keys(camera.uid, row.pk, row.start)
                self.pictures.put(snapshot, encode_jpeg(image, 80))
                self.pictures.put(thumbnail, encode_jpeg(fit_width(image, THUMBNAIL_WIDTH), 75))
                row.snapshot = snapshot
                row.save(update_fields=["snapshot"])
        except DatabaseError as error:
            log.warning("health: %s not saved (database: %s)", kind, type(error).__name__)
            return False
        except Exception:
            log.warning("health: %s not saved", kind, exc_info=True)
            return False
        log.warning("health: %s (%s): %s", kind.label, camera.slug if camera else "the store", detail)
        self.notify(Change.START, payload(row, camera, Change.START))
        return True

    def close(self, kind: EventKind, camera: CameraLike | None, at: float) -> bool:
        """Close the open `kind` problem, if any; True when one was closed."""
        from events.models import Event

        try:
            close_old_connections()
            rows = list(Event.objects.filter(kind=kind, end__isnull=True, **_of(camera.id if camera else None)))
            for row in rows:
                row.end = max(_utc(at), row.start)
                row.save(update_fields=["end"])
        except DatabaseError as error:
            log.warning("health: end of %s not saved (database: %s)", kind, type(error).__name__)
            return False
        for row in rows:
            log.info("health: %s (%s) is over", kind.label, camera.slug if camera else "the store")
            self.notify(Change.END, payload(row, camera, Change.END))
        return bool(rows)


def open_problems(camera_id: int | None) -> frozenset[str]:
    """The kinds of the camera's open health problems (None: the store's); empty when the database is away."""
    from events.models import Event

    try:
        close_old_connections()
        rows = Event.objects.filter(end__isnull=True, **_of(camera_id)).exclude(kind=EventKind.MOTION)
        return frozenset(rows.values_list("kind", flat=True))
    except DatabaseError:
        return frozenset()


@dataclass
class CameraHealth:
    """One camera's offline and recording problems, decided from its capture loop's state at each tick."""

    camera: CameraLike
    problems: Problems
    grace: float = field(default_factory=offline_grace)
    _not_live_since: float | None = None
    _recording_fine_since: float | None = None
    _offline: bool | None = None  # None: not known yet (an open row from before is closed when live)
    _failing: bool | None = None
    _clock_off: bool | None = None

    def update(
        self,
        state: str,
        error: str,
        recording: str,
        recording_error: str,
        now: float,
        *,
        clock_offset: float | None = None,
    ) -> None:
        """Feed the loop's state (framebus.status.State value), its recorder's and the camera's clock offset
        (seconds ahead of ours; None: not measured), at `now` (Unix seconds)."""
        live = state in CAMERA_STATES_LIVE
        if live and clock_offset is not None:
            self._check_clock(clock_offset, now)
        if live:
            self._not_live_since = None
            if self._offline is not False:
                self.problems.close(EventKind.OFFLINE, self.camera, now)
                self._offline = False
        else:
            if self._not_live_since is None:
                self._not_live_since = now
            if not self._offline and now - self._not_live_since >= self.grace:
                self.problems.open(EventKind.OFFLINE, self.camera, error or state, self._not_live_since)
                self._offline = True
        if not live or not recording:  # a camera that is not live records nothing: not a recording problem
            self._recording_fine_since = None
            return
        if recording == RECORDING_FAILED:
            self._recording_fine_since = None
            if not self._failing:
                self.problems.open(EventKind.RECORDING, self.camera, recording_error or "recording failed", now)
                self._failing = True
            return
        if self._recording_fine_since is None:
            self._recording_fine_since = now
        if self._failing is not False and now - self._recording_fine_since >= RECORDING_RESUMED_AFTER:
            self.problems.close(EventKind.RECORDING, self.camera, now)
            self._failing = False

    def _check_clock(self, offset: float, now: float) -> None:
        if not self._clock_off and abs(offset) > CLOCK_OFF_BY:
            way = "ahead of" if offset > 0 else "behind"
            detail = f"the camera's clock is {abs(offset):,.0f} s {way} the recorder's"
            self.problems.open(EventKind.CLOCK, self.camera, detail, now)
            self._clock_off = True
        elif self._clock_off is not False and abs(offset) < CLOCK_BACK_WITHIN:
            self.problems.close(EventKind.CLOCK, self.camera, now)
            self._clock_off = False

    def stopped(self, now: float) -> None:
        """The camera was turned off or removed: its problems are over (nobody is to be paged for it)."""
        self.problems.close(EventKind.OFFLINE, self.camera, now)
        self.problems.close(EventKind.RECORDING, self.camera, now)
        self.problems.close(EventKind.CLOCK, self.camera, now)
