"""Pictures: downscale, JPEG encode and decode, each written once for every app that needs it.

Capture encodes the live JPEG and its size variants, events write snapshots and thumbnails, the web side
resizes a snapshot for `?width=` and draws the offline card: all of them call these few functions, so
quality, interpolation and error handling are the same everywhere (docs/facts.md: JPEG encoding).
Ground floor: imports nothing of ours, only OpenCV and NumPy (which release the GIL while they work).
"""

from __future__ import annotations

import cv2
import numpy as np


class NotAPicture(ValueError):
    """Bytes that do not decode as an image."""


def fit_width(image: np.ndarray, max_width: int | None) -> np.ndarray:
    """Downscale to `max_width` keeping the aspect ratio; narrower images pass unchanged (never upscaled)."""
    height, width = image.shape[:2]
    if not max_width or width <= max_width:
        return image
    return cv2.resize(image, fitted_size(width, height, max_width), interpolation=cv2.INTER_AREA)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """A BGR image as JPEG at `quality` (10-95; OpenCV's own default of 95 costs 1.3-1.5x the time, docs/facts.md)."""
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    """A JPEG (or any image OpenCV reads) as a BGR image."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise NotAPicture("not a JPEG")
    return image


def resize_jpeg(jpeg: bytes, width: int, quality: int = 80) -> bytes:
    """`jpeg` scaled down to `width` pixels wide (aspect kept), encoded at `quality`; run it in a thread."""
    return encode_jpeg(fit_width(decode_jpeg(jpeg), width), quality)


def fitted_size(width: int, height: int, max_width: int | None) -> tuple[int, int]:
    """The size `fit_width` gives an image of `width` x `height`."""
    if not max_width or width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))
