"""Crops around motion go through Redis to the detector, and objects become events (tests/detection/scene.py).

The test models (tests/detection/models.py) see red as a person and blue as a car, so the assertions
follow the picture: one red object walking through is one `person` event on the scripted seconds,
with its snapshot and the box drawn; a blue one (a car: not tracked) is none; the zone filter and
min_score hold it back; a parked object seen again when something moves near it opens nothing.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.management import call_command

from cameras.config import CameraConfig
from detection.worker import DetectorWorker
from events.feed import DetectorFeed
from events.models import Event
from events.watcher import MotionWatcher
from recordings.store import get_store
from tests.detection.conftest import START, Messages, play
from tests.detection.scene import WALK, Yard
from tests.factories import make_camera

pytestmark = pytest.mark.django_db(transaction=True)


def object_events(camera) -> list[Event]:  # type: ignore[no-untyped-def]
    return list(Event.objects.filter(camera=camera).exclude(label="").order_by("start"))


@pytest.mark.parametrize("kind", ["yolo", "boxes"])
def test_a_red_object_walking_through_is_one_person_event(kind, bus, open_model, settings, tmp_path):
    settings.RECORDINGS_DIR = str(tmp_path)
    camera = make_camera("yard", motion=True, event_gap_seconds=1.0, object_min_score=0.2)
    messages = Messages()
    worker = play(camera, Yard("red"), bus, open_model(kind), messages)

    events = object_events(camera)
    assert [e.label for e in events] == ["person"], events
    event = events[0]
    start, end = event.start.timestamp() - START, event.end.timestamp() - START
    print(f"\n{kind}: person {start:.1f}-{end:.1f} s (walks {WALK}), best {event.best_score:.2f}, {worker.counts}")
    assert abs(start - WALK[0]) <= 1.0 and abs(end - WALK[1]) <= 1.0, (start, end)
    assert event.best_score >= 0.2
    assert Event.objects.filter(camera=camera, label="").exists()  # motion events go on beside it

    snapshot = cv2.imread(str(Path(tmp_path) / event.snapshot))
    assert snapshot is not None and Path(tmp_path, event.thumbnail).exists()
    box_red = (snapshot[:, :, 2] > 200) & (snapshot[:, :, 1] < 60) & (snapshot[:, :, 0] < 60)
    assert box_red.any()  # the object itself, and the box drawn around it in red
    kinds = [(kind_, p["labels"]) for kind_, p in messages.sent if kind_ in ("start", "end")]
    assert kinds == [("start", ["person"]), ("end", ["person"])]
    assert messages.announced == [("yard", ["person"])]


def test_a_blue_object_is_no_event(bus, open_model, settings, tmp_path):
    settings.RECORDINGS_DIR = str(tmp_path)
    camera = make_camera("yard", motion=True, event_gap_seconds=1.0, object_min_score=0.2)
    worker = play(camera, Yard("blue"), bus, open_model(), Messages())
    assert worker.counts["detected"] > 3  # the detector looked: a car, and the camera tracks people only
    assert object_events(camera) == []
    assert Event.objects.filter(camera=camera, label="").exists()


def test_tracking_cars_too_makes_the_blue_one_a_car(bus, open_model, settings, tmp_path):
    settings.RECORDINGS_DIR = str(tmp_path)
    camera = make_camera("yard", motion=True, event_gap_seconds=1.0, object_min_score=0.2, object_labels=["car"])
    play(camera, Yard("blue"), bus, open_model("boxes"), Messages())
    assert [e.label for e in object_events(camera)] == ["car"]

    # The object event's record lies beside its snapshot, so a rebuild after a database loss restores it.
    before = [(e.pk, e.label, round(e.best_score, 4), e.start, e.end) for e in object_events(camera)]
    Event.objects.filter(camera=camera).delete()
    call_command("recordings", "rebuild", stdout=io.StringIO())
    after = [(e.pk, e.label, round(e.best_score, 4), e.start, e.end) for e in object_events(camera)]
    assert after == before


def test_min_score_and_the_zone_filter_hold_objects_back(bus, open_model, settings, tmp_path):
    settings.RECORDINGS_DIR = str(tmp_path)
    strict = make_camera("strict", motion=True, event_gap_seconds=1.0, object_min_score=0.95)
    play(strict, Yard("red"), bus, open_model(), Messages())
    assert object_events(strict) == []  # its best score is about 0.6 (the crop is 15 % red)

    sky = {"sky": [[0, 0], [1, 0], [1, 0.3], [0, 0.3]], "path": [[0, 0.5], [1, 0.5], [1, 0.9], [0, 0.9]]}
    zoned = make_camera("zoned", motion=True, event_gap_seconds=1.0, object_min_score=0.2, motion_zones=sky,
                        object_zones={"person": ["sky"]})  # fmt: skip
    play(zoned, Yard("red"), bus, open_model(), Messages())
    assert object_events(zoned) == []  # people count only in the sky: it walks along the path
    on_path = make_camera("on-path", motion=True, event_gap_seconds=1.0, object_min_score=0.2, motion_zones=sky,
                          object_zones={"person": ["path"]})  # fmt: skip
    play(on_path, Yard("red"), bus, open_model(), Messages())
    assert [e.label for e in object_events(on_path)] == ["person"]


def test_a_parked_object_does_not_trigger_again(bus, open_model, settings, tmp_path):
    settings.RECORDINGS_DIR = str(tmp_path)
    camera = make_camera("drive", motion=True, event_gap_seconds=1.0, object_min_score=0.2)
    # It walks in and parks at 8 s; from 12 s something flickers right beside it (a crop that sees it again).
    yard = Yard("red", duration=20.0, park_at=8.0)
    worker = DetectorWorker(bus, open_model(), pictures=get_store(), notifier=Messages())
    config = CameraConfig.from_camera(camera)
    watcher = MotionWatcher(config, worker.pictures, None, DetectorFeed(config, bus))
    parked_x = yard.position(8.0)
    assert parked_x is not None
    looked_again = 0  # crops after 12 s that hold the parked object
    for t, frame in yard.frames():
        if t >= 12.0 and int(t * 5) % 2:  # a grey shape blinking beside the parked object
            frame[200:270, max(parked_x - 90, 0) : max(parked_x - 20, 70)] = 250
        watcher.frame(frame, START + t)
        while bus.crops_waiting():
            crop = bus.pop_crop(0.1)
            if crop is not None:
                worker.handle(crop)
                looked_again += crop.ts >= START + 12 and crop.box[0] * 640 <= parked_x <= crop.box[2] * 640
        worker.tick(START + t)
    worker.tick(START + 100)
    events = object_events(camera)
    assert len(events) == 1, [(e.start.timestamp() - START, e.end.timestamp() - START) for e in events]
    assert looked_again >= 3  # it was looked at again and again while parked
    assert np.isclose(events[0].start.timestamp() - START, WALK[0], atol=1.0)


def test_the_cameras_status_carries_its_open_object_labels(bus, open_model, settings, tmp_path):
    """The detector writes the labels of a camera's open events; the feed reads them back with its next crop,
    and the motion watcher's status (so the grid tile) carries them, and drops them once the object left."""
    settings.RECORDINGS_DIR = str(tmp_path)
    camera = make_camera("yard", motion=True, event_gap_seconds=1.0, object_min_score=0.2)
    config = CameraConfig.from_camera(camera)
    worker = DetectorWorker(bus, open_model(), pictures=get_store(), notifier=Messages())
    watcher = MotionWatcher(config, get_store(), None, DetectorFeed(config, bus))
    seen: dict[float, str] = {}
    for t, frame in Yard("red").frames():
        watcher.frame(frame, START + t)
        while (crop := bus.pop_crop(0.05)) is not None:
            worker.handle(crop)
        worker.tick(START + t)
        seen[t] = str(watcher.status()["objects"])
    walking = [label for t, label in seen.items() if WALK[0] + 1 <= t <= WALK[1] - 0.5]
    assert walking and all(label == "person" for label in walking), seen
    assert seen[max(seen)] == "" and seen[0.0] == ""  # before it came, and once it left
