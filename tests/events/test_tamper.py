"""Tampering on the motion watcher's pictures: black, then another scene, each one event; a brightness
step, an infrared day/night switch and a passing truck none.

The watcher is fed scripted pictures with their timestamps (5 a second, as capture hands them), and
writes its rows and pictures into the real database and a real store, as in capture.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cameras.config import CameraConfig
from events.models import Event, EventKind
from events.tamper import TAMPER_AFTER
from events.watcher import MotionWatcher
from recordings.store import LocalStore
from tests.factories import make_camera
from tests.reliability.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

RATE = 5.0
T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC).timestamp()


def texture(seed: int, width: int = 640, height: int = 360) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 220, (height // 16, width // 16), dtype=np.uint8)
    return np.kron(small, np.ones((16, 16), np.uint8))


def noisy(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    frame = picture.astype(np.float32) + rng.normal(0, 4, picture.shape).astype(np.float32)
    grey = np.clip(frame, 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def script(*parts: tuple[float, object]) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds, picture or function of t) in turn, 5 pictures a second, with sensor noise."""
    rng = np.random.default_rng(3)
    t = 0.0
    for seconds, picture in parts:
        end = t + seconds
        while t < end:
            image = picture(t) if callable(picture) else picture
            yield T0 + t, noisy(image, rng)
            t += 1 / RATE


def watcher_for(slug: str, tmp_path: Path) -> tuple[MotionWatcher, list[tuple[str, dict]], object]:
    camera = make_camera(slug, motion=True)
    sent: list[tuple[str, dict]] = []
    watcher = MotionWatcher(CameraConfig.from_camera(camera), LocalStore(tmp_path), lambda t, p: sent.append((t, p)))
    return watcher, sent, camera


def tamper_events(camera) -> list[Event]:
    return list(Event.objects.filter(camera=camera, kind=EventKind.TAMPER).order_by("start"))


def test_black_then_another_scene_are_one_tamper_event_each(tmp_path):
    watcher, sent, camera = watcher_for("porch", tmp_path)
    yard, street = texture(1), texture(2)
    black = np.full_like(yard, 6)
    for ts, image in script((60, yard), (40, black), (30, yard), (40, street)):
        watcher.frame(image, ts)

    events = tamper_events(camera)
    assert len(events) == 2, [(e.start, e.end, e.detail) for e in events]
    covered, moved = events
    assert covered.detail == "the picture turned black" and covered.end is not None
    assert (covered.start.timestamp() - T0) == pytest.approx(60 + TAMPER_AFTER, abs=1)  # decided after it lasted
    assert "changed lastingly" in moved.detail and moved.end is None  # still pointed elsewhere
    assert (tmp_path / covered.snapshot).read_bytes()[:2] == b"\xff\xd8"  # the black picture, as a JPEG
    tampering = [(t, p) for t, p in sent if p["kind"] == "tamper"]
    assert [(t, p["id"]) for t, p in tampering] == [("start", covered.pk), ("end", covered.pk), ("start", moved.pk)]
    assert tampering[0][1]["camera"] == "porch" and tampering[0][1]["detail"] == covered.detail


def infrared_of(picture: np.ndarray) -> np.ndarray:
    """The picture as an infrared night view: greyer and flatter, a curve, and a quarter of the surfaces
    reflecting differently (foliage bright, paint dark)."""
    rng = np.random.default_rng(9)
    relit = np.kron(rng.normal(0, 30, (picture.shape[0] // 16, picture.shape[1] // 16)), np.ones((16, 16)))
    relit *= rng.random(relit.shape) < 0.25
    curved = 255 * (picture.astype(np.float32) / 255) ** 0.6 * 0.5 + 90
    return np.clip(curved + relit, 0, 255).astype(np.uint8)


def test_brightness_steps_infrared_switch_and_a_passing_truck_are_not_tampering(tmp_path):
    watcher, sent, camera = watcher_for("lane", tmp_path)
    yard = texture(4)
    brighter = np.clip(yard.astype(np.float32) + 40, 0, 255).astype(np.uint8)  # auto-exposure, a cloud gone

    def truck(t: float) -> np.ndarray:
        picture = yard.copy()
        x = int((t - 150) / 8 * 960) - 320  # crosses in 8 s, covering up to 40 % of the picture
        picture[60:340, max(x, 0) : max(x + 320, 0)] = 25
        return picture

    for ts, image in script((30, yard), (30, brighter), (60, infrared_of(yard)), (30, yard), (8, truck), (20, yard)):
        watcher.frame(image, ts)
    assert tamper_events(camera) == []
    assert [p["type"] for _, p in sent if p["kind"] == "motion"][:1] == ["start"], "the truck is motion"
    assert all(p["kind"] == "motion" for _, p in sent)


@pytest.mark.slow
def test_a_capture_camera_that_goes_black_then_shows_another_scene_is_two_tamper_events(
    supervisor_thread, settings, tmp_path, monkeypatch
):
    """The same through a capture worker: a video file camera (played in a loop at its own rate) goes black,
    comes back, then shows another scene. The lasting rules are shortened (the thresholds stay as they are)."""
    import cv2

    import events.tamper

    monkeypatch.setattr(events.tamper, "TAMPER_AFTER", 3.0)
    monkeypatch.setattr(events.tamper, "CLEAR_AFTER", 2.0)
    settings.NVR_MEDIA_DIR = str(tmp_path)
    settings.RECORDINGS_DIR = str(tmp_path / "recordings")
    video = tmp_path / "porch.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    yard, street = texture(1, 320, 240), texture(2, 320, 240)
    for seconds, picture in ((8, yard), (8, np.full_like(yard, 6)), (6, yard), (30, street)):
        for _ in range(int(seconds * 10)):
            writer.write(cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR))
    writer.release()
    camera = make_camera("porch", kind="file", source=str(video), motion=True, max_fps=10)
    supervisor_thread()

    def two_events() -> list[Event]:
        events = tamper_events(camera)
        return events if len(events) == 2 else []

    covered, moved = wait_until(two_events, 45, what="two tamper events")
    assert covered.detail == "the picture turned black" and covered.end is not None
    assert "changed lastingly" in moved.detail
    assert (Path(settings.RECORDINGS_DIR) / covered.snapshot).read_bytes()[:2] == b"\xff\xd8"
