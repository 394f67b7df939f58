"""Read what capture publishes, as a viewer would: frames from Redis pub/sub, decoded."""

from __future__ import annotations

import time

import cv2
import numpy as np
import redis

from framebus import Frame, SyncBus, frame_channel


def collect_frames(url: str, slug: str, seconds: float, width: int = 0) -> list[tuple[float, Frame]]:
    """(receive time, frame) pairs from the camera's channel for `seconds`."""
    client = redis.Redis.from_url(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(frame_channel(slug, width))
    frames = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=min(0.2, max(deadline - time.monotonic(), 0.01)))
            if message and message["type"] == "message":
                frames.append((time.time(), Frame.unpack(message["data"])))
    finally:
        pubsub.close()
        client.close()
    return frames


def decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def wait_for_status(url: str, slug: str, predicate, timeout: float) -> dict:
    """Poll the camera's status until predicate(status) holds; return it (or fail with the last one)."""
    bus = SyncBus(url)
    deadline = time.monotonic() + timeout
    status: dict = {}
    try:
        while time.monotonic() < deadline:
            status = bus.statuses([slug])[slug]
            if status and predicate(status):
                return status
            time.sleep(0.1)
    finally:
        bus.close()
    raise AssertionError(f"status of {slug} did not match within {timeout}s; last: {status}")
