"""Where the seed cameras get their frames: nvr's frame bus, read with blocking redis-py.

A stand-in for the camera device: `frames(slug)` yields (jpeg, capture time) as the
capture supervisor publishes them (15 fps). Under gevent the socket is cooperative.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import redis

from framebus.names import Names

_HEADER = struct.Struct("!4sQdHH")  # framebus.Frame: magic, seq, ts, width, height


def frames(slug: str) -> Iterator[tuple[bytes, float]]:
    client = redis.Redis.from_url(os.environ["REDIS_URL"], protocol=2)  # as nvr subscribes (framebus)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(Names(os.environ["NVR_REDIS_NAMESPACE"]).frames(slug))
    try:
        for message in pubsub.listen():
            if message["type"] == "message":
                data = message["data"]
                ts = _HEADER.unpack_from(data)[2]
                yield data[_HEADER.size :], ts
    finally:
        pubsub.close()
        client.close()


def part(jpeg: bytes, ts: float) -> bytes:
    """The seed's part, built per client: the boundary first, then headers and the JPEG."""
    return (
        (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\nX-Timestamp: %.6f\r\n\r\n" % (len(jpeg), ts))
        + jpeg
        + b"\r\n"
    )
