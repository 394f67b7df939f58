"""`manage.py nvr_status` with a real capture process and Redis: the table and --json."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from tests.factories import make_camera
from tests.support.frames import wait_for_status, want_frames

pytestmark = pytest.mark.django_db(transaction=True)


def nvr_status(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("nvr_status", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def captured(capture_process, redis_url):
    make_camera("front", name="Front door", source="320x240", max_fps=10, username="viewer", password="cam-pw-9")
    make_camera("spare", source="320x240", enabled=False)
    want_frames(redis_url, "front")  # someone watches: capture encodes live JPEGs (and times them) only then
    wait_for_status(redis_url, "front", lambda s: s["state"] == "online" and s["fps"] > 0 and s["encode_ms"] > 0, 15)


def test_table_shows_each_camera(captured):
    out, err = nvr_status()
    assert err == ""
    header, *rows = out.splitlines()
    assert header.split() == [
        "NAME",
        "SLUG",
        "KIND",
        "ENABLED",
        "STATE",
        "FPS",
        "RESOLUTION",
        "AGE",
        "RECONNECTS",
        "ENCODE",
        "REC",
        "STORED",
        "WORKER",
        "LAST",
        "ERROR",
    ]
    front = next(row for row in rows if " front " in row)
    assert front.startswith("Front door")
    for expected in ("test_pattern", " yes ", " online ", " 320x240 ", "ms "):
        assert expected in front, front
    spare = next(row for row in rows if " spare " in row)
    assert " no " in spare and " disabled " in spare
    assert "cam-pw-9" not in out


def test_json_has_the_same_facts(captured):
    out, _ = nvr_status("--json")
    report = json.loads(out)
    assert report["redis"] == "ok"
    cameras = {camera["slug"]: camera for camera in report["cameras"]}
    front = cameras["front"]
    assert front["state"] == "online"
    assert 0 < front["fps"] <= 11
    assert (front["width"], front["height"]) == (320, 240)
    assert 0 <= front["last_frame_age"] < 2
    assert front["reconnects"] == 0 and front["frames"] > 0
    assert 0 < front["encode_ms"] < 500
    assert front["worker"]  # the capture supervisor holding the lease
    assert cameras["spare"]["state"] == "disabled"
    assert "cam-pw-9" not in out and "password" not in front


def test_without_redis_the_state_is_unknown(redis_url, redis_server):
    make_camera("front", source="320x240")
    redis_server.stop()
    try:
        out, _ = nvr_status("--json")
        table, err = nvr_status()
    finally:
        redis_server.start()
    report = json.loads(out)
    assert report["redis"] == "ConnectionError"
    assert report["cameras"][0]["state"] == "unknown"
    assert "Redis unavailable" in err and " unknown " in table
