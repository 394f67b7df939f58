"""One camera's objects: filtered, tracked across crops, and made into events (detector thread only).

Detections pass the camera's filters first: a tracked label (`objects`), `min_score`, `min_area`
(percent of the frame) and its per-zone filters (`object_zones`: a label listed there counts only when
the bottom middle of its box, where it stands, is inside one of its zones). norfair's tracker then
follows them from crop to crop by the overlap of their boxes, per label.

The detector looks only where motion is, so a track outside the region of a crop was not looked at: it
is kept as it was (fed its own estimate; the KEEP_TRACKS seen most recently), never aged out by a look
elsewhere; a look at its place that does not find it ages it out. A track is *active* when it is new or
moved since it was last seen (its centre by more than MOVED of its size); a parked car seen again when
someone walks past it is neither, and opens nothing. Active tracks of one
label feed that label's events.tracker.EventTracker, so one person walking through is one event,
merged across the camera's gap like motion; it ends when the gap passes without an active track.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import norfair
import numpy as np

from events.kinds import EventKind
from events.tracker import Change, EventTracker, OpenEvent
from events.watcher import THUMBNAIL_QUALITY, THUMBNAIL_WIDTH, PictureStore
from imaging import encode_jpeg, fit_width

log = logging.getLogger(__name__)

MOVED = 0.15  # a track whose centre moved more than this share of its box since last seen is moving
TRACK_IOU = 0.3  # a detection overlapping a track's box at least this much is that track (norfair: 1 - IoU)
TRACK_MISSES = 4  # looks at a track's place without finding it before it is forgotten
SNAPSHOT_EVERY = 1.0  # seconds: a better score replaces the snapshot at most this often
KEEP_TRACKS = 50  # tracks kept unseen per camera at most (the most recently seen): the memory stays bounded
BOX_COLOUR = (0, 0, 255)  # BGR red, the boxes drawn on snapshots

Box = tuple[float, float, float, float]
Notify = Callable[[str, dict], None]


@dataclass(frozen=True)
class Seen:
    """An object found in a crop, in the frame's normalized coordinates."""

    label: str
    score: float
    box: Box


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _inside(point: tuple[float, float], polygon: list) -> bool:
    contour = np.array(polygon, np.float32).reshape(-1, 1, 2)
    return cv2.pointPolygonTest(contour, point, False) >= 0


def passes(seen: Seen, camera: dict) -> bool:
    """The camera's filters: tracked labels, min_score, min_area (percent of the frame), zone filters."""
    if seen.label not in camera["objects"] or seen.score < camera["min_score"]:
        return False
    x0, y0, x1, y1 = seen.box
    if (x1 - x0) * (y1 - y0) * 100 < camera["min_area"]:
        return False
    zones = camera.get("object_zones", {}).get(seen.label)
    if zones:
        foot = ((x0 + x1) / 2, y1)
        return any(_inside(foot, camera["zones"][name]) for name in zones if name in camera["zones"])
    return True


@dataclass(frozen=True)
class Sighting:
    """Where and when a track was last really seen."""

    box: np.ndarray
    at: float


def _points(box: Box) -> np.ndarray:
    return np.array([[box[0], box[1]], [box[2], box[3]]], np.float64)


@dataclass
class LabelEvent:
    """The open event of one label and its saved row."""

    tracker: EventTracker
    row_id: int | None = None
    keys: tuple[str, str] | None = None
    snapshot_at: float = 0.0
    best_score: float = 0.0
    count: int = 0  # active tracks of the label in the latest look


