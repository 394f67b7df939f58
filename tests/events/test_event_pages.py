"""`/api/events`, event pictures, `/events/` and the timeline's markers honour per-camera access."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from events.models import Event
from tests.factories import make_camera, make_token, make_user

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(settings, tmp_path):
    settings.RECORDINGS_DIR = str(tmp_path)
    operator = make_user("op")
    yard, gate = make_camera("yard"), make_camera("gate")
    yard.allowed_users.add(operator)
    events = {}
    for camera in (yard, gate):
        for minute, zones in ((0, ["door"]), (10, []), (20, ["door", "path"])):
            start = T0 + dt.timedelta(minutes=minute)
            snapshot = f"event.snapshots/{camera.slug}/{minute}.jpg"
            (tmp_path / snapshot).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / snapshot).write_bytes(b"\xff\xd8full")
            (tmp_path / snapshot.replace(".jpg", ".thumb.jpg")).write_bytes(b"\xff\xd8thumb")
            events[camera.slug, minute] = Event.objects.create(
                camera=camera, start=start, end=start + dt.timedelta(seconds=8), peak_score=0.2, zones=zones,
                snapshot=snapshot,
            )  # fmt: skip
    client = Client()
    client.force_login(operator)
    return operator, client, events


def test_the_api_lists_only_the_callers_cameras_with_filters(world):
    _, client, events = world
    data = client.get("/api/events").json()["events"]
    assert [e["camera"] for e in data] == ["yard"] * 3
    assert [e["id"] for e in data] == [events["yard", m].pk for m in (20, 10, 0)]  # newest first
    first = data[-1]
    assert first["start"] == "2026-12-01T12:00:00+00:00" and first["end"] == "2026-12-01T12:00:08+00:00"
    assert first["zones"] == ["door"] and first["snapshot_url"] == f"/events/{first['id']}/snapshot.jpg"
    assert "start=2026-12-01T11%3A59%3A55%2B00%3A00" in first["clip_url"]  # the 5 s pre-roll
    assert first["play_url"].startswith("/cameras/yard/?t=")
    assert client.get("/api/events?camera=gate").status_code == 404  # not theirs: like an unknown camera
    assert client.get("/api/events?camera=nope").status_code == 404
    in_zone = client.get("/api/events?zone=path").json()["events"]
    assert [e["id"] for e in in_zone] == [events["yard", 20].pk]
    span = client.get("/api/events", {"since": "2026-12-01T12:05:00Z", "until": "2026-12-01T12:15:00Z"}).json()
    assert [e["id"] for e in span["events"]] == [events["yard", 10].pk]
    bad = client.get("/api/events?since=yesterday")
    assert bad.status_code == 400 and b"since must be ISO 8601" in bad.content
    assert Client().get("/api/events").status_code == 401


def test_pictures_are_served_to_those_who_may_see_the_camera(world):
    _, client, events = world
    mine, theirs = events["yard", 0], events["gate", 0]
    full = client.get(f"/events/{mine.pk}/snapshot.jpg")
    assert full.status_code == 200 and full["Content-Type"] == "image/jpeg"
    assert b"".join(full.streaming_content) == b"\xff\xd8full"
    assert b"".join(client.get(f"/events/{mine.pk}/thumbnail.jpg").streaming_content) == b"\xff\xd8thumb"
    assert client.get(f"/events/{theirs.pk}/snapshot.jpg").status_code == 404
    assert Client().get(f"/events/{mine.pk}/snapshot.jpg").status_code == 401


def test_a_token_reaches_the_events_of_its_camera_and_its_urls_carry_it(world):
    operator, _, events = world
    _, token = make_token(user=operator, camera=events["yard", 0].camera)
    data = Client().get(f"/api/events?token={token}").json()["events"]
    assert len(data) == 3 and all(f"token={token}" in e["snapshot_url"] for e in data)
    assert Client().get(data[0]["snapshot_url"]).status_code == 200


def test_the_events_page_lists_thumbnails_filters_and_pages(world):
    _, client, events = world
    page = client.get("/events/").content.decode()
    assert page.count('class="event"') == 3 and f"/events/{events['yard', 0].pk}/thumbnail.jpg" in page
    assert "Gate" not in page.split('<ol class="event-list">')[1]  # not their camera
    zone = client.get("/events/?zone=path").content.decode()
    assert zone.count('class="event"') == 1
    assert client.get("/events/?camera=gate").status_code == 404
    yard = events["yard", 0].camera
    for minute in range(60):
        Event.objects.create(camera=yard, start=T0 - dt.timedelta(hours=1, minutes=minute), peak_score=0.1)
    first, second = client.get("/events/").content.decode(), client.get("/events/?page=2").content.decode()
    assert first.count('class="event"') == 50 and second.count('class="event"') == 13
    assert "Page 2 of 2" in second
    assert Client().get("/events/").status_code == 302  # to the login page


@pytest.mark.django_db(transaction=True)  # review.offload reads on its own connections: they see committed rows only
def test_the_timeline_gets_the_cameras_events(world):
    _, client, events = world
    spans = client.get("/api/cameras/yard/recordings", {"start": "2026-12-01T11:00:00Z", "end": "2026-12-01T13:00:00Z"})
    assert [e["id"] for e in spans.json()["events"]] == [events["yard", m].pk for m in (0, 10, 20)]
