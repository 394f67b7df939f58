"""Fixtures of the detection tests: the test models on disk, a real Redis bus, a capture side and a
detector wired as in production (events.watcher + events.feed -> framebus -> detection.worker)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from cameras.config import CameraConfig
from detection.model import Model, load
from detection.worker import DetectorWorker
from events.feed import DetectorFeed
from events.watcher import MotionWatcher
from framebus import SyncBus
from recordings.store import get_store
from tests.detection.models import FORMATS, save
from tests.detection.scene import Yard

START = 1_790_000_000.0  # the scene's second 0, in Unix seconds


@pytest.fixture(scope="session")
def model_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {name: save(build(), folder, f"{name}.onnx") for name, build in FORMATS.items()}


@dataclass
class Messages:
    """A notifier that keeps what it was given (the MQTT and webhook tests use the real one)."""

    sent: list[tuple[str, dict]] = field(default_factory=list)
    announced: list[tuple[str, list[str]]] = field(default_factory=list)

    def publish(self, kind: str, payload: dict) -> None:
        self.sent.append((kind, payload))

    def labels_tracked(self, slug: str, name: str, labels: list[str]) -> None:
        self.announced.append((slug, labels))


@pytest.fixture
def bus(redis_url) -> Iterator[SyncBus]:
    client = SyncBus(redis_url, namespace=django_settings.NVR_REDIS_NAMESPACE)
    yield client
    client.close()


def play(camera, yard: Yard, bus: SyncBus, model: Model, notifier) -> DetectorWorker:  # type: ignore[no-untyped-def]
    """Run the yard through a camera's motion watcher and feed, and the detector, frame by frame."""
    config = CameraConfig.from_camera(camera)
    worker = DetectorWorker(bus, model, pictures=get_store(), notifier=notifier)
    watcher = MotionWatcher(config, get_store(), None, DetectorFeed(config, bus))
    for t, frame in yard.frames():
        watcher.frame(frame, START + t)
        while bus.crops_waiting():
            crop = bus.pop_crop(0.1)
            if crop is not None:
                worker.handle(crop)
        worker.tick(START + t)
    watcher.disconnected("the scene ended")
    worker.tick(START + yard.duration + 60)
    return worker


@pytest.fixture
def open_model(model_files):  # type: ignore[no-untyped-def]
    return lambda kind="yolo": load(str(model_files[kind]))
