"""Health events: a camera offline then back, recording failing on a read-only store then resuming, the store
low on space or over budget; each exactly one event of its kind, in the list and API for those who may see it.

Real parts: a GStreamer RTSP camera killed and restarted, the capture supervisor, a bind mount remounted
read-only (a directory without write permission when not root), the keeper on the real filesystem, Redis,
the database, a webhook receiver over HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cameras.config import CameraConfig
from events.health import RECORDING_RESUMED_AFTER, CameraHealth, Problems
from events.models import Event, EventKind, Webhook
from recordings.keeper import Keeper
from recordings.models import Segment
from recordings.sizes import Floor
from recordings.space import check_space
from tests.factories import make_camera, make_user
from tests.reliability.helpers import wait_until
from tests.support.frames import sync_bus
from tests.support.servers import RtspServer

pytestmark = pytest.mark.django_db(transaction=True)


def health_events(kind: EventKind, camera=None) -> list[Event]:
    return list(Event.objects.filter(kind=kind, camera=camera).order_by("start"))


def test_a_reconnect_within_the_grace_pages_nobody_and_a_handover_opens_nothing_twice(settings):
    settings.NVR_HEALTH_OFFLINE_GRACE = 30.0
    camera = make_camera("gate")
    sent: list[tuple[str, dict]] = []
    health = CameraHealth(CameraConfig.from_camera(camera), Problems(lambda t, p: sent.append((t, p))))
    t = 1_800_000_000.0
    health.update("online", "", "", "", t)
    health.update("offline", "connection reset", "", "", t + 1)
    health.update("connecting", "", "", "", t + 20)
    health.update("online", "", "", "", t + 25)  # back within 30 s: nothing
    assert health_events(EventKind.OFFLINE, camera) == [] and sent == []

    health.update("offline", "no route to host", "", "", t + 100)
    health.update("offline", "no route to host", "", "", t + 131)
    health.update("offline", "no route to host", "", "", t + 140)
    [event] = health_events(EventKind.OFFLINE, camera)
    assert event.end is None and event.detail == "no route to host"
    assert event.start.timestamp() == pytest.approx(t + 100)  # offline since it stopped being live

    # Another supervisor takes the camera over: it opens nothing twice, and closes what the first opened.
    other = CameraHealth(CameraConfig.from_camera(camera), Problems(lambda t, p: sent.append((t, p))))
    other.update("offline", "no route to host", "", "", t + 150)
    other.update("offline", "no route to host", "", "", t + 190)
    other.update("online", "", "", "", t + 200)
    [event] = health_events(EventKind.OFFLINE, camera)
    assert event.end is not None and event.end.timestamp() == pytest.approx(t + 200)
    assert [(kind, p["kind"], p["id"]) for kind, p in sent] == [
        ("start", "offline", event.pk),
        ("end", "offline", event.pk),
    ]
    assert sent[0][1]["camera"] == "gate" and sent[1][1]["end"] is not None


@pytest.mark.slow
def test_a_camera_offline_then_back_is_one_event_sent_to_webhooks(
    rtsp_available, supervisor_thread, settings, tmp_path, receiver
):
    settings.NVR_HEALTH_OFFLINE_GRACE = 2.0
    settings.RECORDINGS_DIR = str(tmp_path)
    server = RtspServer(mounts=("/gate",), width=320, height=240, fps=10)
    server.start()
    try:
        camera = make_camera("gate", kind="rtsp", source=server.url("/gate"), max_fps=10)
        Webhook.objects.create(name="pager", url=receiver.url)
        supervisor_thread()
        from cameras.status import camera_status

        wait_until(lambda: camera_status(camera).is_live, 30, what="the camera online")
        server.kill()
        event = wait_until(lambda: Event.objects.filter(camera=camera, kind=EventKind.OFFLINE).first(), 30,
                           what="the offline event")  # fmt: skip
        assert event.end is None
        server.start()
        wait_until(lambda: Event.objects.filter(pk=event.pk, end__isnull=False).exists(), 40, what="back online")
    finally:
        server.stop()
    assert len(health_events(EventKind.OFFLINE, camera)) == 1
    wait_until(lambda: len(receiver.received) >= 2, 15, what="two webhook POSTs")
    payloads = [json.loads(body) for _, body in receiver.received]
    assert [(p["kind"], p["type"], p["camera"], p["id"]) for p in payloads] == [
        ("offline", "start", "gate", event.pk),
        ("offline", "end", "gate", event.pk),
    ]
    assert {"peak_score", "zones", "start", "end", "camera_name"} <= set(payloads[0])  # a motion event's fields too


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` becomes read-only (a read-only bind mount as root, whom permissions do not stop) until the end."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(0o755)
        return
    try:
        subprocess.run(["mount", "--bind", str(path), str(path)], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"cannot make a read-only bind mount here ({error})")
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=False, capture_output=True)


@pytest.mark.slow
def test_recording_on_a_read_only_store_fails_then_resumes_as_one_event(supervisor_thread, settings, tmp_path):
    store = tmp_path / "recordings"
    settings.RECORDINGS_DIR = str(store)
    camera = make_camera("shed", record="continuous", max_fps=5)
    with read_only(store):
        supervisor_thread()
        event = wait_until(lambda: Event.objects.filter(camera=camera, kind=EventKind.RECORDING).first(), 20,
                           what="the recording failure event")  # fmt: skip
        assert event.detail == "the recordings store is read-only" and event.end is None
    # Writable again: the recorder retries within 10 s, and after RECORDING_RESUMED_AFTER of recording it is over.
    wait_until(lambda: Event.objects.filter(pk=event.pk, end__isnull=False).exists(), RECORDING_RESUMED_AFTER + 25,
               what="recording resumed")  # fmt: skip
    assert len(health_events(EventKind.RECORDING, camera)) == 1
    assert wait_until(lambda: Segment.objects.filter(camera=camera).exists(), 20, what="a segment recorded")


def test_the_store_low_on_space_is_one_event_until_space_is_back(redis_url, settings, tmp_path):
    settings.RECORDINGS_DIR = str(tmp_path)
    sent: list[tuple[str, dict]] = []
    keeper = Keeper(sync_bus(redis_url), "test-keeper", notify=lambda t, p: sent.append((t, p)))
    settings.RECORDINGS_MIN_FREE = Floor(bytes=10**18)  # an exabyte free: no disk here has it
    keeper.step()
    keeper.step()
    [event] = health_events(EventKind.LOW_SPACE)
    assert event.camera is None and event.end is None and "under the floor" in event.detail
    settings.RECORDINGS_MIN_FREE = Floor(fraction=0.0)
    keeper.step()
    event.refresh_from_db()
    assert event.end is not None and len(health_events(EventKind.LOW_SPACE)) == 1
    assert [(t, p["kind"], p["camera"]) for t, p in sent] == [("start", "low_space", None), ("end", "low_space", None)]


def listed(response) -> str:
    """The event list of an /events/ page (not its filters, which name every kind)."""
    page = response.content.decode()
    assert response.status_code == 200 and '<ol class="event-list">' in page
    return page.split('<ol class="event-list">', 1)[1].split("</ol>", 1)[0]


def test_the_store_over_budget_is_an_event_and_only_those_who_see_every_camera_see_it(settings, tmp_path, client):
    settings.RECORDINGS_DIR = str(tmp_path)
    yard, gate = make_camera("yard"), make_camera("gate")
    start = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    Segment.objects.create(camera=yard, start=start, end=start + dt.timedelta(seconds=10), duration=10.0,
                           bytes=5_000_000, codec="h264", width=320, height=240, key="x/1.mp4")  # fmt: skip
    settings.RECORDINGS_MAX_SIZE = 1_000_000
    check_space(Problems())
    check_space(Problems())
    [over] = health_events(EventKind.OVER_BUDGET)
    assert over.detail == "5 MB stored, over the budget of 1 MB"
    problems = Problems()
    problems.open(EventKind.OFFLINE, CameraConfig.from_camera(yard), "connection refused", start.timestamp())
    problems.open(EventKind.TAMPER, CameraConfig.from_camera(gate), "the picture turned black", start.timestamp())

    operator = make_user("op", is_staff=True)
    yard.allowed_users.add(operator)
    client.force_login(operator)
    mine = client.get("/api/events").json()["events"]
    assert [(e["camera"], e["kind"]) for e in mine] == [("yard", "offline")]
    assert mine[0]["detail"] == "connection refused" and mine[0]["snapshot_url"] is None
    page = listed(client.get("/events/?kind=health"))
    assert "Camera offline" in page and "Tampering" not in page and "Recordings store" not in page
    assert client.get("/api/events?kind=tamper").json()["events"] == []
    assert client.get("/api/events?kind=nonsense").status_code == 400

    boss = make_user("boss", is_superuser=True)
    client.force_login(boss)
    every = client.get("/api/events?kind=health").json()["events"]
    assert sorted((e["camera"] or "", e["kind"]) for e in every) == [
        ("", "over_budget"), ("gate", "tamper"), ("yard", "offline")
    ]  # fmt: skip
    store_event = next(e for e in every if e["camera"] is None)
    assert store_event["clip_url"] is None and store_event["play_url"] is None
    page = listed(client.get("/events/"))
    assert "Recordings store" in page and "5 MB stored" in page
    assert [e["kind"] for e in client.get("/api/events?camera=yard").json()["events"]] == ["offline"]


LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


@pytest.mark.slow
def test_an_rtsp_camera_whose_clock_is_two_minutes_behind_is_one_clock_event(
    rtsp_available, supervisor_thread, settings, tmp_path
):
    if not LIBFAKETIME.exists():
        pytest.skip("libfaketime is not installed (scripts/install-system-deps.sh installs faketime)")
    settings.RECORDINGS_DIR = str(tmp_path)
    behind = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": "-120", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    late, right = (RtspServer(mounts=("/c",), width=320, height=240, fps=10, env=env) for env in (behind, None))
    late.start()
    right.start()
    try:
        late_camera = make_camera("late", kind="rtsp", source=late.url("/c"), max_fps=10)
        right_camera = make_camera("right", kind="rtsp", source=right.url("/c"), max_fps=10)
        supervisor_thread()
        event = wait_until(lambda: Event.objects.filter(camera=late_camera, kind=EventKind.CLOCK).first(), 30,
                           what="the clock event")  # fmt: skip
        from cameras.status import camera_status

        offset = wait_until(lambda: camera_status(right_camera).clock_offset, 15, what="the right camera's offset")
        assert abs(offset) < 1.0, offset  # the same clock: the network delay only
        assert event.detail == "the camera's clock is 120 s behind the recorder's"
    finally:
        late.stop()
        right.stop()
    assert len(health_events(EventKind.CLOCK, late_camera)) == 1 and health_events(EventKind.CLOCK, right_camera) == []
