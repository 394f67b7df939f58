"""Resize one JPEG (snapshots with `width`): decode, scale, encode; run in a thread."""

from __future__ import annotations

import cv2
import numpy as np


def resize_jpeg(jpeg: bytes, width: int, quality: int = 80) -> bytes:
    """`jpeg` scaled to `width` pixels wide (aspect kept), encoded at `quality`."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a JPEG")
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    _ok, buffer = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buffer.tobytes()
