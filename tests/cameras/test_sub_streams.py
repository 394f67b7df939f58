"""Sub streams: a camera's second, low-resolution RTSP URL feeds its grid pictures and motion; the main one is recorded.

The registry side (validation, credentials, import/export, the API's facts) runs without servers; capture
runs against two GStreamer RTSP servers, a main one and a sub one of another size and shape, so a
picture's size says which stream it came from, and the sub one can be killed alone.
"""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command

from cameras.models import Camera
from cameras.status import camera_facts, camera_status
from framebus.status import CameraStatus, SubStream
from tests.factories import make_camera
from tests.support.frames import collect_frames, decode, wait_for_status
from tests.support.servers import RtspServer
from tests.support.waiting import wait_until

MAIN = (640, 360)  # 16:9
SUB = (320, 240)  # 4:3: a 320 px grid picture made from the main stream would be 320x180


# The registry ---------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "source", "sub_source", "message"),
    [
        ("test_pattern", "320x240", "rtsp://cam/sub", "Only RTSP cameras have a sub stream"),
        ("rtsp", "rtsp://cam/main", "http://cam/sub", "needs a URL starting with rtsp://"),
        ("rtsp", "rtsp://cam/main", "rtsp://", "no host"),
        ("rtsp", "rtsp://cam/main", "rtsp://169.254.169.254/sub", "not allowed"),  # the outbound policy
    ],
)
def test_a_sub_source_is_checked_like_the_source(kind, source, sub_source, message):
    camera = Camera(name="Gate", slug="gate", kind=kind, source=source, sub_source=sub_source)
    with pytest.raises(ValidationError) as refused:
        camera.full_clean()
    assert message in " ".join(refused.value.message_dict["sub_source"])


@pytest.mark.django_db
def test_credentials_in_the_sub_url_go_to_the_fields_and_never_follow_it_to_another_server():
    camera = make_camera(
        "gate", kind="rtsp", source="rtsp://10.0.0.9/main", sub_source="rtsp://viewer:MARKER-pw@10.0.0.9/sub"
    )
    assert (camera.sub_source, camera.username, camera.password) == ("rtsp://10.0.0.9/sub", "viewer", "MARKER-pw")
    camera.sub_source = "rtsp://10.0.0.9:8554/other"  # the same server? no: another port
    camera.save()
    camera.refresh_from_db()
    assert camera.password == "", "a stored password never follows the sub stream to a new server"

    camera.password = "MARKER-pw"
    camera.save()
    camera.sub_source = "rtsp://10.0.0.9/sub2"  # the main stream's server: the password stays
    camera.save()
    camera.refresh_from_db()
    assert camera.password == "MARKER-pw"
    camera.sub_source = ""
    camera.save()
    camera.refresh_from_db()
    assert camera.password == "MARKER-pw"


@pytest.mark.django_db
def test_import_export_and_the_api_carry_the_sub_source(tmp_path):
    path = tmp_path / "cameras.yaml"
    path.write_text(
        '- {name: Gate, slug: gate, kind: rtsp, source: "rtsp://10.0.0.9/main", '
        'sub_source: "rtsp://u:MARKER-pw@10.0.0.9/sub"}\n'
    )
    call_command("cameras", "import", str(path), stdout=io.StringIO())
    gate = Camera.objects.get(slug="gate")
    assert (gate.sub_source, gate.password) == ("rtsp://10.0.0.9/sub", "MARKER-pw")
    out = io.StringIO()
    call_command("cameras", "export", stdout=out)
    assert "MARKER" not in out.getvalue()
    assert yaml.safe_load(out.getvalue())[0]["sub_source"] == "rtsp://10.0.0.9/sub"
    # An import without the field keeps it; an empty one removes the sub stream.
    path.write_text("- {slug: gate, name: Gate, kind: rtsp, source: rtsp://10.0.0.9/main}\n")
    call_command("cameras", "import", str(path), stdout=io.StringIO())
    assert Camera.objects.get(slug="gate").sub_source == "rtsp://10.0.0.9/sub"
    facts = camera_facts(gate, CameraStatus.from_fields({"state": "online", "sub_stream": "fallback"}))
    assert facts["sub_source"] == "rtsp://10.0.0.9/sub" and facts["sub_stream"] == "fallback"
    assert "MARKER" not in str(facts)
    path.write_text('- {slug: gate, name: Gate, kind: rtsp, source: rtsp://10.0.0.9/main, sub_source: ""}\n')
    call_command("cameras", "import", str(path), stdout=io.StringIO())
    assert Camera.objects.get(slug="gate").sub_source == ""


# Capture --------------------------------------------------------------------------------------------
def picture_size(jpeg: bytes) -> tuple[int, int]:
    image = decode(jpeg)
    return image.shape[1], image.shape[0]


