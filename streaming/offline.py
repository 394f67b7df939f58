"""The frame viewers see while a camera is offline: its name, the time, and why."""

from __future__ import annotations

from datetime import datetime

import cv2
import numpy as np

from imaging import encode_jpeg


def render_offline_jpeg(name: str, reason: str, width: int = 640, height: int = 360, title: str = "OFFLINE") -> bytes:
    """A dark frame with the camera name, its state (`title`), the reason and the time (run in a thread)."""
    width, height = max(width, 160), max(height, 90)
    image = np.full((height, width, 3), 32, np.uint8)
    scale = max(width / 900, 0.35)
    now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    lines = [
        (name, 0.25, (255, 255, 255)),
        (title, 0.45, (80, 80, 255)),
        (reason[:60], 0.65, (200, 200, 200)),
        (now, 0.85, (200, 200, 200)),
    ]
    for text, row, colour in lines:
        cv2.putText(
            image,
            text,
            (int(width * 0.05), int(height * row)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            colour,
            max(1, int(2 * scale)),
            cv2.LINE_AA,
        )
    return encode_jpeg(image, 70)
