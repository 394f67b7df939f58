"""States that say what is true (issue #22): a camera just added is "Connecting…" until a worker claims
it, `recording` is not "recording" while nothing is written, and the viewer count is every web process's."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import pytest

from cameras.models import Camera
from framebus.status import AWAITING_WORKER, CLAIM_WITHIN, NO_WORKER, CameraStatus, State
from tests.factories import make_camera, make_token, make_user
from tests.support.frames import sync_bus
from tests.support.processes import web_server


def test_an_unclaimed_camera_is_connecting_then_offline():
    now = time.time()
    assert CameraStatus.from_fields({}, changed_at=now - 1, now=now) == CameraStatus(
        State.CONNECTING, error=AWAITING_WORKER
    )
    late = CameraStatus.from_fields({}, changed_at=now - CLAIM_WITHIN - 1, now=now)
    assert late == CameraStatus(State.OFFLINE, error=NO_WORKER)
    assert State.CONNECTING.label == "Connecting…"


def test_a_camera_just_added_reads_connecting_on_the_grid_and_the_api(db, redis_url, client):
    client.force_login(make_user("chief", is_superuser=True, is_staff=True))
    make_camera("new")
    make_camera("old")
    Camera.objects.filter(slug="old").update(updated_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    html = client.get("/").content.decode()
    assert 'data-camera="new" data-state="connecting" data-label="Connecting…"' in html
    assert 'data-camera="old" data-state="offline" data-label="Offline"' in html
    api = {c["slug"]: c for c in client.get("/api/cameras/").json()["cameras"]}
    assert (api["new"]["state"], api["new"]["last_error"]) == ("connecting", AWAITING_WORKER)
    assert api["old"]["state"] == "offline"


def test_recording_is_idle_while_the_camera_is_not_live(db, redis_url, client):
    client.force_login(make_user("chief", is_superuser=True, is_staff=True))
    make_camera("yard", record="continuous")
    make_camera("off", record="off")
    bus = sync_bus(redis_url)
    try:
        for state, expected, now in ((State.OFFLINE, "idle", False), (State.ONLINE, "recording", True)):
            status = CameraStatus(state, fps=5.0, last_frame_ts=time.time(), recording="recording")
            bus.write_status("yard", status.to_fields())
            bus.write_status("off", status.to_fields())
            api = {c["slug"]: c for c in client.get("/api/cameras/").json()["cameras"]}
            assert (api["yard"]["recording"], api["yard"]["recording_now"]) == (expected, now), state
            assert (api["off"]["recording"], api["off"]["recording_now"]) == ("off", False)
    finally:
        bus.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_viewer_count_adds_up_every_web_process(redis_url):
    owner = make_user("chief", is_superuser=True, is_staff=True)
    make_camera("yard")
    _, token = make_token(user=owner)
    first, second = web_server(redis_url).start(), web_server(redis_url).start()
    try:
        with httpx.stream("GET", f"{first.url}/cameras/yard/stream.mjpg?token={token}", timeout=10) as stream:
            parts = stream.iter_bytes()  # held: dropping the iterator would close the stream
            next(parts)  # watching on the first process

            def counts() -> tuple[int, int]:
                camera = httpx.get(f"{second.url}/api/cameras/?token={token}", timeout=5).json()["cameras"][0]
                return camera["viewers"], camera["viewers_here"]

            deadline = time.monotonic() + 5
            while counts() != (1, 0):
                assert time.monotonic() < deadline, f"the second process counts {counts()} (viewers, here)"
                time.sleep(0.2)
        deadline = time.monotonic() + 8
        while counts()[0] != 0:  # the viewer left: the first process says so within a second or two
            assert time.monotonic() < deadline, "the count stays after the viewer left"
            time.sleep(0.2)
    finally:
        first.stop()
        second.stop()
