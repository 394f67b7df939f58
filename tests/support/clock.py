"""The clock camera (tests/support/clock_camera.py) as a server the tests and the bench start and stop."""

from __future__ import annotations

from pathlib import Path

from tests.support.servers import SYSTEM_PYTHON, RtspServer

CLOCK_SCRIPT = Path(__file__).resolve().with_name("clock_camera.py")
WIDTH, BITS, BLOCK = 640, 40, 16  # clock_camera's picture and its blocks (read back in the page)


class ClockCamera(RtspServer):
    """An RTSP camera at /clock whose pictures carry the time they were made (milliseconds, mod 2**40)."""

    def __init__(self, fps: int = 15, *, h265: bool = False) -> None:
        super().__init__(mounts=("/clock",), width=WIDTH, height=360, fps=fps)
        self.h265 = h265

    def args(self) -> list[str]:
        return [SYSTEM_PYTHON, str(CLOCK_SCRIPT), "--port", str(self.port or 0), "--fps", str(self.fps),
                *(["--h265"] if self.h265 else []), "--exit-on-stdin-eof"]  # fmt: skip


# In the page: the age of each picture the <video> presents for `ms`, read from its blocks (when it is
# shown, by requestVideoFrameCallback, as wall-clock milliseconds). Arguments: video, ms, width, block, bits.
PICTURE_AGES = """
const [video, ms, width, block, bits, done] = arguments;
const canvas = document.createElement("canvas");
canvas.width = width; canvas.height = block;
const context = canvas.getContext("2d", {willReadFrequently: true});
const ages = [];
const wrap = 2 ** bits;
const step = (now, meta) => {
  context.drawImage(video, 0, 0, width, block, 0, 0, width, block);
  const data = context.getImageData(0, 0, width, block).data;
  let made = 0;
  for (let i = 0; i < bits; i++) {
    const x = i * block + block / 2, y = block / 2;
    made = made * 2 + (data[(y * width + x) * 4] > 128 ? 1 : 0);
  }
  const shown = (performance.timeOrigin + meta.expectedDisplayTime) % wrap;
  ages.push(((shown - made) % wrap + wrap) % wrap);
  video.requestVideoFrameCallback(step);
};
video.requestVideoFrameCallback(step);
setTimeout(() => done(ages), ms);
"""


def picture_ages(driver, video, ms: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Milliseconds from each picture's making to its showing in `video`, over `ms`."""
    return driver.execute_async_script(PICTURE_AGES, video, ms, WIDTH, BLOCK, BITS)