@dataclass
class CameraObjects:
    camera: dict
    pictures: PictureStore
    notify: Notify
    tracker: norfair.Tracker = field(init=False)
    labels: dict[str, LabelEvent] = field(default_factory=dict)
    _seen: dict[int, Sighting] = field(default_factory=dict)  # track id -> its last real sighting

    def __post_init__(self) -> None:
        self.tracker = norfair.Tracker(
            distance_function="iou",
            distance_threshold=1 - TRACK_IOU,
            hit_counter_max=TRACK_MISSES,
            initialization_delay=0,
        )

    def update(self, ts: float, region: Box, found: list[Seen], picture: np.ndarray) -> None:
        """One crop's objects (`region`: where the crop sits in the frame; `picture`: the crop)."""
        wanted = [seen for seen in found if passes(seen, self.camera)]
        detections = [
            norfair.Detection(_points(s.box), scores=np.array([s.score, s.score]), label=s.label, data=s)
            for s in wanted
        ]
        unseen = [t for t in self.tracker.tracked_objects if t.id in self._seen and not _within(t.estimate, region)]
        unseen.sort(key=lambda t: self._seen[t.id].at, reverse=True)
        for track in unseen[:KEEP_TRACKS]:  # not looked at: kept as it was
            detections.append(norfair.Detection(track.estimate.copy(), label=track.label, data=None))
        looked = {id(d) for d in detections if d.data is not None}
        active: dict[str, list[Seen]] = {}
        for track in self.tracker.update(detections=detections):
            detection = track.last_detection
            if detection is None or id(detection) not in looked or track.id is None:
                continue  # not found in this crop (or kept as it was, outside it)
            seen: Seen = detection.data
            if self._active(track.id, seen.box, ts):
                active.setdefault(seen.label, []).append(seen)
        alive = {track.id for track in self.tracker.tracked_objects}
        self._seen = {track_id: seen for track_id, seen in self._seen.items() if track_id in alive}
        for label in set(active) | set(self.labels):
            found_here = active.get(label, [])
            best = max(found_here, key=lambda s: s.score, default=None)
            self._label_update(label, ts, best, len(found_here), picture, region, wanted)

    def open_labels(self) -> list[str]:
        """Labels with an open event now (the grid's badge)."""
        return sorted(label for label, state in self.labels.items() if state.row_id is not None)

    def tick(self, now: float) -> None:
        """No crop came: open events end once their gap passed since their last active track."""
        for label, state in list(self.labels.items()):
            change = state.tracker.update(now, 0.0)
            if change is not None and change[0] is Change.END:
                state.count = 0
                self._ended(label, state, change[1])

    def finish(self) -> None:
        for label, state in list(self.labels.items()):
            event = state.tracker.finish()
            if event is not None:
                state.count = 0
                self._ended(label, state, event)

    # Internals ------------------------------------------------------------------------------
    def _active(self, track_id: int, box: Box, ts: float) -> bool:
        """New, or moved since last really seen."""
        now = np.array(box)
        before = self._seen.get(track_id)
        self._seen[track_id] = Sighting(now, ts)
        if before is None:
            return True
        size = max(now[2] - now[0], now[3] - now[1], 1e-6)
        shift = np.hypot(
            (now[0] + now[2] - before.box[0] - before.box[2]) / 2,
            (now[1] + now[3] - before.box[1] - before.box[3]) / 2,
        )
        return bool(shift > MOVED * size)

    def _label_update(
        self, label: str, ts: float, best: Seen | None, count: int, picture: np.ndarray, region: Box, drawn: list[Seen]
    ) -> None:
        state = self.labels.setdefault(label, LabelEvent(EventTracker(gap_seconds=self.camera["gap"])))
        change = state.tracker.update(ts, best.score if best else 0.0)
        counted = count != state.count
        state.count = count
        if change is None:
            if counted and state.row_id is not None:
                self.notify("count", self._payload(label, state, state.tracker.current, ended=False, kind="count"))
            return
        kind, event = change
        if kind is Change.START:
            assert best is not None
            state.best_score = best.score
            self._started(label, state, event, picture, region, drawn)
        elif kind is Change.PEAK:
            if best is not None and best.score > state.best_score:
                state.best_score = best.score
                if ts - state.snapshot_at >= SNAPSHOT_EVERY:
                    self._save_pictures(state, picture, region, drawn, ts)
                self._save(state, best_score=state.best_score)
        elif kind is Change.END:
            state.count = 0
            self._ended(label, state, event)
            if best is not None:  # the gap passed between two looks: this one starts anew
                self._label_update(label, ts, best, count, picture, region, drawn)

    def _started(
        self, label: str, state: LabelEvent, event: OpenEvent, picture: np.ndarray, region: Box, drawn: list[Seen]
    ) -> None:
        from events.models import Event

        row = Event.objects.create(
            camera_id=self.camera["id"], start=_utc(event.start), label=label, best_score=state.best_score
        )
        state.row_id = row.pk
        state.keys = self.pictures.picture_keys(self.camera["uid"], row.pk, _utc(event.start))
        self._save_pictures(state, picture, region, drawn, event.start)
        self._save(state, snapshot=state.keys[0])
        payload = self._payload(label, state, event, ended=False)
        self._save_record(state, payload)
        self.notify(Change.START, payload)

    def _ended(self, label: str, state: LabelEvent, event: OpenEvent) -> None:
        if state.row_id is None:
            return
        self._save(state, end=_utc(event.end), best_score=state.best_score)
        payload = self._payload(label, state, event, ended=True)
        self._save_record(state, payload)
        self.notify(Change.END, payload)
        state.row_id, state.keys, state.best_score = None, None, 0.0

    def _save(self, state: LabelEvent, **fields: Any) -> None:
        from events.models import Event

        Event.objects.filter(pk=state.row_id).update(**fields)

    def _save_record(self, state: LabelEvent, payload: dict) -> None:
        """The event as JSON beside its snapshot, as the motion watcher writes it, so `recordings rebuild` restores it."""
        if state.keys is None:
            return
        record = {**payload, "label": payload["labels"][0], "camera_uid": self.camera["uid"], "snapshot": state.keys[0]}
        try:
            self.pictures.put(state.keys[0].removesuffix(".jpg") + ".json", json.dumps(record).encode())
        except OSError:  # a full disk: the event and its row stand; only a rebuild would miss it
            log.warning("detection: could not write the record of event %s", state.row_id)

    def _save_pictures(self, state: LabelEvent, picture: np.ndarray, region: Box, drawn: list[Seen], at: float) -> None:
        if state.keys is None:
            return
        state.snapshot_at = at
        image = draw_boxes(picture, region, drawn)
        snapshot, thumbnail = state.keys
        self.pictures.put(snapshot, encode_jpeg(image, self.camera.get("jpeg_quality", 80)))
        self.pictures.put(thumbnail, encode_jpeg(fit_width(image, THUMBNAIL_WIDTH), THUMBNAIL_QUALITY))

    def _payload(self, label: str, state: LabelEvent, event: OpenEvent | None, *, ended: bool, kind: str = "") -> dict:
        start = event.start if event else 0.0
        return {
            "id": state.row_id,
            "camera": self.camera["slug"],
            "camera_name": self.camera["name"],
            "type": kind or (Change.END if ended else Change.START),
            "kind": EventKind.MOTION.value,  # an object event is a motion event with a label
            "detail": "",
            "start": _utc(start).isoformat(),
            "end": _utc(event.end).isoformat() if ended and event else None,
            "peak_score": 0.0,
            "zones": [],
            "labels": [label],
            "best_score": round(state.best_score, 4),
            "count": state.count,
        }


def _within(estimate: np.ndarray, region: Box) -> bool:
    """Whether a track's box centre lies in the region a crop covered."""
    cx, cy = estimate.mean(axis=0)
    return bool(region[0] <= cx <= region[2] and region[1] <= cy <= region[3])


def draw_boxes(picture: np.ndarray, region: Box, seen: list[Seen]) -> np.ndarray:
    """The crop with each object's box and label drawn (boxes are in frame coordinates: mapped into it)."""
    image = picture.copy()
    height, width = image.shape[:2]
    rw, rh = max(region[2] - region[0], 1e-6), max(region[3] - region[1], 1e-6)
    thickness = max(1, round(max(width, height) / 320))
    for s in seen:
        x0 = round((s.box[0] - region[0]) / rw * width)
        y0 = round((s.box[1] - region[1]) / rh * height)
        x1 = round((s.box[2] - region[0]) / rw * width)
        y1 = round((s.box[3] - region[1]) / rh * height)
        cv2.rectangle(image, (x0, y0), (x1, y1), BOX_COLOUR, thickness)
        caption = f"{s.label} {s.score:.0%}"
        cv2.putText(
            image, caption, (x0 + 2, max(y0 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, BOX_COLOUR, thickness
        )
    return image
