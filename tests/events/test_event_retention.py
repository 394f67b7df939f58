"""Events keep the video they overlap: longer retention, deleted last for space, and `record = motion`.

Segments and events are rows with real files in a temporary store; retention (recordings.retention
with events.retention) deletes rows and files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from events.models import Event
from recordings.models import Segment
from recordings.retention import enforce
from tests.factories import make_camera

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(settings, tmp_path) -> Path:
    settings.RECORDINGS_DIR = str(tmp_path)
    settings.RECORDINGS_MAX_SIZE = 0
    settings.NVR_EVENT_PRE_ROLL = 5.0
    settings.NVR_EVENT_POST_ROLL = 5.0
    return tmp_path


def segment(store: Path, camera, start: dt.datetime, seconds: float = 10.0) -> Segment:  # type: ignore[no-untyped-def]
    relative = f"{camera.slug}/{start:%Y%m%dT%H%M%S}.mp4"
    (store / camera.slug).mkdir(parents=True, exist_ok=True)
    (store / relative).write_bytes(b"x" * 1000)
    return Segment.objects.create(
        camera=camera, start=start, end=start + dt.timedelta(seconds=seconds), duration=seconds, bytes=1000,
        codec="avc1.42c01e", width=1, height=1, key=relative,
    )  # fmt: skip


def event(camera, start: dt.datetime, seconds: float | None, store: Path | None = None) -> Event:  # type: ignore[no-untyped-def]
    snapshot = ""
    if store is not None:
        snapshot = f"event.snapshots/{camera.slug}/{start:%Y%m%dT%H%M%S}.jpg"
        (store / snapshot).parent.mkdir(parents=True, exist_ok=True)
        (store / snapshot).write_bytes(b"\xff\xd8jpeg")
        (store / snapshot.replace(".jpg", ".thumb.jpg")).write_bytes(b"\xff\xd8jpeg")
    end = start + dt.timedelta(seconds=seconds) if seconds is not None else None
    return Event.objects.create(camera=camera, start=start, end=end, peak_score=0.1, snapshot=snapshot)


def kept(camera) -> list[dt.datetime]:  # type: ignore[no-untyped-def]
    return sorted(Segment.objects.filter(camera=camera).values_list("start", flat=True))


def test_segments_an_event_overlaps_are_kept_for_the_event_retention(store):
    yard = make_camera("yard", record="continuous", retention_days=1, event_retention_days=30)
    old = NOW - dt.timedelta(days=3)
    quiet, eventful, padded = old, old + dt.timedelta(minutes=10), old + dt.timedelta(minutes=20)
    for start in (quiet, eventful, padded):
        segment(store, yard, start)
    event(yard, eventful + dt.timedelta(seconds=2), 3)
    event(yard, padded + dt.timedelta(seconds=13), 2)  # starts 3 s after the segment ends: the pre-roll reaches it
    result = enforce(NOW)
    assert kept(yard) == [eventful, padded]
    assert result.expired == 1 and not (store / f"yard/{quiet:%Y%m%dT%H%M%S}.mp4").exists()
    enforce(NOW + dt.timedelta(days=28))  # past 30 days of event retention: gone too
    assert kept(yard) == []


def test_a_motion_camera_keeps_only_the_video_around_events(store):
    gate = make_camera("gate", record="motion", retention_days=7)
    starts = [NOW - dt.timedelta(minutes=10) + dt.timedelta(seconds=10 * i) for i in range(6)]
    for start in starts:
        segment(store, gate, start)
    event(gate, starts[2] + dt.timedelta(seconds=6), 8)  # with 5 s padding either side: segments 2 and 3
    recent = segment(store, gate, NOW - dt.timedelta(seconds=20))  # too recent: an event may still claim it
    result = enforce(NOW)
    assert kept(gate) == [starts[2], starts[3], recent.start]
    assert result.without_motion == 4
    # An event still open keeps everything from its start on.
    event(gate, NOW - dt.timedelta(seconds=15), None)
    assert enforce(NOW + dt.timedelta(minutes=5)).without_motion == 0
    assert recent.start in kept(gate)


def test_space_runs_out_on_segments_no_event_needs_first(store, settings):
    yard = make_camera("yard", record="continuous")
    starts = [NOW - dt.timedelta(hours=5 - i) for i in range(5)]
    for start in starts:
        segment(store, yard, start)
    event(yard, starts[0] + dt.timedelta(seconds=1), 2)  # the oldest segment holds an event
    settings.RECORDINGS_MAX_SIZE = 2500  # 5 x 1000 bytes: 3 must go
    result = enforce(NOW)
    assert result.over_budget == 3
    assert kept(yard) == [starts[0], starts[4]]  # the event's segment survives, though it is the oldest
    settings.RECORDINGS_MAX_SIZE = 500  # nothing else is left: then event segments go too, oldest first
    enforce(NOW)
    assert kept(yard) == []


def test_events_and_their_pictures_expire_with_the_event_retention(store):
    yard = make_camera("yard", event_retention_days=2)
    old = event(yard, NOW - dt.timedelta(days=3), 4, store)
    new = event(yard, NOW - dt.timedelta(days=1), 4, store)
    open_one = event(yard, NOW - dt.timedelta(days=5), None)  # still open (a camera in motion for days): kept
    assert enforce(NOW).events == 1
    assert set(Event.objects.values_list("pk", flat=True)) == {new.pk, open_one.pk}
    assert not (store / old.snapshot).exists() and not (store / old.thumbnail).exists()
    assert (store / new.snapshot).exists() and (store / new.thumbnail).exists()


def test_an_objects_camera_keeps_only_the_video_around_object_events(store):
    gate = make_camera("gate", record="objects", retention_days=7)
    starts = [NOW - dt.timedelta(minutes=10) + dt.timedelta(seconds=10 * i) for i in range(6)]
    for start in starts:
        segment(store, gate, start)
    event(gate, starts[0] + dt.timedelta(seconds=6), 8)  # motion only: keeps nothing of an objects camera
    person = event(gate, starts[3] + dt.timedelta(seconds=6), 8)
    Event.objects.filter(pk=person.pk).update(label="person", best_score=0.9)
    enforce(NOW)
    assert kept(gate) == [starts[3], starts[4]]
