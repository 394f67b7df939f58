"""Object events in `/api/events?label=`, `/events/` and the timeline, for those who may see their camera only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from events.models import Event
from tests.factories import make_camera, make_user

pytestmark = pytest.mark.django_db(transaction=True)  # the timeline reads on its own connection

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def world():
    staff = make_user("guard", is_staff=True)  # staff, yet limited to one camera
    yard, gate = make_camera("yard"), make_camera("gate")
    yard.allowed_users.add(staff)
    rows = {}
    for camera, labels in ((yard, ["", "person"]), (gate, ["", "person", "car"])):
        for minute, label in enumerate(labels):
            start = T0 + dt.timedelta(minutes=minute)
            rows[camera.slug, label] = Event.objects.create(
                camera=camera, start=start, end=start + dt.timedelta(seconds=5), label=label,
                best_score=0.8 if label else 0.0, peak_score=0.0 if label else 0.1,
            )  # fmt: skip
    client = Client()
    client.force_login(staff)
    return client, rows


def test_the_api_filters_by_label_within_the_cameras_one_may_see(world):
    client, rows = world
    people = client.get("/api/events", {"label": "person"}).json()["events"]
    assert [(e["id"], e["labels"], e["best_score"]) for e in people] == [(rows["yard", "person"].pk, ["person"], 0.8)]
    assert client.get("/api/events", {"label": "car"}).json()["events"] == []  # the gate's car: not theirs
    motion = client.get("/api/events", {"label": "motion"}).json()["events"]
    assert [(e["id"], e["labels"]) for e in motion] == [(rows["yard", ""].pk, [])]
    assert client.get("/api/events", {"label": "person", "camera": "gate"}).status_code == 404


def test_the_events_page_offers_and_shows_only_their_labels(world):
    client, rows = world
    page = client.get("/events/").content.decode()
    assert '<option value="person">' in page and '<option value="car">' not in page  # no label of another camera
    filtered = client.get("/events/", {"label": "person"}).content.decode()
    assert f'data-event="{rows["yard", "person"].pk}"' in filtered
    assert f'data-event="{rows["yard", ""].pk}"' not in filtered
    assert '<span class="event-label">person</span>' in filtered and "person, 80 % sure" in filtered


def test_the_timeline_markers_carry_the_label(world):
    client, rows = world
    spans = client.get("/api/cameras/yard/recordings", {"start": "2026-12-01T11:00:00Z", "end": "2026-12-01T13:00:00Z"})
    assert [(e["id"], e["label"]) for e in spans.json()["events"]] == [
        (rows["yard", ""].pk, ""),
        (rows["yard", "person"].pk, "person"),
    ]
    assert client.get("/api/cameras/gate/recordings", {"start": "2026-12-01T11:00:00Z"}).status_code in (403, 404)


def test_capture_feeds_the_detector_only_with_a_model_and_labels_to_track(settings, bus, tmp_path):
    """cameras.supervisor.outputs_for: the motion watcher gets a feed when DETECTOR_MODEL is set and the camera
    tracks some label; otherwise no crop is ever cut (detection off costs capture nothing)."""
    from cameras.config import CameraConfig
    from cameras.supervisor import outputs_for
    from events.watcher import MotionWatcher
    from recordings.store import get_store

    settings.RECORDINGS_DIR = str(tmp_path)

    def feed(**fields):  # type: ignore[no-untyped-def]
        config = CameraConfig.from_camera(make_camera(f"c{len(fields)}{len(str(fields))}", motion=True, **fields))
        watcher = next(o for o in outputs_for(config, bus=bus, store=get_store()) if isinstance(o, MotionWatcher))
        return watcher.feed

    settings.DETECTOR_MODEL = ""
    assert feed() is None
    settings.DETECTOR_MODEL = "/models/yolov8n.onnx"
    made = feed(object_labels=["person", "car"], object_min_score=0.6)
    assert made is not None and made.camera["objects"] == ["person", "car"] and made.camera["min_score"] == 0.6
    assert feed(object_labels=[]) is None
