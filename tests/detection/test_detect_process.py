"""`manage.py detect` as its own process: it reports the provider it got, turns the crops a capture side
pushes into a person event, and when it is killed the list of crops stays bounded until it is started
again (compose's `restart:`), after which it goes on."""

from __future__ import annotations

import sys
import time

import pytest

from cameras.config import CameraConfig
from events.feed import DetectorFeed
from events.models import Event
from events.watcher import MotionWatcher
from framebus.crops import CROP_QUEUE_LIMIT, DetectorState
from recordings.store import get_store
from tests.detection.scene import Yard
from tests.factories import make_camera
from tests.reliability.helpers import wait_until
from tests.support.processes import ManagedProcess, child_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def detector(redis_url: str, model: str, recordings: str) -> ManagedProcess:
    env = child_env(redis_url, DETECTOR_MODEL=model, RECORDINGS_DIR=recordings, LOG_LEVEL="INFO")
    return ManagedProcess("detect", [sys.executable, "manage.py", "detect"], env)


def walk(watcher: MotionWatcher, start: float) -> None:
    for t, frame in Yard("red").frames():
        watcher.frame(frame, start + t)


def test_the_detector_process_detects_and_a_dead_one_leaves_the_list_bounded(bus, redis_url, model_files, settings,
                                                                             tmp_path):  # fmt: skip
    settings.RECORDINGS_DIR = str(tmp_path)
    process = detector(redis_url, str(model_files["yolo"]), str(tmp_path)).start()
    try:
        status = wait_until(lambda: bus.detector_status(), 30, what="the detector's status")
        assert status.state is DetectorState.READY and status.provider == "CPUExecutionProvider"
        assert status.input_size == (320, 320) and status.model == "yolo.onnx"
        assert "yolo.onnx (320x320, yolo output, 80 labels) on CPUExecutionProvider" in process.log()

        camera = make_camera("yard", motion=True, event_gap_seconds=1.0, object_min_score=0.2)
        config = CameraConfig.from_camera(camera)
        watcher = MotionWatcher(config, get_store(), None, DetectorFeed(config, bus, rate=5.0))
        now = time.time()
        for t, frame in Yard("red").frames():  # in real time, so no crop waits past CROP_MAX_AGE
            watcher.frame(frame, now + t)
            time.sleep(max(0.0, now + t - time.time()))
        event = wait_until(lambda: Event.objects.filter(camera=camera, label="person", end__isnull=False).first(), 20,
                           what="the person event")  # fmt: skip
        assert event.best_score >= 0.2 and event.snapshot

        process.kill()  # it dies; capture goes on pushing
        process.proc.wait(5)  # type: ignore[union-attr]
        for lap in range(5):
            walk(watcher, time.time() + lap * 20)
        assert bus.crops_waiting() == CROP_QUEUE_LIMIT  # bounded while nobody takes them
        process = detector(redis_url, str(model_files["yolo"]), str(tmp_path)).start()  # restarted
        wait_until(lambda: bus.crops_waiting() == 0, 60, what="the restarted detector to take the crops")
        counts = wait_until(lambda: (s := bus.detector_status()) and s.counts.get("stale"), 10, what="stale count")
        assert counts > 0  # what waited past CROP_MAX_AGE was dropped unseen, and counted
    finally:
        process.stop()
