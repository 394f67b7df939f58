"""Resize and JPEG-encode a frame: done once per frame and size, never per viewer."""

from __future__ import annotations

import cv2
import numpy as np


def fit_width(frame: np.ndarray, max_width: int | None) -> np.ndarray:
    """Downscale to `max_width` keeping the aspect ratio; smaller frames pass unchanged."""
    height, width = frame.shape[:2]
    if not max_width or width <= max_width:
        return frame
    new_height = max(1, round(height * max_width / width))
    return cv2.resize(frame, (max_width, new_height), interpolation=cv2.INTER_AREA)


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
    ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()
