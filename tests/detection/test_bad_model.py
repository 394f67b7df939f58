"""A model nvr cannot use is one clear error, in the log, the detector's status, /healthz and the admin,
and motion events go on; the detector's device is the one asked for or, when this ONNX Runtime has none,
the CPU, and the log says which it got."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from django.test import AsyncClient

from cameras.config import CameraConfig
from detection.management.commands.detect import open_model
from detection.model import ModelError, load
from detection.worker import DetectorWorker
from events.feed import DetectorFeed
from events.models import Event
from events.watcher import MotionWatcher
from framebus.crops import CROP_QUEUE_LIMIT, DetectorState
from recordings.store import get_store
from tests.detection.conftest import START, Messages
from tests.detection.models import save, wrong_shape_model
from tests.detection.scene import Yard
from tests.factories import make_camera, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_missing_corrupt_and_wrong_shaped_models_say_what_is_wrong(tmp_path, model_files):
    with pytest.raises(ModelError, match=r"no model file at 'absent\.onnx'"):
        load(str(tmp_path / "absent.onnx"))
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07this is not a protobuf" * 40)
    with pytest.raises(ModelError, match=r"corrupt\.onnx is not a model ONNX Runtime can load"):
        load(str(corrupt))
    wrong = save(wrong_shape_model(), tmp_path, "wrong.onnx")
    with pytest.raises(ModelError, match=r"wrong.onnx gives \[1, 10, 5\], but with 80 labels .* \[1, 84, N\]"):
        load(str(wrong))
    labels = tmp_path / "three.txt"
    labels.write_text("person\ncar\ndog\n")
    with pytest.raises(ModelError, match=r"with 3 labels \(DETECTOR_LABELS\)"):
        load(str(model_files["yolo"]), labels_path=labels)
    with pytest.raises(ModelError, match="DETECTOR_DEVICE must be one of cpu, cuda, openvino"):
        load(str(model_files["yolo"]), device="tpu")


def test_the_device_asked_for_or_the_cpu_and_the_log_says_which(model_files, settings, caplog):
    settings.DETECTOR_MODEL = str(model_files["yolo"])
    settings.DETECTOR_DEVICE = "cuda"  # this machine's ONNX Runtime has no CUDA
    with caplog.at_level(logging.INFO):
        model, problem = open_model()
    assert model is not None and problem == ""
    assert model.provider == "CPUExecutionProvider"
    assert "no CUDAExecutionProvider" in caplog.text
    assert "yolo.onnx (320x320, yolo output, 80 labels) on CPUExecutionProvider (DETECTOR_DEVICE=cuda)" in caplog.text


def test_a_corrupt_model_is_reported_everywhere_and_motion_goes_on(bus, settings, tmp_path, caplog, client):
    settings.RECORDINGS_DIR = str(tmp_path)
    corrupt = tmp_path / "yolov8n.onnx"
    corrupt.write_bytes(b"not a model at all")
    settings.DETECTOR_MODEL = str(corrupt)
    with caplog.at_level(logging.ERROR):
        model, problem = open_model()
    assert model is None and "yolov8n.onnx is not a model ONNX Runtime can load" in problem
    assert caplog.text.count("yolov8n.onnx is not a model") == 1
    assert str(tmp_path) not in problem  # the file's name, never the host's folders

    # The detector stays up, saying so; the capture side keeps its crops list bounded and its motion events.
    worker = DetectorWorker(bus, model, pictures=get_store(), notifier=Messages(), problem=problem)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    camera = make_camera("yard", motion=True, event_gap_seconds=1.0)
    config = CameraConfig.from_camera(camera)
    watcher = MotionWatcher(config, get_store(), None, DetectorFeed(config, bus, rate=50.0))
    for lap in range(4):  # four walks: more crops than the list holds
        for t, frame in Yard("red").frames():
            watcher.frame(frame, START + lap * 20 + t)
    watcher.disconnected("done")
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    motion = Event.objects.filter(camera=camera, label="")
    assert motion.count() == 4 and not motion.filter(end__isnull=True).exists()
    assert not Event.objects.exclude(label="").exists()
    assert bus.crops_waiting() == CROP_QUEUE_LIMIT  # bounded while nobody detects
    assert bus.crops_dropped() > 0 and bus.crops_dropped() == watcher.feed.dropped  # type: ignore[union-attr]
    status = bus.detector_status()
    assert status is not None and status.state is DetectorState.ERROR and status.message == problem

    # /healthz: degraded (still 200), the error word for word.
    async def health() -> dict:
        response = await AsyncClient().get("/healthz")
        assert response.status_code == 200
        return response.json()

    body = asyncio.run(health())
    assert body["status"] == "degraded"
    assert body["checks"]["detection"] == {"ok": False, "state": "error", "error": problem}

    # The admin: the cameras list says it, and so does the camera's object detection fieldset.
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    listing = client.get("/admin/cameras/camera/")
    assert problem in listing.content.decode()
    page = client.get(f"/admin/cameras/camera/{camera.pk}/change/")
    assert f"Object detection error: {problem}" in page.content.decode()


def test_without_a_model_detection_is_off_and_the_admin_says_so(settings, client, redis_url):
    settings.DETECTOR_MODEL = ""
    camera = make_camera("yard", motion=True)
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    page = client.get(f"/admin/cameras/camera/{camera.pk}/change/").content.decode()
    assert "Object detection off: Object detection is off: no model (set DETECTOR_MODEL)." in page
