"""`manage.py detect`: the object detector process (detection.worker), until SIGTERM/SIGINT.

One serves every camera of the install; docker compose restarts it if it dies (the capture side's
list of crops stays bounded meanwhile, framebus.crops).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from detection.model import Model, ModelError, load
from detection.worker import DetectorWorker
from events.notify import Notifier
from framebus import SyncBus
from recordings.store import get_store

log = logging.getLogger("detection")


def open_model() -> tuple[Model | None, str]:
    """The configured model, or (None, why not): "" when none is configured (detection is off)."""
    if not settings.DETECTOR_MODEL:
        log.info("detector: no model (DETECTOR_MODEL is empty): object detection is off")
        return None, ""
    try:
        model = load(
            settings.DETECTOR_MODEL,
            labels_path=settings.DETECTOR_LABELS,
            device=settings.DETECTOR_DEVICE,
            threads=settings.DETECTOR_THREADS,
        )
    except ModelError as error:
        log.error("detector: %s; object detection is off, motion events go on", error)
        return None, str(error)
    log.info(
        "detector: %s (%dx%d, %s output, %d labels) on %s (DETECTOR_DEVICE=%s)",
        model.name,
        model.width,
        model.height,
        model.kind.value,
        len(model.labels),
        model.provider,
        settings.DETECTOR_DEVICE,
    )
    return model, ""


class Command(BaseCommand):
    help = "Detect objects in the crops capture sends around motion (DETECTOR_MODEL); one serves every camera."

    def handle(self, *args: Any, **options: Any) -> None:
        bus = SyncBus(settings.REDIS_URL, namespace=settings.NVR_REDIS_NAMESPACE)
        model, problem = open_model()
        notifier = Notifier.from_settings().start()
        worker = DetectorWorker(bus, model, pictures=get_store(), notifier=notifier, problem=problem)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        try:
            worker.run(stop)
        finally:
            notifier.stop()