def grid_sizes(redis_url: str, slug: str, width: int = 320) -> set[tuple[int, int]]:
    return {picture_size(frame.jpeg) for _, frame in collect_frames(redis_url, slug, 1.0, width=width)}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_pictures_come_from_the_sub_stream_recording_from_the_main_and_a_failed_sub_falls_back(
    rtsp_available, redis_url, settings, tmp_path, supervisor_thread, live_web
):
    from events.models import Event
    from recordings.models import Segment
    from tests.ops.test_metrics import scrape, value

    settings.RECORDINGS_DIR = str(tmp_path / "store")
    settings.RECORDINGS_SEGMENT_SECONDS = 2.0
    main = RtspServer(mounts=[f"/main:{MAIN[0]}x{MAIN[1]}"], fps=10).start()
    sub = RtspServer(mounts=[f"/sub:{SUB[0]}x{SUB[1]}"], fps=10).start()
    try:
        camera = make_camera(
            "gate",
            kind="rtsp",
            source=main.url("/main"),
            sub_source=sub.url("/sub"),
            record="continuous",
            motion=True,
            motion_sensitivity=100,
            motion_min_size=0.05,  # the test pattern's ball
            event_gap_seconds=0.5,
            max_fps=10,
        )
        supervisor = supervisor_thread(keep_recordings=False)
        status = wait_for_status(redis_url, "gate", lambda s: s["state"] == "online" and s["sub_stream"] == "live", 20)
        assert (status["width"], status["height"]) == MAIN  # the camera's own size is the main stream's
        # Recorded and watched for motion, nobody watching live: the main stream is not decoded at all.
        wait_until(lambda: Segment.objects.filter(camera=camera).exists(), 20, "a segment of the main stream")
        status = wait_for_status(redis_url, "gate", lambda s: s["sub_decoded"] >= 20, 10)
        assert status["decoded"] == 0, status
        assert (status["sub_width"], status["sub_height"]) == SUB
        segment = Segment.objects.filter(camera=camera).first()
        assert (segment.width, segment.height) == MAIN
        event = wait_until(lambda: Event.objects.filter(camera=camera).exclude(snapshot="").first(), 20, "an event")
        snapshot = cv2.imdecode(
            np.frombuffer((Path(settings.RECORDINGS_DIR) / event.snapshot).read_bytes(), np.uint8), 1
        )
        assert (snapshot.shape[1], snapshot.shape[0]) == SUB, "motion's pictures are the sub stream's"

        # The grid's size comes from the sub stream, the camera's own size (the camera page) from the main.
        assert grid_sizes(redis_url, "gate") == {SUB}
        assert {picture_size(f.jpeg) for _, f in collect_frames(redis_url, "gate", 1.0)} == {MAIN}

        sub.kill()
        killed = time.monotonic()
        status = wait_for_status(redis_url, "gate", lambda s: s["sub_stream"] == "fallback", 15)
        print(f"\nfell back {time.monotonic() - killed:.1f} s after the sub stream died: {status['sub_stream_error']}")
        assert status["state"] == "online" and status["sub_stream_error"]
        assert camera_status(camera).sub_stream is SubStream.FALLBACK
        from django.contrib import admin as django_admin

        from cameras.admin import CameraAdmin

        shown = CameraAdmin(Camera, django_admin.site).last_error(camera)
        assert shown.startswith("sub stream failed: pictures from the main stream ("), shown  # the admin's list says so
        samples = scrape(live_web.url)  # and /metrics
        assert value(samples, "nvr_camera_sub_stream", camera="gate", state="fallback") == 1
        assert value(samples, "nvr_camera_sub_stream", camera="gate", state="live") == 0
        assert grid_sizes(redis_url, "gate") == {(320, 180)}, "the grid's pictures now come from the main stream"
        decoded = wait_for_status(redis_url, "gate", lambda s: s["decoded"] > 0, 5)["decoded"]
        assert decoded > 0, "motion is fed from the main stream"

        sub.restart()
        wait_for_status(redis_url, "gate", lambda s: s["sub_stream"] == "live", 20)
        assert grid_sizes(redis_url, "gate") == {SUB}

        # The camera's loop owns its sub stream's thread: stopping it ends both.
        assert any(thread.name == "capture-gate-sub" for thread in threading.enumerate())
        supervisor.stop()
        wait_until(lambda: not any(t.name.startswith("capture-gate") for t in threading.enumerate()), 15, "both ended")
    finally:
        main.stop()
        sub.stop()


@pytest.mark.slow
@pytest.mark.django_db
def test_the_admin_shows_the_field_and_tests_the_connection_of_both_streams(rtsp_available, redis_url):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tests.support.waiting import free_port

    server = RtspServer(mounts=[f"/main:{MAIN[0]}x{MAIN[1]}"], fps=10).start()
    try:
        camera = make_camera(
            "gate", kind="rtsp", source=server.url("/main"), sub_source=f"rtsp://127.0.0.1:{free_port()}/sub"
        )
        client = Client()
        client.force_login(get_user_model().objects.create_superuser("root", password="pw-root-1"))
        form = client.get(f"/admin/cameras/camera/{camera.pk}/change/").content.decode()
        assert 'name="sub_source"' in form and camera.sub_source in form
        page = client.post(
            "/admin/cameras/camera/", {"action": "test_connection", "_selected_action": [camera.pk]}, follow=True
        ).content.decode()
    finally:
        server.stop()
    assert page.count("Reachable: a 640×360 frame.") == 1, page
    assert page.count("Not reachable.") == 1 and "Gate (gate): sub stream" in page
