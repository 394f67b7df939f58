"""A scripted scene for the motion detector: static, noisy, with motion at known times.

The generator draws each frame from a fixed textured background plus sensor noise, a slow
lighting ramp, a sudden brightness step, objects moving during scripted intervals, and an object
moving inside a masked area the whole time. Nothing random depends on the clock: a seed fixes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

WIDTH, HEIGHT = 1280, 720
MOTION = [(10.0, 14.0), (30.0, 33.0), (52.0, 58.0), (75.0, 77.0)]  # seconds: an object crosses the yard
RAMP = (0.0, 90.0, 45.0)  # a slow lighting ramp: from, to (s), grey levels gained over it
STEP = (40.0, 35.0)  # at 40 s the picture jumps 35 grey levels brighter (IR switching)
STEP_BACK = 65.0  # and back
MASK = [(0.75, 0.0), (1.0, 0.0), (1.0, 0.35), (0.75, 0.35)]  # top right: a tree swaying all the time
DURATION = 90.0
NOISE = 6.0  # sensor noise, grey levels (standard deviation)


@dataclass(frozen=True)
class Scene:
    fps: float = 5.0
    seed: int = 7

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        rng = np.random.default_rng(self.seed)
        texture = rng.integers(40, 180, (HEIGHT // 8, WIDTH // 8), dtype=np.uint8)
        base = np.kron(texture, np.ones((8, 8), np.uint8)).astype(np.float32)
        for index in range(int(DURATION * self.fps)):
            t = index / self.fps
            frame = base.copy()
            for start, end in MOTION:  # a 120x120 object crossing left to right
                if start <= t <= end:
                    x = int(100 + (t - start) / (end - start) * 800)
                    frame[400:520, x : x + 120] = 230
            # The masked tree: a 100 px object moving back and forth all the time.
            x = int(WIDTH * 0.8 + 80 * np.sin(t * 2))
            frame[60:160, x : x + 100] = 20
            frame += RAMP[2] * min(max((t - RAMP[0]) / (RAMP[1] - RAMP[0]), 0), 1)
            if STEP[0] <= t < STEP_BACK:
                frame += STEP[1]
            frame += rng.normal(0, NOISE, frame.shape).astype(np.float32)
            grey = np.clip(frame, 0, 255).astype(np.uint8)
            yield t, np.repeat(grey[:, :, None], 3, axis=2)
