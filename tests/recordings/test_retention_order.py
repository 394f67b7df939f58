"""The order retention deletes in under a byte budget (recordings.retention), with every kind of footage at once.

Files found without a camera go first, then archives of deleted cameras, then live cameras' segments no
event needs (oldest first, across cameras), then those events need; an archive has no age limit; rows go
before files, and a budget already met deletes nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest

from events.models import Event
from recordings.models import Archive, Segment
from recordings.retention import enforce
from recordings.store import LocalStore, segment_key
from tests.factories import make_camera

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
SIZE = 1000


@pytest.fixture
def store(settings, tmp_path) -> LocalStore:
    settings.RECORDINGS_DIR = str(tmp_path / "store")
    settings.RECORDINGS_MAX_SIZE = 0
    settings.RECORDINGS_MIN_FREE = settings.RECORDINGS_MIN_FREE.__class__()  # no free-space floor here
    settings.NVR_EVENT_PRE_ROLL = settings.NVR_EVENT_POST_ROLL = 5.0
    return LocalStore(settings.RECORDINGS_DIR)


def put(store: LocalStore, owner: str, hours_ago: float, *, camera=None, archive=None) -> Segment:  # type: ignore[no-untyped-def]
    start = NOW - dt.timedelta(hours=hours_ago)
    key = segment_key(owner, start)
    store.put(key, b"x" * SIZE)
    return Segment.objects.create(
        camera=camera, archive=archive, start=start, end=start + dt.timedelta(seconds=10), duration=10.0,
        bytes=SIZE, codec="avc1.42c01e", width=1, height=1, key=key,
    )  # fmt: skip


def test_what_no_camera_owns_goes_first_then_the_oldest_no_event_needs_then_event_footage(store, settings):
    yard, gate = make_camera("yard", retention_days=30), make_camera("gate", retention_days=30)
    found = Archive.objects.create(name="Found without a camera: x", owner="x", origin=Archive.Origin.FOUND)
    kept = Archive.objects.create(name="Old door", owner="door", origin=Archive.Origin.DELETED_CAMERA)
    rows = {
        "found": put(store, "x", 1),  # recent, but nobody's
        "archive-old": put(store, "door", 900, archive=kept),  # older than any retention: archives keep no age
        "archive-new": put(store, "door", 2, archive=kept),
        "yard-event": put(store, str(yard.uid), 48, camera=yard),  # the oldest live one, but an event needs it
        "gate-48": put(store, str(gate.uid), 47, camera=gate),
        "yard-24": put(store, str(yard.uid), 24, camera=yard),
        "gate-3": put(store, str(gate.uid), 3, camera=gate),
    }
    rows["found"].archive = found
    rows["found"].save()
    Event.objects.create(camera=yard, start=rows["yard-event"].start, end=rows["yard-event"].end, peak_score=0.5)

    first = enforce(NOW)  # no budget: nothing goes, however old the archive
    assert first.deleted == 0 and Segment.objects.count() == 7

    order = []
    for left in range(6, -1, -1):
        settings.RECORDINGS_MAX_SIZE = left * SIZE + 1
        before = set(Segment.objects.values_list("key", flat=True))
        result = enforce(NOW)
        after = set(Segment.objects.values_list("key", flat=True))
        (removed,) = before - after  # one at a time, exactly what the budget asks
        order.append(next(name for name, segment in rows.items() if segment.key == removed))
        assert result.over_budget == 1 and result.freed_bytes == SIZE
        assert {f.key for f in store.walk()} == after  # the file went with its row
    assert order == ["found", "archive-old", "archive-new", "gate-48", "yard-24", "gate-3", "yard-event"]
    assert not Archive.objects.exists()  # emptied archives are removed
