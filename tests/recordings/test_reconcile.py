"""The reconcile after a crash, against every kind of damage a store can show (recordings.reconcile).

Real segment files (ffmpeg, tests/support/recorded.py) laid into a real store, real rows:
- a row whose file is gone is removed; a file of a live camera without a row is indexed to it;
- a file under a deleted camera's archive goes back to that archive; under an unknown folder, into an
  archive "found without a camera"; under an old `<slug>/` folder, never to the camera that has that
  slug now (it may be a different camera: #23);
- an interrupted `.part` is salvaged, an empty one removed, a fresh one (a live writer's) left alone;
- a file that is not a readable segment is left alone and counted; event pictures are not segments, and
  one cut off while being written is removed.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid

import pytest

from recordings.models import Archive, Segment
from recordings.reconcile import reconcile
from recordings.store import LocalStore, segment_key
from tests.factories import make_camera

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def row(camera, key: str, start: dt.datetime, size: int = 1000) -> Segment:  # type: ignore[no-untyped-def]
    return Segment.objects.create(
        camera=camera, start=start, end=start + dt.timedelta(seconds=10), duration=10.0, bytes=size,
        codec="avc1.64001e", width=640, height=360, key=key,
    )  # fmt: skip


@pytest.fixture
def store(settings, tmp_path) -> LocalStore:
    settings.RECORDINGS_DIR = str(tmp_path / "store")
    return LocalStore(settings.RECORDINGS_DIR)


def test_every_kind_of_damage_is_repaired_and_nothing_is_given_to_the_wrong_camera(store, segment_files):
    segment = segment_files[0].read_bytes()
    yard = make_camera("yard")
    uid = str(yard.uid)
    kept = row(yard, segment_key(uid, at(0)), at(0))
    store.put(kept.key, segment)
    gone = row(yard, segment_key(uid, at(10)), at(10))  # its file was lost
    store.put(segment_key(uid, at(20)), segment)  # written, but the crash came before its row
    deleted = Archive.objects.create(name="Gate", owner=str(uuid.uuid4()), origin=Archive.Origin.DELETED_CAMERA)
    store.put(segment_key(deleted.owner, at(30)), segment)  # a deleted camera kept as an archive
    stranger = str(uuid.uuid4())
    store.put(segment_key(stranger, at(40)), segment)  # a folder no camera or archive knows
    store.put("yard/2026/12/01/12/20261201T120050.000000Z.mp4", segment)  # from before uids: an old `yard`'s
    # Staged files: cut off by a kill (salvaged), with nothing complete (removed), still being written (left).
    old = time.time() - 120
    for seconds, data in ((60, segment[: len(segment) * 2 // 3]), (70, b"\x00" * 100)):
        part = store.staging(segment_key(uid, at(seconds)))
        part.write_bytes(data)
        os.utime(part, (old, old))
    store.staging(segment_key(uid, at(80))).write_bytes(segment[:5000])
    store.put(segment_key(uid, at(90)), b"not a video")
    store.put(f"{uid}/2026/12/01/12/notes.mp4", segment)  # no start in its name
    store.put(f"event.snapshots/{uid}/2026/12/01/1.jpg", b"\xff\xd8")
    cut = store.staging(f"event.snapshots/{uid}/2026/12/01/2.jpg")  # a picture cut off while written
    cut.write_bytes(b"\xff\xd8")
    os.utime(cut, (old, old))

    repairs = reconcile()

    assert (repairs.rows_removed, repairs.parts_salvaged, repairs.parts_removed) == (1, 1, 2), str(repairs)
    assert (repairs.files_indexed, repairs.orphans_found, repairs.unreadable) == (5, 3, 2), str(repairs)
    assert not Segment.objects.filter(pk=gone.pk).exists()
    mine = sorted(Segment.objects.filter(camera=yard).values_list("start", flat=True))
    assert mine == [at(0), at(20), at(60)]  # and never the old `yard/` folder's file
    salvaged = Segment.objects.get(camera=yard, start=at(60))
    assert 2 <= salvaged.duration < 10 and salvaged.codec.startswith("avc1.")
    assert list(deleted.segments.values_list("start", flat=True)) == [at(30)]
    found = {a.owner: a for a in Archive.objects.filter(origin=Archive.Origin.FOUND)}
    assert set(found) == {stranger, "yard"}
    assert found["yard"].name == "Found without a camera: yard"
    assert [k for k, _, _ in store.staged()] == [segment_key(uid, at(80))]  # a live writer's, untouched
    # A second pass finds nothing more to do.
    again = reconcile()
    assert (again.rows_removed, again.files_indexed, again.parts_salvaged, again.parts_removed) == (0, 0, 0, 0)


def test_footage_in_a_folder_named_like_a_camera_is_never_attached_to_it(settings, tmp_path, segment_files):
    """Fails on the code before #23: the reconcile gave files of a `<slug>/` folder to the camera with that slug."""
    from pathlib import Path

    settings.RECORDINGS_DIR = str(tmp_path / "store")
    front = make_camera("front")
    leftover = Path(settings.RECORDINGS_DIR) / "front/2026/12/01/12/20261201T120000.000000Z.mp4"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(segment_files[0].read_bytes())  # a deleted camera called `front` left it
    reconcile()
    assert not Segment.objects.filter(camera=front).exists()
    assert leftover.exists()  # kept, counted and reported, for a superuser to look at
