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
