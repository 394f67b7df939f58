"""Read what capture publishes, as a viewer would: frames from Redis pub/sub, decoded."""

from __future__ import annotations

import time

import cv2
import numpy as np
import redis
from django.conf import settings

from framebus import Frame, Names, SyncBus
from framebus.status import CameraStatus

FIRST_FRAME_WAIT = 3.0  # seconds: capture reads what viewers want twice a second, then makes the next frame


def names() -> Names:
    """The Redis names of this test run: the test settings' namespace, shared by the servers the tests start."""
    return Names(settings.NVR_REDIS_NAMESPACE)


def sync_bus(url: str) -> SyncBus:
    """The capture side's bus client for this run's namespace."""
    return SyncBus(url, namespace=settings.NVR_REDIS_NAMESPACE)


def want_frames(url: str, slug: str, width: int = 0) -> None:
    """Say that a viewer watches the camera (capture makes live frames only then), for the next few seconds."""
    bus = sync_bus(url)
    try:
        bus.want_width(slug, width)
    finally:
        bus.close()


def collect_frames(url: str, slug: str, seconds: float, width: int = 0) -> list[tuple[float, Frame]]:
    """(receive time, frame) pairs from the camera's channel for `seconds` from its first frame, watching it as a
    viewer would (capture starts making live frames within a moment of being asked: FIRST_FRAME_WAIT at most)."""
    client = redis.Redis.from_url(url)
    bus = sync_bus(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(names().frames(slug, width))
    frames: list[tuple[float, Frame]] = []
    deadline = time.monotonic() + seconds + FIRST_FRAME_WAIT
    renew = 0.0
    try:
        while time.monotonic() < deadline:
            if time.monotonic() >= renew:
                bus.want_width(slug, width)
                renew = time.monotonic() + 2.0
            message = pubsub.get_message(timeout=min(0.2, max(deadline - time.monotonic(), 0.01)))
            if message and message["type"] == "message":
                if not frames:
                    deadline = time.monotonic() + seconds
                frames.append((time.time(), Frame.unpack(message["data"])))
    finally:
        pubsub.close()
        client.close()
        bus.close()
    return frames


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def wait_for_status(url: str, slug: str, predicate, timeout: float) -> dict:
    """Poll the camera's status until predicate(status) holds; return it (or fail with the last one).

    The status is CameraStatus's fields as capture writes them (`to_fields`), decoded by its one decoder.
    """
    bus = sync_bus(url)
    deadline = time.monotonic() + timeout
    status: dict = {}
    try:
        while time.monotonic() < deadline:
            raw = bus.statuses([slug])[slug]
            status = CameraStatus.from_fields(raw).to_fields() if raw else {}
            if status and predicate(status):
                return status
            time.sleep(0.1)
    finally:
        bus.close()
    raise AssertionError(f"status of {slug} did not match within {timeout}s; last: {status}")
