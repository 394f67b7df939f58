"""The seed design as first published: a Flask generator per client, threaded dev server.

    python -m bench.seed.original --port 8200   (REDIS_URL in the environment)

The article's camera is read by each client's generator (`camera.get_frame()` blocks
until the camera's next frame). One physical camera cannot be opened by every client,
so here the device is one feed thread per camera and `get_frame()` waits for its
next frame on a condition: the per-client read of the article, without a second
decoder. Flask's server runs a thread per client.
"""

from __future__ import annotations

import argparse
import threading
from typing import ClassVar

from flask import Flask, Response

from bench.seed.feed import frames, part

app = Flask(__name__)


class Camera:
    """One camera device: a feed thread keeps the newest frame; get_frame() waits for the next."""

    devices: ClassVar[dict[str, Camera]] = {}
    lock = threading.Lock()

    def __init__(self, slug: str) -> None:
        self.slug = slug
        self.frame: tuple[bytes, float] | None = None
        self.ready = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    def open(cls, slug: str) -> Camera:
        with cls.lock:
            if slug not in cls.devices:
                cls.devices[slug] = cls(slug)
            return cls.devices[slug]

    def _read(self) -> None:
        for frame in frames(self.slug):
            with self.ready:
                self.frame = frame
                self.ready.notify_all()

    def get_frame(self) -> tuple[bytes, float]:
        with self.ready:
            self.ready.wait(timeout=5)
            return self.frame


def gen(camera: Camera):
    while True:
        frame = camera.get_frame()
        if frame is not None:
            yield part(*frame)


@app.route("/cameras/<slug>/stream.mjpg")
def video_feed(slug: str):
    return Response(gen(Camera.open(slug)), mimetype="multipart/x-mixed-replace; boundary=frame")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per viewer
    app.run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
