"""A scripted yard for the detector: a textured background with noise, and a coloured square that walks
across it during WALK (seconds), then (optionally) parks. Seeded: nothing depends on the clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

WIDTH, HEIGHT = 640, 360
WALK = (6.0, 10.0)  # seconds: the object crosses from left to right
SIDE = 70  # px: the object's size
COLOURS = {"red": (0, 0, 230), "blue": (230, 0, 0)}  # BGR
LANE = (200, 200 + SIDE)  # rows the object walks along (the lower half of the picture)


@dataclass(frozen=True)
class Yard:
    colour: str = "red"
    fps: float = 5.0
    duration: float = 14.0
    park_at: float | None = None  # stop there (seconds) instead of leaving, and stay
    seed: int = 3

    def position(self, t: float) -> int | None:
        """The object's left edge at t, or None when it is not in the picture."""
        start, end = WALK
        if t < start or (t > end and self.park_at is None):
            return None
        moving = min(t, self.park_at if self.park_at is not None else end)
        return int(40 + (moving - start) / (end - start) * (WIDTH - SIDE - 80))

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        rng = np.random.default_rng(self.seed)
        texture = rng.integers(150, 230, (HEIGHT // 8, WIDTH // 8), dtype=np.uint8)
        grey = np.kron(texture, np.ones((8, 8), np.uint8))
        base = np.repeat(grey[:, :, None], 3, axis=2).astype(np.int16)
        for index in range(int(self.duration * self.fps)):
            t = index / self.fps
            frame = base + rng.normal(0, 3, base.shape).astype(np.int16)
            x = self.position(t)
            if x is not None:
                frame[LANE[0] : LANE[1], x : x + SIDE] = COLOURS[self.colour]
            yield t, np.clip(frame, 0, 255).astype(np.uint8)
