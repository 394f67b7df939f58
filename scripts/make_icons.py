"""Draw the app's PNG icons (static/nvr/icons/) from the same shapes as static/nvr/icon.svg, with OpenCV.

Run once when the icon changes (`.venv/bin/python scripts/make_icons.py`); the PNGs are committed.
"maskable" icons keep the camera inside the safe zone (the middle 80 %) on a full background.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parent.parent / "static" / "nvr" / "icons"
BACKGROUND, BLUE, GREEN = (0x30, 0x24, 0x1D), (0xFF, 0xA1, 0x4E), (0x71, 0xCC, 0x2E)  # BGR of the SVG's colours


def draw(size: int, *, maskable: bool) -> np.ndarray:
    scale = 4  # drawn 4x and shrunk: smooth edges
    big = size * scale
    image = np.zeros((big, big, 4), np.uint8)
    unit = big / 32 if not maskable else big * 0.8 / 32
    offset = 0 if not maskable else big * 0.1

    def p(x: float, y: float) -> tuple[int, int]:
        return round(offset + x * unit), round(offset + y * unit)

    if maskable:
        image[:] = (*BACKGROUND, 255)
    else:
        radius = round(7 * unit)
        cv2.rectangle(image, (radius, 0), (big - radius, big), (*BACKGROUND, 255), -1)
        cv2.rectangle(image, (0, radius), (big, big - radius), (*BACKGROUND, 255), -1)
        for cx, cy in ((radius, radius), (big - radius, radius), (radius, big - radius), (big - radius, big - radius)):
            cv2.circle(image, (cx, cy), radius, (*BACKGROUND, 255), -1, cv2.LINE_AA)
    cv2.rectangle(image, p(5, 10), p(21, 22), (*BLUE, 255), -1, cv2.LINE_AA)
    cv2.fillPoly(image, [np.array([p(22, 14.5), p(27, 11), p(27, 21), p(22, 17.5)])], (*BLUE, 255), cv2.LINE_AA)
    cv2.circle(image, p(9, 14), round(1.8 * unit), (*GREEN, 255), -1, cv2.LINE_AA)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        cv2.imwrite(str(OUT / f"icon-{size}.png"), draw(size, maskable=False))
        cv2.imwrite(str(OUT / f"maskable-{size}.png"), draw(size, maskable=True))
    cv2.imwrite(str(OUT / "apple-touch-icon.png"), cv2.cvtColor(draw(180, maskable=True), cv2.COLOR_BGRA2BGR))


if __name__ == "__main__":
    main()
