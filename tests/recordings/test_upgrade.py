"""Upgrading an install from before store keys and camera uids (cameras 0006, recordings 0002).

Such an install has `<slug>/YYYY/...` folders and rows naming those relative paths. After the
migrations every row's key is its old path (nothing moves), every camera has a uid, every recording
still plays through the store, and the reconcile at start changes nothing it indexed; a file of the old
folders without a row is never given to the camera that has that slug now.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("cameras", "0005_camera_groups"), ("recordings", "0001_segments")]
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_an_old_install_keeps_every_recording_playable_and_with_its_camera(settings, tmp_path, segment_files):
    settings.RECORDINGS_DIR = str(tmp_path / "store")
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Camera, Segment = old.get_model("cameras", "Camera"), old.get_model("recordings", "Segment")
    cameras = {
        slug: Camera.objects.create(name=slug.title(), slug=slug, kind="test_pattern") for slug in ("yard", "gate")
    }
    for index, (slug, camera) in enumerate(cameras.items()):
        start = T0 + dt.timedelta(seconds=10 * index)
        path = f"{slug}/{start:%Y/%m/%d/%H}/{start:%Y%m%dT%H%M%S.%fZ}.mp4"
        file = tmp_path / "store" / path
        file.parent.mkdir(parents=True)
        file.write_bytes(segment_files[index].read_bytes())
        Segment.objects.create(
            camera=camera, start=start, end=start + dt.timedelta(seconds=10), duration=10.0,
            bytes=file.stat().st_size, codec="avc1.64001e", width=640, height=360, path=path,
        )  # fmt: skip
    leftover = tmp_path / "store/yard/2026/11/30/12/20261130T120000.000000Z.mp4"  # an older `yard`'s, no row
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(segment_files[2].read_bytes())

    executor = MigrationExecutor(connection)
    executor.migrate(latest)

    from cameras.models import Camera as Now
    from recordings.models import Segment as Indexed
    from recordings.reconcile import reconcile
    from recordings.store import get_store
    from review.selectors import playlist_entries

    uids = {camera.slug: camera.uid for camera in Now.objects.all()}
    assert all(uids.values()) and len(set(uids.values())) == 2
    for slug in ("yard", "gate"):
        row = Indexed.objects.get(camera__slug=slug)
        assert row.key.startswith(f"{slug}/")  # the old path is the key: nothing moved
        with get_store().open(row.key) as file:
            assert file.read(8)[4:8] == b"ftyp"
        camera = Now.objects.get(slug=slug)
        entries = asyncio.run(playlist_entries(camera, row.start, row.end))
        assert [e.id for e in entries] == [row.pk]
    repairs = reconcile()
    assert (repairs.rows_removed, repairs.files_indexed, repairs.orphans_found) == (0, 1, 1), str(repairs)
    assert Indexed.objects.filter(camera__slug="yard").count() == 1  # the leftover went to no camera
