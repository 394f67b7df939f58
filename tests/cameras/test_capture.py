"""Capture of test-pattern cameras into a real Redis: frames, sizes, fps cap, status, changes."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from cameras.models import Camera
from framebus import ViewBus
from tests.factories import make_camera
from tests.support.frames import collect_frames, decode, names, wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)


def request_variant(url: str, slug: str, width: int) -> None:
    """Ask capture for a size variant, as a web process does."""

    async def want() -> None:
        bus = ViewBus(url, namespace=names().namespace)
        await bus.want_width(slug, width)
        await bus.aclose()

    asyncio.run(want())


def test_frames_arrive_as_jpeg_of_the_expected_size_within_the_fps_cap(redis_url, supervisor_thread):
    make_camera("pattern", source="320x240", max_fps=5)
    supervisor_thread()
    wait_for_status(redis_url, "pattern", lambda s: s["state"] == "online", 10)
    frames = collect_frames(redis_url, "pattern", 3.0)
    assert 10 <= len(frames) <= 17, len(frames)  # 5 fps for 3 s
    image = decode(frames[-1][1].jpeg)
    assert image.shape == (240, 320, 3)
    seqs = [f.seq for _, f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    gaps = [b.ts - a.ts for (_, a), (_, b) in itertools.pairwise(frames)]
    assert min(gaps) > 0.2 / 5, gaps  # never back to back: the cap keeps frames a quarter interval apart
    # Frames are fresh when they arrive: capture time to receipt.
    ages = sorted(received - frame.ts for received, frame in frames)
    assert ages[len(ages) // 2] < 0.1, ages


def test_max_width_downscales_keeping_aspect(redis_url, supervisor_thread):
    make_camera("wide", source="640x480", max_width=200, max_fps=5)
    supervisor_thread()
    wait_for_status(redis_url, "wide", lambda s: s["state"] == "online", 10)
    _, frame = collect_frames(redis_url, "wide", 1.5)[-1]
    assert (frame.width, frame.height) == (200, 150)
    assert decode(frame.jpeg).shape == (150, 200, 3)


def test_status_reports_fps_resolution_and_frame_time(redis_url, supervisor_thread):
    make_camera("stat", source="320x240", max_fps=8)
    supervisor_thread()
    status = wait_for_status(redis_url, "stat", lambda s: s["state"] == "online" and s["fps"] > 6, 10)
    assert (status["width"], status["height"]) == (320, 240)
    assert time.time() - status["last_frame_ts"] < 2
    assert status["fps"] <= 8 * 1.05


def test_size_variant_is_encoded_while_requested(redis_url, supervisor_thread):
    make_camera("variant", source="640x480", max_fps=5)
    supervisor_thread()
    wait_for_status(redis_url, "variant", lambda s: s["state"] == "online", 10)

    request_variant(redis_url, "variant", 160)
    time.sleep(1.5)  # workers refresh wanted sizes once a second
    frames = collect_frames(redis_url, "variant", 1.5, width=160)
    assert frames, "no 160 px variant published"
    assert decode(frames[-1][1].jpeg).shape == (120, 160, 3)


def test_cameras_added_disabled_and_changed_while_running(redis_url, supervisor_thread):
    supervisor = supervisor_thread()
    make_camera("late", source="320x240", max_fps=5)
    wait_for_status(redis_url, "late", lambda s: s["state"] == "online", 10)
    assert "late" in supervisor.loops

    Camera.objects.filter(slug="late").update(max_width=160)  # a change restarts the loop
    time.sleep(1.5)
    _, frame = collect_frames(redis_url, "late", 1.0)[-1]
    assert frame.width == 160

    camera = Camera.objects.get(slug="late")
    camera.enabled = False
    camera.save()
    wait_for_status(redis_url, "late", lambda s: s["state"] == "disabled", 10)
    assert "late" not in supervisor.loops
    assert collect_frames(redis_url, "late", 1.0) == []

    Camera.objects.filter(slug="late").delete()
    make_camera("other", source="320x240", max_fps=5)
    wait_for_status(redis_url, "other", lambda s: s["state"] == "online", 10)
    assert set(supervisor.loops) == {"other"}


def test_one_broken_camera_does_not_affect_the_others(redis_url, supervisor_thread):
    make_camera("good", source="320x240", max_fps=10)
    make_camera("broken", kind="rtsp", source="rtsp://127.0.0.1:9/none")  # nothing listens on port 9
    supervisor_thread()
    wait_for_status(redis_url, "broken", lambda s: s["state"] == "offline" and s["last_error"], 15)
    wait_for_status(redis_url, "good", lambda s: s["state"] == "online", 10)
    frames = collect_frames(redis_url, "good", 2.0)
    assert len(frames) >= 16  # 10 fps held while the other camera fails
    status = wait_for_status(redis_url, "broken", lambda s: s["reconnects"] >= 1, 10)
    assert "connection refused" in status["last_error"]


def test_a_variant_wider_than_the_camera_gets_the_frame_as_it_is(redis_url, supervisor_thread):
    make_camera("small", source="320x240", max_fps=5)
    supervisor_thread()
    wait_for_status(redis_url, "small", lambda s: s["state"] == "online", 10)

    request_variant(redis_url, "small", 480)
    time.sleep(1.5)
    frames = collect_frames(redis_url, "small", 1.5, width=480)
    assert frames and decode(frames[-1][1].jpeg).shape == (240, 320, 3)
