"""The bucket tier against a real S3 server over HTTP (moto's standalone server, tests/support/s3.py).

- segments older than RECORDINGS_TIER_AFTER move: uploaded, verified (size and the SHA-256 written at
  record time), marked, and only then deleted locally; they play back from the bucket through HLS
  (segment bytes with Range) and a clip, read by ranged GETs;
- a segment whose object fails verification keeps its local file, and no object is left;
- a segment another host has claimed is not uploaded here;
- retention by age and by the bucket's budget deletes objects; the local budget counts local files only;
- an endpoint the outbound policy refuses is never contacted;
- an outage (the path to the server cut) keeps recording, /healthz says how far behind, and the
  upload catches up afterwards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import threading
import time
import uuid

import httpx
import pytest
from django.utils import timezone

from recordings import tier
from recordings.models import Location, Segment
from recordings.retention import enforce
from recordings.store import TieredStore, get_store
from tests.factories import make_camera, make_token, make_user
from tests.reliability.helpers import wait_until
from tests.support.processes import web_server
from tests.support.recorded import T0, record_camera
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, MotoServer
from tests.support.servers import RtspServer
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def moto():
    server = MotoServer().start()
    yield server
    server.stop()


def tier_settings(settings, tmp_path, url: str) -> None:
    settings.RECORDINGS_DIR = str(tmp_path / "store")
    settings.RECORDINGS_S3_URL = url
    settings.RECORDINGS_S3_ACCESS_KEY_ID, settings.RECORDINGS_S3_SECRET_ACCESS_KEY = ACCESS_KEY, SECRET_KEY
    settings.RECORDINGS_TIER_AFTER = 60.0  # the recorded segments (tests/support/recorded.py) are 30 min old


@pytest.fixture
def tiered(settings, tmp_path, moto) -> TieredStore:
    tier_settings(settings, tmp_path, moto.url(bucket=f"nvr-{uuid.uuid4().hex[:8]}"))
    store = get_store()
    assert isinstance(store, TieredStore)
    store.bucket.ensure()
    return store


@pytest.fixture
def yard(tiered, segment_files):  # type: ignore[no-untyped-def]
    return record_camera("yard", segment_files, tiered.local.root)


def objects(store: TieredStore) -> dict[str, int]:
    return {found.key: found.bytes for found in store.bucket.walk()}


def test_segments_move_only_when_verified_and_carry_what_a_rebuild_needs(tiered, yard, segment_files):
    _, rows = yard
    recent = Segment.objects.filter(pk=rows[-1].pk)
    recent.update(end=timezone.now())  # not yet past RECORDINGS_TIER_AFTER: stays
    before = tier.backlog()
    assert before.segments == 4 and before.seconds_behind > 1000

    moved = tier.move_due(store=tiered)

    assert (moved.moved, moved.failed_verification, moved.error) == (4, [], "")
    stored = objects(tiered)
    for row, source in zip(rows[:4], segment_files, strict=False):
        row.refresh_from_db()
        assert row.location == Location.BUCKET
        assert not (tiered.local.root / row.key).exists()
        assert stored[row.key] == source.stat().st_size
        with tiered.open(row.key) as file:  # from the bucket, by ranged GETs
            assert hashlib.sha256(file.read()).hexdigest() == row.sha256
    assert recent.get().location == Location.LOCAL and (tiered.local.root / rows[-1].key).exists()
    meta = tiered.bucket.metadata(rows[0].key)
    assert meta["nvr-start"] == rows[0].start.isoformat() and meta["nvr-codec"] == "avc1.64001e"
    assert tier.backlog().segments == 0


def test_an_object_that_fails_verification_keeps_the_local_file(tiered, yard):
    _, rows = yard
    rotten = tiered.local.root / rows[1].key
    data = bytearray(rotten.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one bit flipped on the local disk after the recorder hashed it
    rotten.write_bytes(bytes(data))

    moved = tier.move_due(store=tiered)

    assert moved.failed_verification == [rows[1].key] and moved.moved == 4
    rows[1].refresh_from_db()
    assert rows[1].location == Location.LOCAL and rotten.read_bytes() == bytes(data)
    assert rows[1].key not in objects(tiered)  # the bad object was deleted, nothing passes for the segment


def put_event_pictures(store: TieredStore, camera, at: dt.datetime, *, old: bool):  # type: ignore[no-untyped-def]
    """An event with its snapshot, thumbnail and JSON record, written `old` (days ago) or now."""
    from events.models import Event

    event = Event.objects.create(camera=camera, start=at, end=at + dt.timedelta(seconds=3), peak_score=0.3)
    snapshot, thumbnail = store.picture_keys(str(camera.uid), event.pk, at)
    Event.objects.filter(pk=event.pk).update(snapshot=snapshot)
    event.snapshot = snapshot
    for key, data in ((snapshot, b"\xff\xd8 snapshot"), (thumbnail, b"\xff\xd8 thumb"), (event.record, b"{}")):
        store.put(key, data)
        if old:
            stamp = time.time() - 3 * 86400
            os.utime(store.local.root / key, (stamp, stamp))
    return event


def test_event_pictures_move_and_are_read_from_the_bucket(tiered, yard):
    camera, _ = yard
    gone = put_event_pictures(tiered, camera, T0, old=True)
    fresh = put_event_pictures(tiered, camera, T0 + dt.timedelta(seconds=30), old=False)

    moved = tier.move_due(store=tiered)

    assert moved.pictures == 3 and not moved.failed_verification
    stored = objects(tiered)
    for key in (gone.snapshot, gone.thumbnail, gone.record):
        assert key in stored and not (tiered.local.root / key).exists()
    with tiered.open(gone.snapshot) as file:
        assert file.read() == b"\xff\xd8 snapshot"
    assert (tiered.local.root / fresh.snapshot).exists() and fresh.snapshot not in stored
    enforce(store=tiered)  # nothing expired yet
    gone.camera.event_retention_days = 0
    gone.camera.retention_days = 0
    gone.camera.save()
    enforce(store=tiered)  # the event's pictures go with it, from the bucket too
    assert not any(key.startswith("event.snapshots/") for key in objects(tiered))


def test_reconcile_keeps_moved_rows_and_removes_a_local_copy_left_mid_move(tiered, yard, segment_files):
    from recordings.reconcile import reconcile

    _, rows = yard
    tier.move_due(store=tiered)
    tiered.local.put(rows[0].key, segment_files[0].read_bytes())  # the mover stopped before its local delete

    repairs = reconcile(store=tiered)

    assert (repairs.rows_removed, repairs.files_indexed, repairs.moved_copies_removed) == (0, 0, 1)
    assert Segment.objects.filter(location=Location.BUCKET).count() == 5
    assert not list(tiered.local.walk())


def test_a_segment_claimed_by_another_host_is_not_uploaded_here(tiered, yard, redis_url):
    from tests.support.frames import sync_bus

    _, rows = yard
    bus = sync_bus(redis_url)
    assert tier.Claims(bus, "other-host").take(rows[0].key)

    moved = tier.move_due(store=tiered, claims=tier.Claims(bus, "this-host"))

    assert moved.claimed_elsewhere == 1 and moved.moved == 4
    rows[0].refresh_from_db()
    assert rows[0].location == Location.LOCAL and rows[0].key not in objects(tiered)


def test_retention_reaches_into_the_bucket(tiered, yard, settings):
    camera, rows = yard
    tier.move_due(store=tiered)
    sizes = [row.bytes for row in rows]
    settings.RECORDINGS_S3_MAX_SIZE = sum(sizes[2:])  # room for the three newest
    settings.RECORDINGS_MAX_SIZE = 1  # the local budget counts local files only: nothing local is left

    result = enforce(store=tiered)

    assert result.over_budget == 2
    assert sorted(objects(tiered)) == sorted(row.key for row in rows[2:])
    camera.retention_days = 0
    camera.save()
    enforce(store=tiered)  # by age, wherever segments live
    assert objects(tiered) == {} and not Segment.objects.exists()


def test_with_the_bucket_away_the_local_budget_still_holds(moto, settings, tmp_path, segment_files):
    proxy = TcpProxy(moto.port).start()
    try:
        bucket = f"nvr-{uuid.uuid4().hex[:8]}"
        tier_settings(settings, tmp_path, f"s3://{bucket}/site?endpoint=http://127.0.0.1:{proxy.port}&region=us-east-1")
        store = get_store()
        assert isinstance(store, TieredStore)
        store.bucket.ensure()
        _, rows = record_camera("yard", segment_files, settings.RECORDINGS_DIR)
        proxy.cut()
        assert "unreachable" in tier.move_due(store=store).error  # nothing moves, nothing is lost
        settings.RECORDINGS_MAX_SIZE = sum(row.bytes for row in rows[2:])

        result = enforce(store=store)

        assert result.over_budget == 2 and result.freed_bytes == rows[0].bytes + rows[1].bytes
        assert not (store.local.root / rows[0].key).exists() and (store.local.root / rows[2].key).exists()
    finally:
        proxy.stop()


def test_an_endpoint_the_outbound_policy_refuses_is_never_contacted(settings, tmp_path, segment_files):
    tier_settings(settings, tmp_path, "s3://nvr/site?endpoint=http://169.254.169.254:80&region=us-east-1")
    record_camera("yard", segment_files, settings.RECORDINGS_DIR)

    moved = tier.move_due()

    assert moved.moved == 0 and "metadata" in moved.error
    assert not Segment.objects.exclude(location=Location.LOCAL).exists()


@pytest.mark.slow
def test_segments_play_back_from_the_bucket_through_hls_and_a_clip(tiered, yard, redis_url, settings, tmp_path):
    from review.mp4 import init_length

    _, rows = yard
    with tiered.local.open(rows[0].key) as file:
        data = file.read()
        boundary = init_length(file, len(data))
    event = put_event_pictures(tiered, yard[0], T0, old=True)
    assert tier.move_due(store=tiered).moved == 5
    assert not list(tiered.local.walk())  # nothing left on the local disk: segments and pictures
    token = make_token(user=make_user("reviewer", is_superuser=True, is_staff=True))[1]
    web = web_server(
        redis_url,
        RECORDINGS_DIR=settings.RECORDINGS_DIR,
        RECORDINGS_S3_URL=settings.RECORDINGS_S3_URL,
        RECORDINGS_S3_ACCESS_KEY_ID=ACCESS_KEY,
        RECORDINGS_S3_SECRET_ACCESS_KEY=SECRET_KEY,
    ).start()
    try:
        base = f"{web.url}/cameras/yard/recordings/{rows[0].pk}"
        init = httpx.get(f"{base}/init.mp4?token={token}", timeout=10)
        assert init.status_code == 200 and init.content == data[:boundary]
        part = httpx.get(f"{base}/media.mp4?token={token}", headers={"Range": "bytes=100-199"}, timeout=10)
        assert part.status_code == 206 and part.content == data[boundary + 100 : boundary + 200]
        start, end = (T0 + dt.timedelta(seconds=5.5)).isoformat(), (T0 + dt.timedelta(seconds=25)).isoformat()
        query = f"start={start.replace('+', '%2B')}&end={end.replace('+', '%2B')}"
        clip = httpx.get(f"{web.url}/cameras/yard/clip.mp4?{query}&token={token}", timeout=60)
        assert clip.status_code == 200, clip.text[:200]
        (tmp_path / "clip.mp4").write_bytes(clip.content)
        info = json.loads(
            subprocess.run(
                ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", str(tmp_path / "clip.mp4")],
                capture_output=True, text=True, timeout=60, check=True,
            ).stdout
        )  # fmt: skip
        assert abs(float(info["format"]["duration"]) - 20.0) <= 1.0
        picture = httpx.get(f"{web.url}/events/{event.pk}/thumbnail.jpg?token={token}", timeout=10)
        assert picture.status_code == 200 and picture.content == b"\xff\xd8 thumb"
        assert SECRET_KEY not in web.log()
    finally:
        web.stop()


@pytest.mark.slow
def test_an_outage_keeps_recording_and_the_upload_catches_up(
    rtsp_available, moto, redis_url, settings, tmp_path, supervisor_thread, monkeypatch
):
    proxy = TcpProxy(moto.port).start()
    bucket = f"nvr-{uuid.uuid4().hex[:8]}"
    tier_settings(settings, tmp_path, f"s3://{bucket}/site?endpoint=http://127.0.0.1:{proxy.port}&region=us-east-1")
    settings.RECORDINGS_SEGMENT_SECONDS = 1.0
    settings.RECORDINGS_TIER_AFTER = 0.0
    monkeypatch.setattr(tier, "MOVE_INTERVAL", 0.5)
    store = get_store()
    assert isinstance(store, TieredStore)
    store.bucket.ensure()
    server = RtspServer(width=320, height=240, fps=10).start()
    try:
        make_camera("gate", kind="rtsp", source=server.url("/test"), max_fps=10, record="continuous")
        supervisor = supervisor_thread(keep_recordings=True)
        where = Segment.objects.filter(camera__slug="gate")
        wait_until(lambda: where.filter(location=Location.BUCKET).count() >= 2, 40, "segments in the bucket")

        proxy.cut()  # the bucket is away
        during = where.count()
        wait_until(lambda: where.count() >= during + 4, 40, "recording goes on during the outage")
        pending = tier.backlog()
        assert pending.segments >= 3 and pending.bytes > 0
        health = json.loads(_healthz(settings))
        assert health["checks"]["recordings"]["upload"]["pending_segments"] >= 3

        proxy.restore()
        wait_until(lambda: tier.backlog().segments <= 1, 60, "the upload catches up")
        moved = where.filter(location=Location.BUCKET)
        assert set(objects(store)) >= set(moved.values_list("key", flat=True))
        assert not any((store.local.root / key).exists() for key in moved.values_list("key", flat=True))
        supervisor.stop()  # the mover ends with its keeper (invariant 5)
        wait_until(lambda: not [t for t in threading.enumerate() if t.name == "recordings-mover"], 20,
                   "the mover thread to end")  # fmt: skip
    finally:
        server.stop()
        proxy.stop()


def _healthz(settings) -> bytes:  # type: ignore[no-untyped-def]
    from django.test import Client

    return Client().get("/healthz").content
